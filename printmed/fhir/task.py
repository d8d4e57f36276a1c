"""The FHIR Task of an accepted order: focus is the MedicationRequest, status and
businessStatus follow the job; on release its output is the MedicationDispense.

Built from the order and the job on each read, so it can never disagree with the record.
"""

from __future__ import annotations

from typing import Any

from printmed.jobs.service import column_value
from printmed.jobs.states import BatchState
from printmed.store.models import Batch, Order

JOB_STATE_SYSTEM = "https://printmed.example.org/fhir/CodeSystem/job-state"
BATCH_SYSTEM = "https://printmed.example.org/fhir/NamingSystem/batch-number"
S = BatchState
TASK_STATUS = {
    S.DRAFT: "received",
    S.VERIFIED: "accepted",
    S.SCREENED: "accepted",
    S.RETURNED: "on-hold",
    S.QUEUED: "ready",
    S.PRINTING: "in-progress",
    S.PRINTED: "in-progress",
    S.WEIGHED: "in-progress",
    S.RELEASED: "completed",
    S.REJECTED: "rejected",
    S.FAILED: "failed",
    S.INTERRUPTED: "failed",
}
STATE_TEXT = {
    S.DRAFT: "received, not yet through the dose gate",
    S.VERIFIED: "passed the dose gate on the G-code, awaiting a pharmacist's screening",
    S.SCREENED: "clinically screened by a pharmacist, awaiting the queue",
    S.RETURNED: "returned by the screening pharmacist; to be entered again",
    S.QUEUED: "queued for its printer",
    S.PRINTING: "printing",
    S.PRINTED: "printed, awaiting weighing",
    S.WEIGHED: "weighed, awaiting pharmacist release",
    S.RELEASED: "released by a pharmacist",
    S.REJECTED: "rejected; will not be supplied",
    S.FAILED: "print failed; will not be supplied",
    S.INTERRUPTED: "print interrupted; will not be supplied",
}


def task_status(state: str) -> str:
    return TASK_STATUS[BatchState(state)]


def patient_reference(job: Batch) -> dict[str, str]:
    return {"reference": f"Patient/{column_value(job, 'prescription_json')['patient']['id']}"}


def task_resource(order: Order, job: Batch, last_modified: str, version: int) -> dict[str, Any]:
    """The Task of `order` as FHIR JSON (R4)."""
    state = BatchState(job.state)
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": order.id,
        "meta": {"versionId": str(version), "lastUpdated": last_modified},
        "identifier": [{"system": BATCH_SYSTEM, "value": job.batch_number}],
        "basedOn": [{"reference": f"MedicationRequest/{order.id}"}],
        "status": TASK_STATUS[state],
        "businessStatus": {
            "coding": [{"system": JOB_STATE_SYSTEM, "code": state.value}],
            "text": STATE_TEXT[state],
        },
        "intent": "order",
        "code": {"text": "print personalised tablets"},
        "focus": {"reference": f"MedicationRequest/{order.id}"},
        "for": patient_reference(job),
        "authoredOn": order.created_at,
        "lastModified": last_modified,
    }
    if state is S.RELEASED:
        task["output"] = [
            {
                "type": {"text": "MedicationDispense"},
                "valueReference": {"reference": f"MedicationDispense/{order.id}"},
            }
        ]
    return task
