"""What crosses the wire for jobs and orders: the public view of a job and of an order.

Recorded values (dose, design, gate) are passed as the job service stored them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from printmed.jobs.service import column_value
from printmed.store.models import Batch, Order

# The `responses=` of a route: status → OpenAPI response object.
Responses = dict[int | str, dict[str, Any]]


class JobView(BaseModel):
    """A batch in the making: its state, printer and the recorded results of the gate."""

    batch_number: str
    state: str
    printer: str
    profile_id: str
    created_by: str
    created_at: str
    gcode_sha256: str | None = None
    dose: dict[str, Any] | None = Field(None, description="dose_mg, doses, calculation trail")
    design: dict[str, Any] | None = Field(None, description="tablet shape, size (mm), volume")
    gate: dict[str, Any] | None = Field(None, description="per-tablet dose from the G-code")


class OrderView(BaseModel):
    """An accepted prescription with the job made for it."""

    id: str = Field(description="order id; also the FHIR MedicationRequest and Task id")
    source: str = Field(description="native or fhir")
    prescription_id: str
    received_from: str
    created_at: str
    prescription: dict[str, Any]
    job: JobView


def job_view(job: Batch, *, full: bool = True) -> JobView:
    return JobView(
        batch_number=job.batch_number,
        state=job.state,
        printer=job.printer,
        profile_id=job.profile_id,
        created_by=job.created_by,
        created_at=job.created_at,
        gcode_sha256=job.gcode_sha256,
        dose=column_value(job, "dose_json") if full else None,
        design=column_value(job, "design_json") if full else None,
        gate=column_value(job, "gate_json") if full else None,
    )


def order_view(order: Order, job: Batch, *, full: bool = True) -> OrderView:
    return OrderView(
        id=order.id,
        source=order.source,
        prescription_id=order.prescription_id,
        received_from=order.received_from,
        created_at=order.created_at,
        prescription=column_value(job, "prescription_json"),
        job=job_view(job, full=full),
    )
