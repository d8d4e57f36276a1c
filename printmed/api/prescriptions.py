"""/api/v1/prescriptions: a prescribing system or a technician sends the native JSON; the answer
is the order with its batch, already through the dose gate (state verified), or a refusal.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from dosing.prescription import Prescription
from printmed import catalog
from printmed.api import idempotency, orders
from printmed.api.accepting import accept_order
from printmed.api.dependencies import ReadSessionDep
from printmed.api.wire import OrderView, Responses, order_view
from printmed.auth import SCOPE_ORDER_READ, SCOPE_ORDER_WRITE, require_scope
from printmed.auth.dependencies import settings_of
from printmed.auth.principal import Principal
from printmed.intake.clinical import question
from printmed.jobs.making import from_prescribing_system, queue_target
from printmed.manufacture import plan_tablet
from printmed.store.models import Batch, Order

router = APIRouter(prefix="/api/v1/prescriptions", tags=["prescriptions"])
PROBLEMS: Responses = {
    401: {"description": "no valid credentials"},
    403: {"description": "the caller lacks the scope or role"},
    422: {"description": "the prescription is refused (field and value named)"},
}
IdempotencyKey = idempotency.IdempotencyKey
PrinterQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="a printer profile id (any in-service printer of it takes the batch) or a "
        "registered printer's name (that printer alone: of the caller's site; the batch is made "
        "for its profile). Default: the first profile on file for the lot's process",
    ),
]


def location(order: Order) -> str:
    return f"/api/v1/prescriptions/{order.id}"


def existing(order: Order, batch: Batch) -> Response:
    return Response(
        order_view(order, batch).model_dump_json(),
        200,
        media_type="application/json",
        headers={"Location": location(order)},
    )


def created(order: Order, batch: Batch) -> idempotency.Answer:
    return idempotency.json_answer(201, order_view(order, batch).model_dump_json(), location(order))


@router.post(
    "",
    status_code=201,
    response_model=OrderView,
    responses={
        200: {"model": OrderView, "description": "the same order was already received"},
        409: {"description": "the identifier was already used for a different order"},
        **PROBLEMS,
    },
    summary="Send a prescription (native JSON); answered with the verified batch",
)
async def create_prescription(
    request: Request,
    rx: Prescription,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_WRITE))],
    idempotency_key: IdempotencyKey = None,
    printer: PrinterQuery = None,
) -> Response:
    """Clients with prescriptions.write; technicians and pharmacists.

    A prescribing system sends each body measurement as recorded (`patient.weight`, and
    `patient.height` when a height is given: value, unit, effective, status, subject, source);
    a bare `patient.weight_kg` or `height_cm` from it is refused. The job service questions
    every measurement (status, patient, recency for the patient's age) as it records the batch.
    """
    body = await request.body()
    return await run_in_threadpool(
        lambda: accept_order(
            request,
            who,
            body,
            rx,
            source="native",
            resource=None,
            printer=printer,
            answer_existing=existing,
            answer_created=created,
        )
    )


class TabletPlanView(BaseModel):
    """What an order would make: the printer, the dose (with its trail) and the tablet; for a
    schedule, the first step's beside every step's (`dose.steps`, `design.steps`), as the
    batch record keeps them."""

    printer: str = Field(description="the printer profile the tablet is designed for")
    queued_for: str = Field(
        description="what the batch would be queued for: the profile, or one registered printer"
    )
    dose: dict[str, Any]
    design: dict[str, Any]


@router.post(
    "/check",
    response_model=TabletPlanView,
    responses=PROBLEMS,
    summary="Dose and tablet for a prescription, recording nothing (the form's live check)",
)
def check_prescription(
    request: Request,
    rx: Prescription,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_WRITE))],
    session: ReadSessionDep,
    printer: PrinterQuery = None,
) -> TabletPlanView:
    """Clients with prescriptions.write; technicians and pharmacists. The order is questioned
    as sending it would be (the job service's own check, run early here)."""
    actor = who.actor(session)
    question(
        rx,
        windows=settings_of(request).observation_windows,
        as_recorded=from_prescribing_system(actor),
    )
    profile_id, named = queue_target(session, actor, printer, catalog.formulation(rx.formulation))
    plan = plan_tablet(rx, profile_id)
    return TabletPlanView(
        printer=plan.profile.id,
        queued_for=named or plan.profile.id,
        dose=plan.dose_record(),
        design=plan.design_record(),
    )


@router.get(
    "",
    response_model=list[OrderView],
    responses={k: v for k, v in PROBLEMS.items() if k != 422},
    summary="Recent orders (a client sees the ones it sent)",
)
def list_prescriptions(
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OrderView]:
    """Clients with prescriptions.read; any staff member."""
    return [order_view(o, b, full=False) for o, b in orders.list_orders(session, who, limit)]


@router.get(
    "/{order_id}",
    response_model=OrderView,
    responses={404: {"description": "no such order for this caller"}, **PROBLEMS},
    summary="An order with its batch: dose, tablet design and gate figures",
)
def get_prescription(
    order_id: str,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
    session: ReadSessionDep,
) -> OrderView:
    """Clients with prescriptions.read (their own orders); any staff member."""
    return order_view(*orders.get_order(session, who, order_id))
