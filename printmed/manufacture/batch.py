"""From a prescription to a gated batch, one path: lot, printer profile, dose, design, plate.

`plan_tablet` stops after the design (the live check, `/check`, previews, `printmed design`);
`make_batch` and `manufacture` go on to slice, write and gate. Nothing here touches the store:
the job service records a `GatedBatch`, which exists only for G-code that passed the gate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from dosing.calculate import Dose, StepDose, calculate, calculate_schedule
from dosing.design import TabletDesign, design_tablet
from dosing.errors import DosingError
from dosing.formulation import Formulation
from dosing.prescription import Prescription, parse_prescription
from gcode.errors import PartTooLarge
from gcode.plate import arrange
from gcode.profile import MachineProfile
from gcode.write import Sequence
from printmed import catalog
from printmed.catalog import MasterFile
from printmed.errors import InputError
from printmed.manufacture.gate import RELEASE_TOLERANCE, TabletCheck
from printmed.manufacture.plate import (
    ManufactureProgress,
    Plate,
    PlateItem,
    check_process,
    make_plate,
    temperatures_for,
)


@dataclass(frozen=True)
class StepPlan:
    """One step of a schedule: its dose (days, own trail) and the tablet designed for it."""

    dose: StepDose
    design: TabletDesign


@dataclass(frozen=True)
class TabletPlan:
    """A prescription with its lot, dose, printer profile and tablet design; nothing sliced.

    steps: a schedule's steps, each dosed and designed (empty for one dose); `dose` and
    `design` are then its first step's.
    master: the master-file snapshot the lot and profile came from (None: given by the caller,
    as `printmed make` and tests do); a batch is recorded only from an approved one, whose
    versions it pins (`master.pins_for`).
    """

    prescription: Prescription
    formulation: Formulation
    dose: Dose
    profile: MachineProfile
    design: TabletDesign
    steps: tuple[StepPlan, ...] = ()
    master: MasterFile | None = None

    def dose_record(self) -> dict[str, Any]:
        """The dose as the batch record keeps it; a schedule's carries every step (`steps`)
        and its supply in all (`doses`) beside the first step's figures."""
        if not self.steps:
            return self.dose.to_dict()
        return self.dose.to_dict() | {
            "doses": sum(s.dose.dose.doses for s in self.steps),
            "steps": [s.dose.to_dict() for s in self.steps],
        }

    def design_record(self) -> dict[str, Any]:
        """The design as the batch record keeps it: a schedule's carries each step's tablet
        (`steps`, in plate order) and the units in all (`units_total`)."""
        if not self.steps:
            return self.design.to_dict()
        return self.design.to_dict() | {
            "units_total": sum(s.design.units_total for s in self.steps),
            "steps": [s.design.to_dict() | {"step": s.dose.step} for s in self.steps],
        }

    def plate_items(self) -> list[PlateItem]:
        """Every unit of the supply in plate order (a schedule step by step), with its target."""
        if not self.steps:
            return [PlateItem(self.design, self.design.dose_mg)] * self.design.units_total
        return [
            PlateItem(s.design, s.design.dose_mg, s.dose.step)
            for s in self.steps
            for _ in range(s.design.units_total)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prescription": self.prescription.model_dump(mode="json"),
            "formulation": self.formulation.model_dump(mode="json"),
            "printer": self.profile.id,
            "dose": self.dose_record(),
            "design": self.design_record(),
        }


@dataclass(frozen=True)
class GatedBatch:
    """A planned tablet on a plate whose G-code the independent reader held to ±1 % per tablet.

    Immutable; the job service records it as it is (G-code, hash, gate figures, parameters).
    """

    plan: TabletPlan
    plate: Plate

    @property
    def prescription(self) -> Prescription:
        return self.plan.prescription

    @property
    def formulation(self) -> Formulation:
        return self.plan.formulation

    @property
    def profile(self) -> MachineProfile:
        return self.plan.profile

    @property
    def dose(self) -> Dose:
        return self.plan.dose

    @property
    def design(self) -> TabletDesign:
        return self.plan.design

    @property
    def gcode(self) -> str:
        return self.plate.gcode

    @property
    def sha256(self) -> str:
        return self.plate.sha256

    @property
    def tablets(self) -> list[TabletCheck]:
        return self.plate.tablets

    def gate_record(self) -> dict[str, Any]:
        """The gate's figures as the batch record keeps them."""
        return {
            "tablets": [t.to_dict() for t in self.plate.tablets],
            "tolerance_percent": RELEASE_TOLERANCE * 100,
            "prime_volume_mm3": self.plate.prime_volume_mm3,
            "prime_max_volume_mm3": self.profile.max_prime_volume_mm3,
        }

    def process_parameters(self) -> dict[str, Any]:
        """Everything the printer is told or the G-code was written with, for the record."""
        nozzle_c, bed_c = temperatures_for(self.formulation)
        return {
            "printer_profile": self.profile.model_dump(mode="json"),
            "nozzle_temp_c": nozzle_c,
            "bed_temp_c": bed_c,
            "mm3_per_e": self.plate.mm3_per_e,
            "sequence": self.plate.sequence,
            "estimated_print_time_s": self.plate.print_time_s,
            "lot": self.plate.lot,
            "drug_mg_per_mm3": self.formulation.drug_mg_per_mm3,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "prescription_id": self.dose.prescription_id,
            "dose": self.plan.dose_record(),
            "design": self.plan.design_record(),
            "printer": self.plate.profile_id,
            "formulation": self.plate.formulation_id,
            "lot": self.plate.lot,
            "sha256": self.plate.sha256,
            "sequence": self.plate.sequence,
            "print_time_s": self.plate.print_time_s,
            "mm3_per_e": self.plate.mm3_per_e,
            "tablets": [t.to_dict() for t in self.plate.tablets],
        }


