"""Realistic orders as a prescribing system sends them, built from the shipped fixtures."""

from __future__ import annotations

import copy
import datetime as dt
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
    "effectiveDateTime": "2026-11-20T08:15:00Z",
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


def as_recorded(order: dict[str, Any], days_ago: int = 1) -> dict[str, Any]:
    """The native `order` with its weight and height as a prescribing system must send them:
    as recorded (value, unit, date, status, whose, from where), measured `days_ago` days ago."""
    order = copy.deepcopy(order)
    patient = order["patient"]
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).isoformat()
    for number, record, unit in (("weight_kg", "weight", "kg"), ("height_cm", "height", "cm")):
        if number in patient:
            patient[record] = {
                "value": float(patient.pop(number)),
                "unit": unit,
                "status": "final",
                "subject": patient["id"],
                "effective": when,
                "source": f"Observation/{record}-{patient['id']}",
            }
    return order


def as_bundle(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": resource, "request": {"method": "POST", "url": "MedicationRequest"}}
        ],
    }


UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
CHILD_SUBJECT = {
    "reference": "Patient/TEST-PATIENT-1",
    "identifier": {"system": NHS_NUMBER, "value": "9990000018"},
}
ANOTHER_CHILD = {"system": NHS_NUMBER, "value": "9990000026"}
PER_DAY_24_8_MG = {
    "numerator": {"value": 24.8, "unit": "mg", "system": UCUM, "code": "mg"},
    "denominator": {"value": 1, "unit": "day", "system": UCUM, "code": "d"},
}


def uk_core_order(doses: int = 2, identifier: str = "EPMA-TEST-0013") -> dict[str, Any]:
    """The order of issue 13: propranolol 1 mg/kg twice a day for a 12.4 kg child, at most
    24.8 mg a day, the weight a contained Observation; the child named by reference and NHS
    number (fictional, 999 range) on the order and on each Observation."""
    order = paediatric_order(doses=doses, identifier=identifier)
    order["subject"] = copy.deepcopy(CHILD_SUBJECT)
    for observation in order["contained"]:
        observation["subject"] = copy.deepcopy(CHILD_SUBJECT)
    dosage = order["dosageInstruction"][0]
    dosage["text"] = "1 mg/kg twice a day (at most 24.8 mg a day)"
    del dosage["maxDosePerAdministration"]
    dosage["maxDosePerPeriod"] = copy.deepcopy(PER_DAY_24_8_MG)
    return order


def weaning_order(identifier: str = "EPMA-TEST-0014") -> dict[str, Any]:
    """Issue 13's weaning course: 10 mg, then 7.5 mg, then 5 mg twice a day, 7 days each
    (three dosageInstructions), 42 doses in all."""
    order = paediatric_order(doses=42, identifier=identifier)
    step = order["dosageInstruction"][0]
    del step["maxDosePerAdministration"]
    steps = []
    for sequence, mg in enumerate((10.0, 7.5, 5.0), 1):
        dosage = copy.deepcopy(step)
        dosage["sequence"] = sequence
        dosage["text"] = f"{mg:g} mg twice a day for 7 days"
        dosage["timing"]["repeat"]["boundsDuration"] = {
            "value": 7,
            "unit": "days",
            "system": UCUM,
            "code": "d",
        }
        dosage["doseAndRate"][0]["doseQuantity"] = {
            "value": mg,
            "unit": "mg",
            "system": UCUM,
            "code": "mg",
        }
        steps.append(dosage)
    order["dosageInstruction"] = steps
    return order


def native_measured_order(units: int = 2, rx_id: str = "RX-0013") -> dict[str, Any]:
    """Issue 13's order in the native form: the weight as recorded (value, unit, status, whose,
    when, from where), written on 24 November 2026, at most 24.8 mg a day."""
    order = native_order(units=units, rx_id=rx_id)
    del order["patient"]["weight_kg"]
    del order["max_single_dose_mg"]
    order["patient"]["weight"] = {
        "value": 12.4,
        "unit": "kg",
        "status": "final",
        "subject": "TEST-PATIENT-1",
        "effective": "2026-11-24T09:30:00Z",
        "source": "Observation/weight-0013",
    }
    order["authored_at"] = "2026-11-24T10:00:00Z"
    order["max_daily_dose_mg"] = 24.8
    return order
