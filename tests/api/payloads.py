"""Realistic orders as a prescribing system sends them, built from the shipped fixtures."""

from __future__ import annotations

import copy
import json
from typing import Any

from printmed import catalog

WEIGHT_OBSERVATION = {
    "resourceType": "Observation",
    "id": "weight",
    "status": "final",
    "code": {
        "coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]
    },
    "subject": {"reference": "Patient/TEST-PATIENT-3"},
    "valueQuantity": {
        "value": 70.0,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    },
}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((catalog.fixtures_dir() / "prescriptions" / name).read_text())
    return data


def paediatric_order(doses: int = 28, identifier: str = "EPMA-TEST-0001") -> dict[str, Any]:
    """Propranolol 1 mg/kg twice a day, max 40 mg, for a 12.4 kg child (contained weight)."""
    order = fixture("propranolol-child.fhir.json")
    order["dispenseRequest"]["quantity"]["value"] = doses
    order["identifier"][0]["value"] = identifier
    return order


def adult_fixed_dose_order(doses: int = 1, identifier: str = "EPMA-TEST-0003") -> dict[str, Any]:
    """Theophylline 200 mg twice a day for an adult; the weight Observation is contained."""
    order = fixture("theophylline-adult.fhir.json")
    order["contained"] = [copy.deepcopy(WEIGHT_OBSERVATION)]
    order["supportingInformation"] = [{"reference": "#weight"}]
    order["dispenseRequest"]["quantity"]["value"] = doses
    order["identifier"][0]["value"] = identifier
    return order


def native_order(units: int = 1, rx_id: str = "RX-0001") -> dict[str, Any]:
    """The native JSON of the paediatric propranolol order."""
    order = fixture("propranolol-child.json")
    order["units"] = units
    order["id"] = rx_id
    return order


def as_bundle(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": resource, "request": {"method": "POST", "url": "MedicationRequest"}}
        ],
    }