def profile_for(
    lot: Formulation, profile_id: str | None, master: MasterFile | None = None
) -> MachineProfile:
    """The named printer profile, or the first on file for the lot's process; it must print
    the lot's process (the one refusal: `check_process`). From `master` (default: the master
    file in force, `catalog.current()`)."""
    master = master or catalog.current()
    if profile_id is None:
        matching = [p for p in master.printer_profiles().values() if p.process == lot.process]
        if not matching:
            raise InputError("printer", None, f"no profile on file prints {lot.process}")
        return matching[0]
    profile = master.printer_profile(profile_id)
    check_process(lot, profile)
    return profile


def design_for(
    rx: Prescription,
    lot: Formulation,
    profile: MachineProfile,
    *,
    chamfer_mm: float = 0.0,
    sa_v_per_mm: float | None = None,
    on: dt.date | None = None,
) -> TabletPlan:
    """Dose and tablet design of `rx` with a given lot and profile (no catalog lookups); a
    schedule's steps each dosed and designed, the first step that cannot be refusing the order
    naming it (`schedule[i].…`)."""
    check_process(lot, profile)
    if rx.schedule is not None:
        steps = tuple(
            StepPlan(step, _step_design(step, rx, lot, profile, chamfer_mm, sa_v_per_mm))
            for step in calculate_schedule(rx, lot, on=on)
        )
        return TabletPlan(rx, lot, steps[0].dose.dose, profile, steps[0].design, steps)
    dose = calculate(rx, lot, on=on)
    design = _shape_design(dose, rx, lot, profile, chamfer_mm, sa_v_per_mm)
    return TabletPlan(rx, lot, dose, profile, design)


def _shape_design(
    dose: Dose,
    rx: Prescription,
    lot: Formulation,
    profile: MachineProfile,
    chamfer_mm: float,
    sa_v_per_mm: float | None,
) -> TabletDesign:
    """The tablet of `dose` in the prescribed shape: built in, or a mesh (bundled or uploaded)."""
    if rx.mesh is not None:
        from dosing.mesh_design import design_mesh_tablet

        shape = catalog.mesh_shape(name=rx.mesh.name, sha256=rx.mesh.sha256)
        return design_mesh_tablet(dose, lot, shape, profile.layer_height_mm, profile.line_width_mm)
    return design_tablet(
        dose,
        lot,
        rx.shape,
        profile.layer_height_mm,
        chamfer_mm=chamfer_mm,
        sa_v_per_mm=sa_v_per_mm,
    )


def _step_design(
    step: StepDose,
    rx: Prescription,
    lot: Formulation,
    profile: MachineProfile,
    chamfer_mm: float,
    sa_v_per_mm: float | None,
) -> TabletDesign:
    """The tablet of one schedule step; a shape that cannot hold its dose names the step."""
    try:
        return _shape_design(step.dose, rx, lot, profile, chamfer_mm, sa_v_per_mm)
    except DosingError as exc:
        raise type(exc)(
            f"schedule[{step.step - 1}].dose",
            step.dose.dose_mg,
            f"mg cannot be made: {exc.field} {exc.reason}",
        ) from None


