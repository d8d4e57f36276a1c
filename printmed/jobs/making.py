"""A gated batch into the record: the draft and its verification in one transaction.

`manufacture` (dose, design, slice, write, gate) runs before anything is written, so a
prescription that fails the dose gate, or any check before it, leaves no batch behind. A batch
is recorded only from an approved master-file snapshot of this store, whose versions it pins,
from clinical data questioned here (`printmed.intake.clinical.question`), and for a printer the
register knows (`batch_printer`): `record_gated_batch` is the one way every entry point records.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from dosing.formulation import Formulation
from dosing.prescription import Prescription
from printmed import catalog
from printmed.auth.principal import CLIENT_PREFIX
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.intake.clinical import question
from printmed.jobs import calibration, register
from printmed.jobs.service import create_batch, record_verification
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
) -> Batch:
    """Record a batch that passed the gate as a draft and its verification, in the caller's
    transaction; the verification gates the stored G-code again itself (the figures `gated`
    carries are not taken).

    The prescription's clinical data is questioned here, whichever way it came in
    (`intake.clinical.question`, with `windows`, default the environment's settings): a
    withdrawn, another patient's or stale body measurement is refused, and so is one a
    prescribing system sent as a bare number. `printer` is checked against the register
    (`batch_printer`). Refusals write nothing.

    `gated` must have been made from an approved master-file snapshot whose lot, product and
    profile versions are still the ones in force in this store: they are pinned with the batch
    (`master_pins_json`). A batch made from the fixtures folder, or from versions since
    superseded, is refused (MasterFileRefused, MasterVersionSuperseded) and nothing written."""
    question(
        gated.prescription,
        windows=windows or observation_windows(),
        as_recorded=from_prescribing_system(actor),
    )
    printer = batch_printer(session, actor, printer, gated.profile.id)
    master = gated.plan.master
    if master is None:
        raise catalog.MasterFileRefused(
            "master", "(given by the caller)", "is not the approved master file: not recorded"
        )
    pins = master.pins_for(gated.formulation.id, gated.profile.id)
    catalog.check_pins_in_force(session, pins, "the new batch")
    batch = create_batch(
        session,
        actor,
        prescription=gated.prescription.model_dump(mode="json"),
        formulation=gated.formulation.model_dump(mode="json"),
        printer=printer,
        profile_id=gated.profile.id,
        batch_prefix=batch_prefix,
        master_pins=pins,
    )
    record_verification(
        session,
        batch,
        actor,
        dose=gated.plan.dose_record(),
        design=gated.plan.design_record(),
        gcode_text=gated.gcode,
        parameters=gated.process_parameters(),
    )
    return batch


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
