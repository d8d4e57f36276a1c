"""What crosses the wire for batches and orders: a batch with the recorded results of the dose
gate, and an accepted order with its batch.

Views are read from the rows (`from_attributes`); the recorded JSON values are the job
service's, decoded by `column_value` and passed on as stored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from printmed.jobs.service import column_value
from printmed.jobs.states import BatchState
from printmed.manufacture import TabletCheck
from printmed.store.models import Batch, Order

# The `responses=` of a route: status → OpenAPI response object.
Responses = dict[int | str, dict[str, Any]]


class DoseGateView(BaseModel):
    """The gate's result as recorded: every tablet within ±tolerance_percent of its dose."""

    tablets: list[TabletCheck]
    tolerance_percent: float
    prime_volume_mm3: float = Field(0.0, description="the prime line's volume, on no tablet")
    prime_max_volume_mm3: float = Field(0.0, description="the profile's bound on the prime")


class BatchSummary(BaseModel):
    """A batch: its state, printer and (read one at a time) its recorded dose, tablet design
    and the gate's per-tablet figures."""

    # Every field is in every answer (null when not read or not yet recorded).
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    batch_number: str
    state: BatchState
    printer: str
    profile_id: str
    created_by: str
    created_at: str
    gcode_sha256: str | None = None
    dose: dict[str, Any] | None = Field(None, description="dose_mg, doses, calculation trail")
    design: dict[str, Any] | None = Field(None, description="tablet shape, size (mm), volume")
    gate: DoseGateView | None = Field(None, description="per-tablet dose from the G-code")


class OrderReceipt(BaseModel):
    """An accepted order as received: who sent it, when, under which identifier."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="order id; also the FHIR MedicationRequest and Task id")
    source: str = Field(description="native or fhir")
    prescription_id: str
    received_from: str
    created_at: str


class OrderView(OrderReceipt):
    """An accepted prescription with the batch made for it."""

    prescription: dict[str, Any]
    batch: BatchSummary


def batch_summary(batch: Batch, *, full: bool = True) -> BatchSummary:
    """The batch's columns; with `full`, also its recorded dose, design and gate."""
    summary = BatchSummary.model_validate(batch)
    if not full:
        return summary
    gate = column_value(batch, "gate_json")
    recorded = {
        "dose": column_value(batch, "dose_json"),
        "design": column_value(batch, "design_json"),
        "gate": None if gate is None else DoseGateView.model_validate(gate),
    }
    return summary.model_copy(update=recorded)


def order_view(order: Order, batch: Batch, *, full: bool = True) -> OrderView:
    return OrderView(
        **OrderReceipt.model_validate(order).model_dump(),
        prescription=column_value(batch, "prescription_json"),
        batch=batch_summary(batch, full=full),
    )
