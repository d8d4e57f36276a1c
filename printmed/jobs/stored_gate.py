"""The dose gate over what the store holds: a batch's stored G-code text against its stored
targets (design, dose), lot and printer profile, computed here and never taken from a caller.

`verified` is recorded from this gate's figures (`gate_text`: a `GatedProgram`, which the record
takes only if this module made it, for the very bytes stored: `store_program` reads them back by
their SHA-256), and the worker runs the gate again on the stored text it is about to stream; any
disagreement is a typed refusal naming what differed.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dosing.errors import Marker
from dosing.formulation import Formulation, parse_formulation
from gcode.profile import MachineProfile
from printmed import audit, catalog
from printmed.errors import InputError
from printmed.manufacture.gate import RELEASE_TOLERANCE, GateTarget, check_dose, tablet_name
from printmed.manufacture.plate import mm3_per_e_for, temperatures_for
from printmed.store.engine import keep_for_transaction, kept_for_transaction
from printmed.store.models import StoredGcode

# Figures that went through JSON are exact; anything looser than this is another value.
SAME_FIGURE = 1e-9


class StoredProgramDiffers(InputError):
    """A batch's stored program, targets, lot, profile or gate figures do not agree."""


def warm_up_reader() -> None:
    """Load the independent reader's compiled code (Numba, from its on-disk cache): the first
    reading in a process costs most of a second, which belongs before a claim, not after it."""
    from gcode.analyze import analyze

    analyze("G1 X1 E1\n", 1.0)


def stored_program(session: Session, gcode_sha256: str) -> str:
    """The stored G-code text whose SHA-256 is `gcode_sha256`, checked against it."""
    stored = session.get(StoredGcode, gcode_sha256)
    if stored is None:
        raise StoredProgramDiffers("gcode_sha256", gcode_sha256, "names no stored G-code")
    actual = audit.sha256_text(stored.text)
    if actual != gcode_sha256:
        raise StoredProgramDiffers(
            "gcode_sha256", gcode_sha256, f"is not the hash of the stored G-code ({actual})"
        )
    return stored.text


@dataclass(frozen=True, eq=False)
class GatedProgram:
    """A G-code text with the gate's figures for it (`figures`, as `gate_program` returns them)
    and what it was gated against: the lot (`formulation_json`, canonical), the profile id and
    pinned profile version (`profile_pin`, None for a batch that pins none), the targets and the
    process parameters. Made only by `gate_text`; `made_here` tells one from an imitation."""

    text: str
    sha256: str
    formulation_json: str
    profile_id: str
    profile_pin: Mapping[str, Any] | None
    dose: Mapping[str, Any]
    design: Mapping[str, Any]
    parameters: Mapping[str, Any]
    figures: Mapping[str, Any]


_MADE_HERE: weakref.WeakSet[GatedProgram] = weakref.WeakSet()
KEPT_PROGRAMS = "printmed.kept_programs"  # the SHA-256s kept in this transaction


def gate_text(
    text: str,
    *,
    formulation: Mapping[str, Any],
    profile_id: str,
    profile: MachineProfile | None,
    profile_pin: Mapping[str, Any] | None,
    dose: Mapping[str, Any],
    design: Mapping[str, Any],
    parameters: Mapping[str, Any],
) -> GatedProgram:
    """`text` through the gate (`gate_program`, with the same arguments), before it is stored:
    the slow reading done outside the record's transaction. `profile` must be the version
    `profile_pin` names (`jobs.making` takes both from one master-file snapshot); the record checks
    the pin against the batch's, and the stored bytes against `sha256` (`store_program`)."""
    figures = gate_program(
        text,
        formulation=formulation,
        profile_id=profile_id,
        profile=profile,
        dose=dose,
        design=design,
        parameters=parameters,
    )
    program = GatedProgram(
        text=text,
        sha256=audit.sha256_text(text),
        formulation_json=audit.canonical_json(formulation),
        profile_id=profile_id,
        profile_pin=profile_pin,
        dose=dose,
        design=design,
        parameters=parameters,
        figures=figures,
    )
    _MADE_HERE.add(program)
    return program


def made_here(program: GatedProgram) -> bool:
    """Whether `gate_text` made `program` (in this process): figures a caller put together
    itself, even with the same fields, are not."""
    return program in _MADE_HERE


def store_program(session: Session, program: GatedProgram) -> None:
    """Keep the program's text (once per SHA-256: a text already kept, or being kept by another
    transaction, is left as it is) and read it back: the stored bytes must be the ones gated.
    Once a transaction: kept and read back already in it, it is not kept again."""
    kept: set[str] = kept_for_transaction(session, KEPT_PROGRAMS) or set()
    if program.sha256 in kept:
        return
    values = {
        "sha256": program.sha256,
        "text": program.text,
        "lines": len(program.text.splitlines()),
    }
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql_insert(StoredGcode).values(values)
    else:
        statement = sqlite_insert(StoredGcode).values(values)
    session.execute(statement.on_conflict_do_nothing(index_elements=["sha256"]))
    if stored_program(session, program.sha256) != program.text:
        raise StoredProgramDiffers(
            "gcode_sha256", program.sha256, "is kept with another text than the one gated"
        )
    keep_for_transaction(session, KEPT_PROGRAMS, kept | {program.sha256})


