"""From a prescription to a gated batch, one path: lot, printer profile, dose, design, plate.

`plan_tablet` stops after the design (the live check, `/check`, previews, `printmed design`);
`make_batch` and `manufacture` go on to slice, write and gate. Nothing here touches the store:
the job service records a `GatedBatch`, which exists only for G-code that passed the gate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dosing.calculate import Dose, calculate
from dosing.design import TabletDesign, design_tablet
from dosing.formulation import Formulation
from dosing.prescription import Prescription
from gcode.profile import MachineProfile
from gcode.write import Sequence
from printmed import catalog
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
class TabletPlan:
    """A prescription with its lot, dose, printer profile and tablet design; nothing sliced."""

    prescription: Prescription
    formulation: Formulation
    dose: Dose
    profile: MachineProfile
    design: TabletDesign

    def to_dict(self) -> dict[str, Any]:
        return {
            "prescription": self.prescription.model_dump(mode="json"),
            "formulation": self.formulation.model_dump(mode="json"),
            "printer": self.profile.id,
            "dose": self.dose.to_dict(),
            "design": self.design.to_dict(),
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
            "dose": self.dose.to_dict(),
            "design": self.design.to_dict(),
            "printer": self.plate.profile_id,
            "formulation": self.plate.formulation_id,
            "lot": self.plate.lot,
            "sha256": self.plate.sha256,
            "sequence": self.plate.sequence,
            "print_time_s": self.plate.print_time_s,
            "mm3_per_e": self.plate.mm3_per_e,
            "tablets": [t.to_dict() for t in self.plate.tablets],
        }


def profile_for(lot: Formulation, profile_id: str | None) -> MachineProfile:
    """The named printer profile, or the first on file for the lot's process; it must print
    the lot's process (the one refusal: `check_process`)."""
    if profile_id is None:
        matching = [p for p in catalog.printer_profiles().values() if p.process == lot.process]
        if not matching:
            raise InputError("printer", None, f"no profile on file prints {lot.process}")
        return matching[0]
    profile = catalog.printer_profile(profile_id)
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
    """Dose and tablet design of `rx` with a given lot and profile (no catalog lookups)."""
    check_process(lot, profile)
    dose = calculate(rx, lot, on=on)
    design = design_tablet(
        dose,
        lot,
        rx.shape,
        profile.layer_height_mm,
        chamfer_mm=chamfer_mm,
        sa_v_per_mm=sa_v_per_mm,
    )
    return TabletPlan(rx, lot, dose, profile, design)


def plan_tablet(
    rx: Prescription,
    profile_id: str | None = None,
    *,
    chamfer_mm: float = 0.0,
    sa_v_per_mm: float | None = None,
    on: dt.date | None = None,
) -> TabletPlan:
    """Dose and design `rx` with its lot on file, on profile `profile_id` (default: the first
    that prints the lot's process); stops before slicing."""
    lot = catalog.formulation(rx.formulation)
    profile = profile_for(lot, profile_id)
    return design_for(rx, lot, profile, chamfer_mm=chamfer_mm, sa_v_per_mm=sa_v_per_mm, on=on)


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
    """Slice, write and gate a planned tablet: every unit of the supply on one plate."""
    items = [PlateItem(plan.design, plan.design.dose_mg)] * plan.design.units_total
    plate = make_plate(
        items,
        plan.formulation,
        plan.profile,
        job_id=plan.prescription.id,
        progress=progress,
        sequence=sequence,
    )
    return GatedBatch(plan, plate)


def manufacture(
    rx: Prescription,
    profile_id: str | None = None,
    *,
    on: dt.date | None = None,
    progress: ManufactureProgress | None = None,
) -> GatedBatch:
    """`plan_tablet`, then slice, write and gate: what the job service records.

    No database: callers run this outside their transaction (it is the slow part); every
    dosing, gcode and gate refusal passes up unchanged.
    """
    return gate_plan(plan_tablet(rx, profile_id, on=on), progress=progress)
