"""From a prescription to its dose and tablet design on a chosen printer: the product's first step.

The CLI, the job service and the API all come through here, so a prescription is dosed and
designed the same way wherever it arrives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dosing.calculate import Dose, calculate
from dosing.design import TabletDesign, design_tablet
from dosing.formulation import Formulation
from dosing.prescription import Prescription
from printmed import catalog
from printmed.errors import InputError


@dataclass(frozen=True)
class TabletPlan:
    """A prescription with its lot, dose, printer profile document and tablet design."""

    prescription: Prescription
    formulation: Formulation
    dose: Dose
    printer: dict[str, Any]
    design: TabletDesign

    def to_dict(self) -> dict[str, Any]:
        return {
            "prescription": self.prescription.model_dump(mode="json"),
            "formulation": self.formulation.model_dump(mode="json"),
            "printer": self.printer["id"],
            "dose": self.dose.to_dict(),
            "design": self.design.to_dict(),
        }


def dose_for(rx: Prescription, on: dt.date | None = None) -> tuple[Formulation, Dose]:
    lot = catalog.formulation(rx.formulation)
    return lot, calculate(rx, lot, on=on)


def printer_for(lot: Formulation, printer_id: str | None) -> dict[str, Any]:
    """The named profile, or the first on file for the lot's process; it must print that process."""
    if printer_id is None:
        matching = [p for p in catalog.printer_profiles().values() if p["process"] == lot.process]
        if not matching:
            raise InputError("printer", None, f"no profile on file prints {lot.process}")
        return matching[0]
    profile = catalog.printer_profile_data(printer_id)
    if profile["process"] != lot.process:
        raise InputError(
            "printer", printer_id, f"prints {profile['process']}, but lot {lot.id} is {lot.process}"
        )
    return profile


def plan_tablet(
    rx: Prescription,
    printer_id: str | None = None,
    *,
    chamfer_mm: float = 0.0,
    sa_v_per_mm: float | None = None,
    on: dt.date | None = None,
) -> TabletPlan:
    lot, dose = dose_for(rx, on=on)
    printer = printer_for(lot, printer_id)
    design = design_tablet(
        dose,
        lot,
        rx.shape,
        float(printer["layer_height_mm"]),
        chamfer_mm=chamfer_mm,
        sa_v_per_mm=sa_v_per_mm,
    )
    return TabletPlan(rx, lot, dose, printer, design)
