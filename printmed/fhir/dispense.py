"""The MedicationDispense of a released batch: the medication (with the batch number as lot),
the patient, the quantity and the order it fulfils; readable once a pharmacist has released.
"""

from __future__ import annotations

from typing import Any

from printmed.fhir.task import BATCH_SYSTEM, patient_reference
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
    if dose_mg is not None:
        dispense["note"] = [{"text": f"{units} printed tablets of {dose_mg:g} mg each"}]
    return dispense