def gate_program(
    text: str,
    *,
    formulation: Mapping[str, Any],
    profile_id: str,
    dose: Mapping[str, Any],
    design: Mapping[str, Any],
    parameters: Mapping[str, Any],
    profile: MachineProfile | None = None,
) -> dict[str, Any]:
    """The gate's figures for `text` as the batch record keeps them.

    Every unit of `design` must hold `design["dose_mg"]` to ±1 % on read-back (`check_dose`,
    the independent reader), with the lot's drug content and mm³ per unit of E on printer
    profile `profile_id` as it is on file; the design, dose and recorded process parameters must
    be those of that lot and profile. A schedule (`steps` in both) holds each unit to its own
    step's dose, the steps' units one after another on the plate. Raises DoseGateFailed or
    StoredProgramDiffers.

    profile: the batch's pinned profile version (default: profile `profile_id` as the master
    file in force has it, for a batch that pins none).
    """
    steps = _stored_steps(dose, design)
    for n, (step_dose, step_design) in enumerate(steps):
        where = f".steps[{n}]" if "steps" in design else ""
        _check_fields(f"dose{where}", step_dose, numbers=("dose_mg", "doses"))
        _check_fields(
            f"design{where}",
            step_design,
            numbers=(
                "units_per_dose",
                "units_total",
                "dose_per_administration_mg",
                "dose_mg",
                "drug_mg_per_mm3",
                "volume_mm3",
                "layer_height_mm",
            ),
            texts=("shape", "lot", "formulation_id"),
        )
    _check_fields(
        "parameters",
        parameters,
        numbers=(
            "nozzle_temp_c",
            "bed_temp_c",
            "mm3_per_e",
            "drug_mg_per_mm3",
            "estimated_print_time_s",
        ),
        texts=("lot",),
    )
    lot = parse_formulation(dict(formulation), source="batch formulation")
    if profile is None:
        profile = catalog.printer_profile(profile_id)
    elif profile.id != profile_id:
        raise StoredProgramDiffers("profile_id", profile_id, f"is not the pinned {profile.id}")
    mm3_per_e = mm3_per_e_for(lot, profile)
    targets = []
    for step_dose, step_design in steps:
        _check_written_for(lot, profile, mm3_per_e, step_dose, step_design, parameters)
        step = step_design.get("step") if "steps" in design else None
        name = tablet_name(step_design["shape"], float(step_design["dose_mg"]), step)
        target_mg, volume = float(step_design["dose_mg"]), float(step_design["volume_mm3"])
        targets += [GateTarget(name, target_mg, volume)] * int(step_design["units_total"])
    if "steps" in design:
        _same("design.units_total", len(targets), design.get("units_total"), "steps' units in all")
        _same("dose.doses", sum(int(d["doses"]) for d, _ in steps), dose.get("doses"), "steps'")
    checks, reading = check_dose(text, targets, profile, mm3_per_e, lot.drug_mg_per_mm3)
    _same("gcode.nozzle_temp_c", parameters["nozzle_temp_c"], reading.max_nozzle_temp_c, "recorded")
    _same(
        "gcode.print_time_s", parameters["estimated_print_time_s"], reading.print_time_s, "recorded"
    )
    return {
        "tablets": [check.to_dict() for check in checks],
        "tolerance_percent": RELEASE_TOLERANCE * 100,
        # the prime line's material (no tablet's), and the most the profile lets it hold
        "prime_volume_mm3": reading.prime_volume_mm3,
        "prime_max_volume_mm3": profile.max_prime_volume_mm3,
    }


