"""Fixtures for the dosing tests: a fictional child's prescription and lots built in the test."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from dosing.formulation import Formulation, parse_formulation

TODAY = dt.date(2026, 11, 25)

CHILD_RX: dict[str, Any] = {
    "id": "RX-0001",
    "patient": {"id": "TEST-PATIENT-1", "weight_kg": 12.4, "height_cm": 88, "age_years": 2.5},
    "drug": {"name": "propranolol", "code": "372772003"},
    "dose": {"value": 1.0, "unit": "mg/kg"},
    "max_single_dose_mg": 40,
    "frequency_per_day": 2,
    "units": 28,
    "formulation": "propranolol-pva-10",
    "shape": "round",
}

# Wide enough that only the rule under test binds; the drug-limit tests narrow them.
WIDE_LIMITS: dict[str, Any] = {
    "drug_name": "propranolol",
    "drug_code": "372772003",
    "max_mg_per_kg_per_dose": 100.0,
    "max_mg_per_kg_per_day": 400.0,
    "max_mg_per_dose": 1000.0,
    "max_mg_per_day": 4000.0,
    "source": "test limits",
}

PVA_LOT: dict[str, Any] = {
    "id": "propranolol-pva-10",
    "drug_name": "propranolol",
    "drug_code": "372772003",
    "process": "fdm",
    "excipients": "PVA",
    "lot": "TEST-LOT-1",
    "manufacturer": "Test HME unit",
    "expiry": "2027-05-31",
    "assay_percent": 100.0,
    "loading_percent_w_w": 10.0,
    "density_g_cm3": 1.25,
    "dose_step_mg": 0.5,
    "filament_diameter_mm": 1.75,
    "nozzle_temp_c": [180, 210],
    "drug_limits": WIDE_LIMITS,
}


def rx_data(**changes: Any) -> dict[str, Any]:
    """The child's prescription with dotted-path changes; `...` deletes the field."""
    data = copy.deepcopy(CHILD_RX)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return data


def lot(**changes: Any) -> Formulation:
    """The test lot with changes; `limits={...}` changes its drug limits, `limits=None` drops
    them."""
    data = {**PVA_LOT, **changes}
    if "limits" in changes:
        limits = data.pop("limits")
        data["drug_limits"] = None if limits is None else {**WIDE_LIMITS, **limits}
    if "drug_name" in changes and data.get("drug_limits"):
        data["drug_limits"] = {
            **data["drug_limits"],
            "drug_name": data["drug_name"],
            "drug_code": data.get("drug_code"),
        }
    return parse_formulation(data)


@pytest.fixture
def pva_lot() -> Formulation:
    return lot()