def plan_tablet(
    rx: Prescription,
    profile_id: str | None = None,
    *,
    chamfer_mm: float = 0.0,
    sa_v_per_mm: float | None = None,
    on: dt.date | None = None,
    calibration_factor: float | None = None,
    master: MasterFile | None = None,
) -> TabletPlan:
    """Dose and design `rx` with its lot on file, on profile `profile_id` (default: the first
    that prints the lot's process); stops before slicing. `calibration_factor`: the one a
    pharmacist approved for the lot on the printer (jobs.calibration), instead of the lot's.

    master: the snapshot to take the lot, product and profile from (default: the master file
    in force, `catalog.current()`, read once here); the product's allowed shapes and dose range
    are held (`Product.check_prescribed`)."""
    master = master or catalog.current()
    lot = master.formulation(rx.formulation)
    if calibration_factor is not None:
        lot = lot.model_copy(update={"calibration_factor": calibration_factor})
    profile = profile_for(lot, profile_id, master)
    plan = design_for(rx, lot, profile, chamfer_mm=chamfer_mm, sa_v_per_mm=sa_v_per_mm, on=on)
    product = master.product_of(lot)
    if product is not None:
        shape = (rx.mesh.name or "uploaded") if rx.mesh is not None else rx.shape
        for dose_mg in [s.dose.dose.dose_mg for s in plan.steps] or [plan.dose.dose_mg]:
            product.check_prescribed(shape, dose_mg)
    return dataclasses.replace(plan, master=master)


def make_batch(
    rx: Prescription,
    formulation: Formulation,
    profile: MachineProfile,
    *,
    on: dt.date | None = None,
    progress: ManufactureProgress | None = None,
    sequence: Sequence = "layers",
) -> GatedBatch:
    """Dose, design and print every unit of `rx` on one plate, gated to ±1 % per tablet.

    Raises the dosing refusals, gcode refusals (part too large, flow implausible) or
    DoseGateFailed; never returns G-code that failed the gate.
    """
    plan = design_for(rx, formulation, profile, on=on)
    return gate_plan(plan, progress=progress, sequence=sequence)


def gate_plan(
    plan: TabletPlan,
    *,
    progress: ManufactureProgress | None = None,
    sequence: Sequence = "layers",
) -> GatedBatch:
    """Slice, write and gate a planned tablet: every unit of the supply on one plate (a
    schedule's steps one after another; a plate too small for them refuses naming the step
    whose tablets no longer fit: nothing is split over plates)."""
    items = plan.plate_items()
    if plan.steps:
        _check_schedule_fits(plan, items)
    plate = make_plate(
        items,
        plan.formulation,
        plan.profile,
        job_id=plan.prescription.id,
        progress=progress,
        sequence=sequence,
    )
    return GatedBatch(plan, plate)


def _check_schedule_fits(plan: TabletPlan, items: list[PlateItem]) -> None:
    """Refuse a schedule whose tablets do not all fit on one plate, naming the first step that
    is cut off (the steps are on the plate in order)."""
    footprints = [_footprint(item.design) for item in items]
    try:
        arrange(footprints, plan.profile)
        return
    except PartTooLarge:
        pass
    fitting = 0
    while fitting < len(items):
        try:
            arrange(footprints[: fitting + 1], plan.profile)
        except PartTooLarge:
            break
        fitting += 1
    step = items[fitting].step or 1
    raise PartTooLarge(
        f"schedule[{step - 1}]",
        len(items),
        f"tablets do not fit one plate of {plan.profile.id}: the first {fitting} fit and step "
        f"{step}'s are cut off (a schedule is made on one plate, never split; send fewer days "
        "or a smaller tablet)",
    )


def _footprint(design: TabletDesign) -> tuple[float, float]:
    """(width, depth) mm in plan of one tablet, from its mesh."""
    xy = design.triangles[:, :, :2].reshape(-1, 2)
    width, depth = (xy.max(axis=0) - xy.min(axis=0)).tolist()
    return float(width), float(depth)


def manufacture(
    rx: Prescription,
    profile_id: str | None = None,
    *,
    on: dt.date | None = None,
    progress: ManufactureProgress | None = None,
    calibration_factor: float | None = None,
    master: MasterFile | None = None,
) -> GatedBatch:
    """`plan_tablet`, then slice, write and gate: what the job service records.

    No database: callers run this outside their transaction (it is the slow part); every
    dosing, gcode and gate refusal passes up unchanged.
    """
    plan = plan_tablet(rx, profile_id, on=on, calibration_factor=calibration_factor, master=master)
    return gate_plan(plan, progress=progress)


WARM_UP_PRESCRIPTION = "propranolol-child.json"  # bundled; one tablet of it warms every stage


def warm_up() -> None:
    """Load the slicer's, writer's and reader's compiled code (Numba's on-disk cache) by making
    one tablet of a bundled prescription from the bundled master data, in memory. The first
    batch in a process otherwise takes most of a second more; that belongs to the service's
    start, not to the answer to its first order. Nothing is recorded, nothing is returned."""
    path = catalog.fixtures_dir() / "prescriptions" / WARM_UP_PRESCRIPTION
    rx = parse_prescription({**json.loads(path.read_text(encoding="utf-8")), "units": 1})
    manufacture(rx, master=catalog.fixtures_master())