def _stored_steps(
    dose: Mapping[str, Any], design: Mapping[str, Any]
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(dose, design) of each step as stored: one pair for a single dose, a schedule's steps
    (1, 2, … in order, as many doses as designs) otherwise."""
    if "steps" not in design and "steps" not in dose:
        return [(dose, design)]
    doses, designs = dose.get("steps"), design.get("steps")
    if not isinstance(doses, list) or not isinstance(designs, list) or not designs:
        raise StoredProgramDiffers("design.steps", Marker("(as stored)"), "is not a list of steps")
    if len(doses) != len(designs):
        raise StoredProgramDiffers(
            "design.steps", len(designs), f"steps are designed for {len(doses)} dosed"
        )
    for n, (step_dose, step_design) in enumerate(zip(doses, designs, strict=True)):
        if not isinstance(step_dose, dict) or not isinstance(step_design, dict):
            raise StoredProgramDiffers(f"design.steps[{n}]", Marker("(as stored)"), "is no step")
        for name, value in (("dose", step_dose), ("design", step_design)):
            if value.get("step") != n + 1:
                raise StoredProgramDiffers(
                    f"{name}.steps[{n}].step", value.get("step"), f"is not step {n + 1}"
                )
    return list(zip(doses, designs, strict=True))


def check_same_gate(recorded: Mapping[str, Any] | None, computed: Mapping[str, Any]) -> None:
    """Refuse unless `computed` gate figures are the `recorded` ones, naming the first that
    differs (a tablet's field, the count, the tolerance or the prime's volume; a record from
    before the prime line holds none)."""
    recorded = recorded or {}
    before, now = recorded.get("tablets") or [], computed["tablets"]
    if len(before) != len(now):
        raise StoredProgramDiffers(
            "gate.tablets", len(now), f"tablets read back where {len(before)} were verified"
        )
    for was, tablet in zip(before, now, strict=True):
        for key, value in tablet.items():
            _same(f"gate.tablet[{tablet['index']}].{key}", was.get(key), value, "verified")
    _same(
        "gate.tolerance_percent",
        recorded.get("tolerance_percent"),
        computed["tolerance_percent"],
        "verified",
    )
    _same(
        "gate.prime_volume_mm3",
        recorded.get("prime_volume_mm3", 0.0),
        computed.get("prime_volume_mm3", 0.0),
        "verified",
    )


def _check_written_for(
    lot: Formulation,
    profile: MachineProfile,
    mm3_per_e: float,
    dose: Mapping[str, Any],
    design: Mapping[str, Any],
    parameters: Mapping[str, Any],
) -> None:
    """The targets and parameters are those of this lot and this profile, and agree."""
    if parameters.get("printer_profile") != profile.model_dump(mode="json"):
        raise StoredProgramDiffers(
            "parameters.printer_profile",
            (parameters.get("printer_profile") or {}).get("id"),
            f"is not printer profile {profile.id} as it is on file",
        )
    for field, value in (
        ("parameters.lot", parameters.get("lot")),
        ("design.lot", design.get("lot")),
    ):
        if value != lot.lot:
            raise StoredProgramDiffers(field, value, f"is not the batch's lot {lot.lot}")
    if design.get("formulation_id") != lot.id:
        raise StoredProgramDiffers(
            "design.formulation_id", design.get("formulation_id"), f"is not {lot.id}"
        )
    nozzle_c, bed_c = temperatures_for(lot)
    of_lot, of_profile = f"lot {lot.lot}'s", f"{profile.id} with lot {lot.lot}"
    _same("parameters.nozzle_temp_c", nozzle_c, parameters.get("nozzle_temp_c"), of_lot)
    _same("parameters.bed_temp_c", bed_c, parameters.get("bed_temp_c"), of_lot)
    _same("parameters.mm3_per_e", mm3_per_e, parameters.get("mm3_per_e"), of_profile)
    drug = lot.drug_mg_per_mm3
    _same("parameters.drug_mg_per_mm3", drug, parameters.get("drug_mg_per_mm3"), of_lot)
    _same("design.drug_mg_per_mm3", drug, design.get("drug_mg_per_mm3"), of_lot)
    _same(
        "design.layer_height_mm",
        profile.layer_height_mm,
        design.get("layer_height_mm"),
        f"{profile.id}'s",
    )
    _same(
        "design.dose_per_administration_mg",
        dose.get("dose_mg"),
        design.get("dose_per_administration_mg"),
        "the dose's",
    )
    per_unit = float(design["dose_per_administration_mg"]) / int(design["units_per_dose"])
    _same("design.dose_mg", per_unit, design.get("dose_mg"), "the dose per unit")
    units = int(dose["doses"]) * int(design["units_per_dose"])
    if design.get("units_total") != units:
        raise StoredProgramDiffers(
            "design.units_total",
            design.get("units_total"),
            f"is not {dose['doses']} doses × {design['units_per_dose']} units",
        )
    held_mg = float(design["volume_mm3"]) * lot.drug_mg_per_mm3
    if abs(held_mg / float(design["dose_mg"]) - 1.0) > RELEASE_TOLERANCE:
        raise StoredProgramDiffers(
            "design.volume_mm3",
            design["volume_mm3"],
            f"holds {held_mg:.4f} mg of lot {lot.lot}, not {design['dose_mg']} mg",
        )


def _check_fields(
    name: str,
    values: Mapping[str, Any],
    *,
    numbers: tuple[str, ...] = (),
    texts: tuple[str, ...] = (),
) -> None:
    """Refuse a recorded mapping missing a figure the gate needs, or holding one of another
    kind (a number where a number belongs, text where text does)."""
    for key, kind, wanted in [(k, (int, float), "a number") for k in numbers] + [
        (k, str, "text") for k in texts
    ]:
        value = values.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise StoredProgramDiffers(f"{name}.{key}", value, f"is not {wanted}")


def _same(field: str, expected: Any, actual: Any, whose: str) -> None:
    """Refuse unless `actual` is `expected` (numbers to SAME_FIGURE, relative); `whose` says
    where the expected value comes from ("recorded", "lot X's")."""
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers):
        if not isinstance(expected, bool) and math.isclose(
            expected, actual, rel_tol=SAME_FIGURE, abs_tol=SAME_FIGURE
        ):
            return
    elif expected == actual:
        return
    raise StoredProgramDiffers(field, actual, f"is not the {whose} {expected!r}")
