"""The dose alone: a prescription's lot from the master file and its dose, with the trail.

Arithmetic only (no design, slicer or G-code), so `printmed dose` loads none of them.
"""

from __future__ import annotations

import datetime as dt

from dosing.calculate import Dose, StepDose, calculate, calculate_schedule
from dosing.formulation import Formulation
from dosing.prescription import Prescription
from printmed import catalog


def dose_for(
    rx: Prescription, on: dt.date | None = None, master: catalog.MasterFile | None = None
) -> tuple[Formulation, Dose]:
    """The prescription's lot (from `master`, default the master file in force) and its dose
    (with the calculation trail); a schedule is refused here naming it (`doses_for` doses it
    step by step)."""
    lot = (master or catalog.current()).formulation(rx.formulation)
    return lot, calculate(rx, lot, on=on)


def doses_for(
    rx: Prescription, on: dt.date | None = None, master: catalog.MasterFile | None = None
) -> tuple[Formulation, list[StepDose]]:
    """The prescription's lot and the dose of each step (own trail, days of the course); an
    order of one dose is one step covering its whole supply."""
    lot = (master or catalog.current()).formulation(rx.formulation)
    return lot, calculate_schedule(rx, lot, on=on)
