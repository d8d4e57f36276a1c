"""/api/v1/prescriptions: a prescribing system or a technician sends the native JSON; the answer
is the order with its job, already through the dose gate (state verified), or a refusal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dosing.prescription import Prescription
from printmed.api import idempotency, orders
from printmed.api.wire import OrderView, order_view
from printmed.auth import SCOPE_ORDER_READ, SCOPE_ORDER_WRITE, require_scope, settings_of
from printmed.auth.dependencies import store_of
from printmed.auth.principal import Principal

router = APIRouter(prefix="/api/v1/prescriptions", tags=["prescriptions"])
PROBLEMS = {
    401: {"description": "no valid credentials"},
    403: {"description": "the caller lacks the scope or role"},
    422: {"description": "the prescription is refused (field and value named)"},
}
IdempotencyKey = idempotency.IdempotencyKey


def accept(
    request: Request,
    who: Principal,
    body: bytes,
    rx: Prescription,
    printer: str | None,
) -> Response:
    """Native order through the gate to a verified job, once per Idempotency-Key."""
    store, settings = store_of(request), settings_of(request)
    replayed = idempotency.replay(store, request, who.label, body)
    if replayed is not None:
        return replayed
    with store.session() as session:
        actor = who.actor(session)
        try:
            orders.find_duplicate(session, who, rx)
        except orders.DuplicateOrder as duplicate:
            if not duplicate.same:
                raise
            order, job = orders.get_order(session, who, duplicate.existing_id)
            return Response(
                order_view(order, job).model_dump_json(),
                200,
                media_type="application/json",
                headers={"Location": f"/api/v1/prescriptions/{order.id}"},
            )

    def write(session: Session, prepared: orders.PreparedOrder) -> idempotency.Answer:
        order, job = orders.record(
            session, who, actor, prepared, source="native", batch_prefix=settings.batch_prefix
        )
        return idempotency.Answer(
            201,
            "application/json",
            order_view(order, job).model_dump_json(),
            location=f"/api/v1/prescriptions/{order.id}",
        )

    return idempotency.create_once(
        store, request, who.label, body, lambda: orders.prepare(rx, printer), write
    )


@router.post(
    "",
    status_code=201,
    response_model=OrderView,
    responses={
        200: {"model": OrderView, "description": "the same order was already received"},
        409: {"description": "the identifier was already used for a different order"},
        **PROBLEMS,
    },
    summary="Send a prescription (native JSON); answered with the verified job",
)
async def create_prescription(
    request: Request,
    rx: Prescription,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_WRITE))],
    idempotency_key: IdempotencyKey = None,
    printer: Annotated[
        str | None, Query(max_length=64, description="printer profile id (default: by lot)")
    ] = None,
) -> Response:
    """Clients with prescriptions.write; technicians and pharmacists."""
    body = await request.body()
    return await run_in_threadpool(accept, request, who, body, rx, printer)


@router.get(
    "",
    response_model=list[OrderView],
    responses={k: v for k, v in PROBLEMS.items() if k != 422},
    summary="Recent orders (a client sees the ones it sent)",
)
def list_prescriptions(
    request: Request,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OrderView]:
    """Clients with prescriptions.read; any staff member."""
    with store_of(request).session() as session:
        return [order_view(o, j, full=False) for o, j in orders.list_orders(session, who, limit)]


@router.get(
    "/{order_id}",
    response_model=OrderView,
    responses={404: {"description": "no such order for this caller"}, **PROBLEMS},
    summary="An order with its dose, tablet design and job",
)
def get_prescription(
    request: Request,
    order_id: str,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
) -> OrderView:
    """Clients with prescriptions.read (their own orders); any staff member."""
    with store_of(request).session() as session:
        order, job = orders.get_order(session, who, order_id)
        return order_view(order, job)
