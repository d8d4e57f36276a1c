"""The MedicationDispense of a released batch: the medication (with the batch number as lot),
the patient, the quantity and the order it fulfils; readable once a pharmacist has released.
A schedule's dispense carries a dosageInstruction per step (its sequence, days and dose).
"""

from __future__ import annotations

from typing import Any

from printmed.fhir.task import BATCH_SYSTEM, patient_reference
from printmed.intake.fhir_order import UCUM
from printmed.jobs.service import column_value
from printmed.store.models import Batch, Order


def dispense_resource(
    order: Order, job: Batch, request: dict[str, Any], released_at: str
) -> dict[str, Any]:
    """FHIR JSON (R4) for the released `job` of `order`; `request` is the stored order."""
    design = column_value(job, "design_json") or {}
    gate = column_value(job, "gate_json") or {}
    units = len(gate.get("tablets") or []) or int(design.get("units_total") or 0)
    dose_mg = design.get("dose_mg")
    medication: dict[str, Any] = {
        "resourceType": "Medication",
        "id": "batch",
        "code": request.get("medicationCodeableConcept") or {"text": job.batch_number},
        "batch": {"lotNumber": job.batch_number},
    }
    dispense: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": order.id,
        "meta": {"versionId": "1", "lastUpdated": released_at},
        "contained": [medication],
        "identifier": [{"system": BATCH_SYSTEM, "value": job.batch_number}],
        "status": "completed",
        "medicationReference": {"reference": "#batch"},
        "subject": patient_reference(job),
        "authorizingPrescription": [{"reference": f"MedicationRequest/{order.id}"}],
        "quantity": {"value": units, "unit": "tablet"},
        "whenPrepared": released_at,
    }
    steps = design.get("steps") or []
    if steps:
        dosed = (column_value(job, "dose_json") or {}).get("steps") or []
        dispense["dosageInstruction"] = [
            dosage_of_step(dose, tablet, len(steps))
            for dose, tablet in zip(dosed, steps, strict=True)
        ]
        contents = ", ".join(
            f"{t['units_total']} of {t['dose_mg']:g} mg (step {t['step']})" for t in steps
        )
        dispense["note"] = [{"text": f"{units} printed tablets: {contents}"}]
    elif dose_mg is not None:
        dispense["note"] = [{"text": f"{units} printed tablets of {dose_mg:g} mg each"}]
    return dispense


def dosage_of_step(dose: dict[str, Any], tablet: dict[str, Any], steps: int) -> dict[str, Any]:
    """FHIR Dosage of one schedule step as dosed and made: `sequence` (1 first), its days as
    `timing.repeat.boundsDuration` (UCUM d) after the step before, how often, and the dose a
    time (mg) with the tablets that hold it."""
    n, days, frequency = int(dose["step"]), int(dose["days"]), int(dose["frequency_per_day"])
    per_dose_mg = float(tablet["dose_per_administration_mg"])
    units = int(tablet["units_per_dose"])
    return {
        "sequence": n,
        "text": f"Step {n} of {steps}, days {dose['first_day']} to {dose['last_day']}: "
        f"{per_dose_mg:g} mg ({units} {'tablet' if units == 1 else 'tablets'} of "
        f"{tablet['dose_mg']:g} mg) {frequency} times a day for {days} days",
        "timing": {
            "repeat": {
                "boundsDuration": {"value": days, "unit": "d", "system": UCUM, "code": "d"},
                "frequency": frequency,
                "period": 1,
                "periodUnit": "d",
            }
        },
        "doseAndRate": [
            {"doseQuantity": {"value": per_dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}
        ],
    }
