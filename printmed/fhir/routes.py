"""The /fhir endpoint: CapabilityStatement, MedicationRequest create and read, Task read and
search by focus, MedicationDispense read; answers and refusals in application/fhir+json.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from dosing.errors import DosingError
from printmed import catalog
from printmed.api import idempotency, orders
from printmed.api.accepting import accept_order
from printmed.api.problems import FHIR_JSON, error_response
from printmed.audit import entries_for
from printmed.auth import SCOPE_ORDER_READ, SCOPE_ORDER_WRITE, require_scope
from printmed.auth.dependencies import settings_of, store_of
from printmed.auth.principal import Principal
from printmed.fhir.capability import capability_statement
from printmed.fhir.dispense import dispense_resource
from printmed.fhir.task import task_resource
from printmed.intake.fhir_order import in_fhir_terms, prescription_from_fhir
from printmed.jobs.states import BatchState
from printmed.store.models import Batch, Order

router = APIRouter(prefix="/fhir", tags=["fhir"])
ACCEPTED_MEDIA = ("application/fhir+json", "application/json")
BUILD_DATE = "2026-11-25"
RESOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}},
}
MR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string", "enum": ["MedicationRequest"]}},
    "description": "A FHIR R4 MedicationRequest (see /fhir/metadata for what is required)",
}


def fhir_response(
    resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(resource, status, headers=headers, media_type=FHIR_JSON)


def resource_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": RESOURCE_SCHEMA}}}


@router.get(
    "/metadata",
    responses={200: resource_doc("the CapabilityStatement")},
    response_class=Response,
    summary="CapabilityStatement (anyone may read it)",
)
def metadata(request: Request) -> JSONResponse:
    return fhir_response(capability_statement(str(request.base_url), BUILD_DATE))


def _refuse_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; JSON (and FHIR) has no such numbers.
    raise ValueError(f"{name} is not a JSON number")


def _decode(request_body: bytes, content_type: str) -> dict[str, Any] | JSONResponse:
    media = content_type.split(";")[0].strip().lower()
    path = "/fhir/MedicationRequest"
    if media not in ACCEPTED_MEDIA:
        return error_response(
            path, 415, f"Content-Type {media or '(none)'!r} is not application/fhir+json"
        )
    try:
        data = json.loads(request_body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        return error_response(path, 400, f"the body is not JSON ({exc})", issue="structure")
    if not isinstance(data, dict):
        return error_response(path, 400, "the body is not a JSON object", issue="structure")
    return data


@router.post(
    "/MedicationRequest",
    status_code=201,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FHIR_JSON: {"schema": MR_SCHEMA},
                "application/json": {"schema": MR_SCHEMA},
            },
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "a retry with the same key and body returns the first answer",
            }
        ],
    },
    responses={
        201: {
            **resource_doc("the stored MedicationRequest; its Task is GET /fhir/Task?focus="),
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        200: resource_doc("the same order (identifier) was already received"),
    },
    summary="Send an order (FHIR R4 MedicationRequest); the job is verified before the answer",
)
async def create_medication_request(
    request: Request,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_WRITE))],
) -> Response:
    """Clients with prescriptions.write; technicians and pharmacists."""
    body = await request.body()
    data = _decode(body, request.headers.get("content-type", ""))
    if isinstance(data, JSONResponse):
        return data
    rx = prescription_from_fhir(
        data,
        choose_formulation=catalog.choose_formulation,
        windows=settings_of(request).observation_windows,
    )
    base = str(request.base_url).rstrip("/")

    def location(order: Order) -> str:
        return f"{base}/fhir/MedicationRequest/{order.id}/_history/1"

    def existing(order: Order, job: Batch) -> Response:
        stored = json.loads(order.resource_json or "{}")
        return fhir_response(stored, 200, headers={"Location": location(order)})

    def created(order: Order, job: Batch) -> idempotency.Answer:
        return idempotency.Answer(201, FHIR_JSON, order.resource_json or "{}", location(order))

    try:
        return await run_in_threadpool(
            lambda: accept_order(
                request,
                who,
                body,
                rx,
                source="fhir",
                resource=data,
                printer=None,
                answer_existing=existing,
                answer_created=created,
            )
        )
    except DosingError as exc:  # the dose rules name native fields: name the order's element
        raise in_fhir_terms(exc) from None


def _fhir_order(session: Session, who: Principal, order_id: str) -> tuple[Order, Batch]:
    order, job = orders.get_order(session, who, order_id)
    if order.source != "fhir":
        raise orders.UnknownOrder(order_id)
    return order, job


def _task(session: Session, order: Order, job: Batch) -> dict[str, Any]:
    trail = entries_for(session, job.batch_number)
    last = trail[-1].at if trail else order.created_at
    return task_resource(order, job, last, len(trail) or 1)


@router.get(
    "/MedicationRequest/{order_id}",
    response_class=Response,
    responses={200: resource_doc("the stored MedicationRequest")},
    summary="An order as it was received (with its server id)",
)
def read_medication_request(
    request: Request,
    order_id: str,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
) -> JSONResponse:
    """Clients with prescriptions.read (their own orders); any staff member."""
    with store_of(request).read_session() as session:
        order, _ = _fhir_order(session, who, order_id)
        return fhir_response(json.loads(order.resource_json or "{}"))


@router.get(
    "/Task/{task_id}",
    response_class=Response,
    responses={200: resource_doc("the Task of an order")},
    summary="The Task of an order: status and businessStatus follow the job",
)
def read_task(
    request: Request,
    task_id: str,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
) -> JSONResponse:
    """Clients with prescriptions.read (their own orders); any staff member."""
    with store_of(request).read_session() as session:
        order, job = _fhir_order(session, who, task_id)
        return fhir_response(_task(session, order, job))


@router.get(
    "/Task",
    response_class=Response,
    responses={200: resource_doc("a searchset Bundle of Tasks")},
    summary="Search Tasks by focus (MedicationRequest/{id})",
)
def search_tasks(
    request: Request,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
    focus: Annotated[str | None, Query(max_length=200)] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 100,
) -> JSONResponse:
    """Clients with prescriptions.read (their own orders); any staff member."""
    base = str(request.base_url).rstrip("/")
    with store_of(request).read_session() as session:
        if focus is not None:
            wanted = focus.removeprefix(f"{base}/fhir/").removeprefix("MedicationRequest/")
            try:
                found = [_fhir_order(session, who, wanted)]
            except orders.UnknownOrder:
                found = []
        else:
            found = [
                (o, j) for o, j in orders.list_orders(session, who, count) if o.source == "fhir"
            ]
        tasks = [_task(session, order, job) for order, job in found[:count]]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(tasks),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {"fullUrl": f"{base}/fhir/Task/{t['id']}", "resource": t, "search": {"mode": "match"}}
            for t in tasks
        ],
    }
    return fhir_response(bundle)


@router.get(
    "/MedicationDispense/{dispense_id}",
    response_class=Response,
    responses={200: resource_doc("the MedicationDispense of a released batch")},
    summary="The dispense of a released batch (the Task's output)",
)
def read_medication_dispense(
    request: Request,
    dispense_id: str,
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
) -> JSONResponse:
    """Clients with prescriptions.read (their own orders); any staff member."""
    with store_of(request).read_session() as session:
        order, job = _fhir_order(session, who, dispense_id)
        released = [
            e.at for e in entries_for(session, job.batch_number) if e.action == "record.release"
        ]
        if job.state != BatchState.RELEASED or not released:
            raise orders.UnknownOrder(dispense_id)
        resource = json.loads(order.resource_json or "{}")
        return fhir_response(dispense_resource(order, job, resource, released[-1]))
