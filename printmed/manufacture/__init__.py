"""Manufacture: prescription + lot + printer profile → dose → design → plate → G-code → gate.

One path for every way in (CLI, pages, API, FHIR); the result is an immutable `GatedBatch`
that exists only for G-code the independent reader passed. No store, no HTTP.
"""

from printmed.manufacture.batch import (
    GatedBatch,
    TabletPlan,
    design_for,
    dose_for,
    gate_plan,
    make_batch,
    manufacture,
    plan_tablet,
    profile_for,
)
from printmed.manufacture.gate import RELEASE_TOLERANCE, DoseGateFailed, TabletCheck
from printmed.manufacture.plate import Plate, PlateItem, make_plate

__all__ = [
    "RELEASE_TOLERANCE",
    "DoseGateFailed",
    "GatedBatch",
    "Plate",
    "PlateItem",
    "TabletCheck",
    "TabletPlan",
    "design_for",
    "dose_for",
    "gate_plan",
    "make_batch",
    "make_plate",
    "manufacture",
    "plan_tablet",
    "profile_for",
]
