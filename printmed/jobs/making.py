"""A gated batch into the record: the draft and its verification in one transaction.

`manufacture` (dose, design, slice, write, gate) runs before anything is written, so a
prescription that fails the dose gate, or any check before it, leaves no batch behind. A batch
is recorded only from an approved master-file snapshot of this store, whose versions it pins,
from clinical data questioned here (`printmed.intake.clinical.question`), and for a printer the
register knows (`batch_printer`): `record_gated_batch` is the one way every entry point records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from dosing.formulation import Formulation
from dosing.prescription import Prescription
from printmed import audit, catalog
from printmed.auth.principal import CLIENT_PREFIX
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.intake.clinical import question
from printmed.jobs import calibration, register
from printmed.jobs.service import create_batch, record_gated_program
from printmed.jobs.stored_gate import (
    GatedProgram,
    gate_text,
    store_program,
)
from printmed.manufacture import GatedBatch, manufacture
from printmed.settings import ObservationWindows, observation_windows
from printmed.store.models import Batch, RegisteredPrinter, User


def enter_prescription(
    session: Session,
    actor: User,
    rx: Prescription,
    *,
    printer: str,
    profile_id: str,
    batch_prefix: str = "PM",
    on: dt.date | None = None,
    windows: ObservationWindows | None = None,
) -> Batch:
    """A verified batch for `rx` queued for `printer` (a registered printer of profile
    `profile_id`, or the profile id itself: any of its printers), made by `actor` from the
    store's approved master file (one snapshot, pinned by the batch).

    windows: how recent a body measurement must be (default: the PRINTMED_OBSERVATION_MAX_AGE_*
    settings of the environment)."""
    require(actor, Action.ENTER_PRESCRIPTION)
    # the checks `record_gated_batch` makes, before seconds of slicing rather than after
    question(rx, windows=windows, as_recorded=from_prescribing_system(actor))
    batch_printer(session, actor, printer, profile_id)
    master = catalog.master_from_store(session)
    factor = calibration.factor_for(session, rx.formulation, printer, profile_id)
    gated = manufacture(rx, profile_id, on=on, calibration_factor=factor, master=master)
    return record_gated_batch(
        session, actor, gated, printer=printer, batch_prefix=batch_prefix, windows=windows
    )


def record_gated_batch(
    session: Session,
    actor: User,
    gated: GatedBatch,
    *,
    printer: str,
    batch_prefix: str = "PM",
    windows: ObservationWindows | None = None,
    program: GatedProgram | None = None,
) -> Batch:
    """Record a batch that passed the gate as a draft and its verification, in the caller's
    transaction; the verification's figures are the stored gate's own reading of the program
    (`gated_program`, or `program` if the caller had it made already), not the figures `gated`
    carries.

    The prescription's clinical data is questioned here, whichever way it came in
    (`intake.clinical.question`, with `windows`, default the environment's settings): a
    withdrawn, another patient's or stale body measurement is refused, and so is one a
    prescribing system sent as a bare number. `printer` is checked against the register
    (`batch_printer`). Refusals write nothing.

    `gated` must have been made from an approved master-file snapshot whose lot, product and
    profile versions are still the ones in force in this store: they are pinned with the batch
    (`master_pins_json`). A batch made from the fixtures folder, or from versions since
    superseded, is refused (MasterFileRefused, MasterVersionSuperseded) and nothing written.

    In two halves, `prepare_record` (questions, printer, program kept) and `record_prepared`
    (the chain's lock, then what needs it); a caller with checks of its own under that lock (the
    API's duplicate check) calls them itself."""
    prepared = prepare_record(
        session, actor, gated, printer=printer, windows=windows, program=program
    )
    return record_prepared(session, actor, prepared, batch_prefix=batch_prefix)


@dataclass(frozen=True)
class PreparedRecord:
    """What `prepare_record` checked and kept, for `record_prepared`."""

    gated: GatedBatch
    printer: str
    pins: dict[str, dict[str, Any]]
    program: GatedProgram


def prepare_record(
    session: Session,
    actor: User,
    gated: GatedBatch,
    *,
    printer: str,
    windows: ObservationWindows | None = None,
    program: GatedProgram | None = None,
) -> PreparedRecord:
    """The first half of `record_gated_batch`, before the chain's lock: the clinical data
    questioned, the printer checked, the pins taken from the approved snapshot `gated` was made
    from, and the program gated (unless `program` is given) and kept. Nothing here needs the
    lock, so the slow part of recording holds up no other writer."""
    question(
        gated.prescription,
        windows=windows or observation_windows(),
        as_recorded=from_prescribing_system(actor),
    )
    printer = batch_printer(session, actor, printer, gated.profile.id)
    _, pins = _snapshot_of(gated)
    program = program or gated_program(gated)  # for these pins: `record_gated_program` checks
    store_program(session, program)
    return PreparedRecord(gated=gated, printer=printer, pins=pins, program=program)


def record_prepared(
    session: Session, actor: User, prepared: PreparedRecord, *, batch_prefix: str = "PM"
) -> Batch:
    """The second half of `record_gated_batch`, under the chain's lock: the pins still in force,
    the draft, and its verification from the program's gate figures."""
    audit.lock_chain(session)  # before the pins are checked: no approval can come in between
    catalog.check_pins_in_force(session, prepared.pins, "the new batch")
    gated = prepared.gated
    batch = create_batch(
        session,
        actor,
        prescription=gated.prescription.model_dump(mode="json"),
        formulation=gated.formulation.model_dump(mode="json"),
        printer=prepared.printer,
        profile_id=gated.profile.id,
        batch_prefix=batch_prefix,
        master_pins=prepared.pins,
    )
    record_gated_program(session, batch, actor, prepared.program)
    return batch


def gated_program(gated: GatedBatch) -> GatedProgram:
    """The stored gate's reading of `gated`'s program (`stored_gate.gate_text`) against its lot,
    its targets and the profile version of the snapshot it was made from, which the batch will
    pin: no store needed, so it can be done before any transaction."""
    master, pins = _snapshot_of(gated)
    return gate_text(
        gated.gcode,
        formulation=gated.formulation.model_dump(mode="json"),
        profile_id=gated.profile.id,
        profile=master.printer_profile(gated.profile.id),
        profile_pin=pins["profile"],
        dose=gated.plan.dose_record(),
        design=gated.plan.design_record(),
        parameters=gated.process_parameters(),
    )


def _snapshot_of(gated: GatedBatch) -> tuple[catalog.MasterFile, dict[str, dict[str, Any]]]:
    """The approved snapshot `gated` was made from and the versions a batch of it pins."""
    master = gated.plan.master
    if master is None:
        raise catalog.MasterFileRefused(
            "master", "(given by the caller)", "is not the approved master file: not recorded"
        )
    return master, master.pins_for(gated.formulation.id, gated.profile.id)


def from_prescribing_system(actor: User) -> bool:
    """Whether `actor` is a prescribing system's stand-in (`auth.principal`: "client:<id>";
    staff usernames hold no ':')."""
    return actor.username.startswith(CLIENT_PREFIX)


def batch_printer(session: Session, actor: User, printer: str, profile_id: str) -> str:
    """The printer a new batch of profile `profile_id` is queued for: `printer`, once checked.

    The profile id itself queues it for any in-service printer of that profile at the batch's
    site. Any other name queues it for that one printer (`jobs.service.claim_next`), which must
    be in the register, of the site the batch is made at (the enterer's) and of `profile_id`.
    While the register holds no printer (a store from before it) a worker takes the batches
    queued under its own name, so a name is taken as given, unless it is another profile's id.
    Refused (InputError naming "printer") otherwise."""
    name = printer.strip()
    if name == profile_id:
        return name
    registered = register.find(session, name)
    if registered is None:
        if name in catalog.master_of(session).printer_profiles():
            raise InputError(
                "printer", name, f"is another printer profile: this batch is made for {profile_id}"
            )
        if register.in_force(session):
            raise InputError(
                "printer",
                name,
                f"is neither a printer in the register nor the profile {profile_id}",
            )
        return name
    check_site(registered, actor)
    if registered.profile_id != profile_id:
        raise InputError(
            "printer",
            name,
            f"is a printer of profile {registered.profile_id}: this batch is made for {profile_id}",
        )
    return registered.name


def check_site(printer: RegisteredPrinter, actor: User) -> None:
    """A registered printer makes only its own site's batches, made at the enterer's site."""
    if printer.site_id != (actor.site_id or 1):
        raise InputError("printer", printer.name, "is a printer of another site")


def queue_target(
    session: Session, actor: User, printer: str | None, lot: Formulation | None = None
) -> tuple[str | None, str | None]:
    """What an order's `printer` names: (the profile id to make it for, the registered printer
    it is queued for alone, or None). A registered printer of `actor`'s site gives its profile
    and name (refused, naming it, when that profile prints another process than `lot`'s); a
    profile id itself (None: the lot's first profile) gives no printer; anything else is
    refused naming "printer"."""
    if printer is None:
        return None, None
    registered = register.find(session, printer)
    if registered is None:
        profiles = catalog.master_of(session).printer_profiles()
        if printer not in profiles:
            raise InputError(
                "printer",
                printer,
                "is neither a printer profile on file "
                f"({', '.join(sorted(profiles))}) nor a printer in the register",
            )
        return printer, None
    check_site(registered, actor)
    if lot is not None:
        profile = catalog.master_of(session).printer_profile(registered.profile_id)
        if profile.process != lot.process:
            raise InputError(
                "printer",
                registered.name,
                f"is a printer of profile {profile.id}, which prints {profile.process}, but lot "
                f"{lot.id} is {lot.process}",
            )
    return registered.profile_id, registered.name
