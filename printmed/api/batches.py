"""/api/v1/batches: the batch record (fields, QC, signatures, trail, integrity), unit weights,
e-signatures, pharmacist release, and the record and label as PDF.

Signing and release re-ask the signer's password, as the pages do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from printmed.api import idempotency
from printmed.api.idempotency import IdempotencyKey
from printmed.api.wire import Responses
from printmed.audit import canonical_json
from printmed.auth import current_user, require_roles, settings_of
from printmed.auth.dependencies import store_of
from printmed.auth.users import RECORD_ROLES
from printmed.errors import InputError
from printmed.jobs.service import get_batch
from printmed.records.batch_record import load_record
from printmed.records.integrity import verify_records
from printmed.records.label import label_pdf
from printmed.records.record_pdf import batch_record_pdf
from printmed.records.release import release
from printmed.records.signatures import MEANINGS, authenticate_signer, sign
from printmed.records.weighing import qc_of, record_weights
from printmed.store.models import Signature, User

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])
Staff = Annotated[User, Depends(current_user)]
Maker = Annotated[User, Depends(require_roles(*sorted(RECORD_ROLES)))]
Pharmacist = Annotated[User, Depends(require_roles("pharmacist"))]
NOT_FOUND: Responses = {404: {"description": "no such batch"}}
PDF: Responses = {
    200: {"content": {"application/pdf": {}}, "description": "a PDF document"},
    **NOT_FOUND,
}


class Weights(BaseModel):
    weights_mg: list[float] = Field(
        min_length=1, max_length=200, description="unit masses, mg, in the order weighed"
    )
    reason: str = Field("", max_length=2000, description="required when correcting weights")
    source: str = Field("manual", max_length=64, description="manual or the balance's name")


class SignatureRequest(BaseModel):
    meaning: str = Field(description=f"one of {', '.join(m for m in MEANINGS if m != 'released')}")
    password: str = Field(min_length=1, max_length=1024, description="the signer re-enters it")


class ReleaseRequest(BaseModel):
    password: str = Field(min_length=1, max_length=1024, description="the pharmacist re-enters it")


class SignatureView(BaseModel):
    id: int
    batch_number: str
    username: str
    printed_name: str
    meaning: str
    signed_at: str
    through_seq: int
    record_hash: str
    signature_hash: str


def signature_view(signature: Signature) -> SignatureView:
    return SignatureView(
        id=signature.id,
        batch_number=signature.batch_number,
        username=signature.username,
        printed_name=signature.printed_name,
        meaning=signature.meaning,
        signed_at=signature.signed_at,
        through_seq=signature.through_seq,
        record_hash=signature.record_hash,
        signature_hash=signature.signature_hash,
    )


@router.get(
    "/{batch_number}/record",
    response_model=dict[str, Any],
    responses=NOT_FOUND,
    summary="The batch record: fields, corrections, QC, signatures, trail, integrity",
)
def get_record(request: Request, batch_number: str, user: Staff) -> dict[str, Any]:
    """Any staff member."""
    with store_of(request).read_session() as session:
        return load_record(session, batch_number).to_dict()


@router.get(
    "/{batch_number}/integrity",
    response_model=dict[str, Any],
    responses=NOT_FOUND,
    summary="Check the audit chain and this batch's record against it",
)
def get_integrity(request: Request, batch_number: str, user: Staff) -> dict[str, Any]:
    """Any staff member."""
    with store_of(request).read_session() as session:
        get_batch(session, batch_number)
        return verify_records(session, batch_number).to_dict()


@router.post(
    "/{batch_number}/weights",
    status_code=201,
    response_model=dict[str, Any],
    responses={**NOT_FOUND, 409: {"description": "the batch is not printed or weighed"}},
    summary="Record unit weights (mg); answered with the QC",
)
def post_weights(
    request: Request,
    batch_number: str,
    weights: Weights,
    user: Maker,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Technicians and pharmacists. A second weighing is a correction and needs a reason."""

    def write(session: Session) -> idempotency.Answer:
        job = get_batch(session, batch_number, for_update=True)
        qc = record_weights(
            session, job, user, weights.weights_mg, source=weights.source, reason=weights.reason
        )
        return idempotency.json_answer(201, canonical_json(qc))

    return idempotency.model_once(
        store_of(request), request, user.username, weights.model_dump_json(), write
    )


@router.post(
    "/{batch_number}/weights/check",
    response_model=dict[str, Any],
    responses={**NOT_FOUND, 409: {"description": "the batch has no recorded dose"}},
    summary="QC of unit weights (mg) as they are typed, recording nothing",
)
def check_weights(request: Request, batch_number: str, weights: Weights, user: Maker) -> Any:
    """Technicians and pharmacists; the weighing page's live check."""
    with store_of(request).read_session() as session:
        return qc_of(get_batch(session, batch_number), weights.weights_mg)


@router.post(
    "/{batch_number}/signatures",
    status_code=201,
    response_model=SignatureView,
    responses={**NOT_FOUND, 401: {"description": "wrong password"}},
    summary="Sign the record as it stands (performed, checked or reviewed)",
)
def post_signature(
    request: Request,
    batch_number: str,
    signing: SignatureRequest,
    user: Maker,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Technicians and pharmacists, for themselves; the password is asked again."""

    def write(session: Session) -> idempotency.Answer:
        signer = authenticate_signer(session, user.username, signing.password, signing.meaning)
        if signing.meaning == "released":
            raise InputError("meaning", "released", "is given only by POST .../release")
        signature = sign(session, get_batch(session, batch_number), signer, signing.meaning)
        return idempotency.json_answer(201, signature_view(signature).model_dump_json())

    return idempotency.model_once(
        store_of(request), request, user.username, f"sign {batch_number} {signing.meaning}", write
    )


@router.post(
    "/{batch_number}/release",
    status_code=201,
    response_model=SignatureView,
    responses={
        **NOT_FOUND,
        401: {"description": "wrong password"},
        409: {"description": "QC not passed, record not intact or not weighed"},
    },
    summary="Release a weighed batch (pharmacist, four eyes); answered with the signature",
)
def post_release(
    request: Request,
    batch_number: str,
    releasing: ReleaseRequest,
    user: Pharmacist,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Pharmacists who made no step of this batch; the password is asked again."""

    def write(session: Session) -> idempotency.Answer:
        signature = release(session, batch_number, user.username, releasing.password)
        return idempotency.json_answer(201, signature_view(signature).model_dump_json())

    return idempotency.model_once(
        store_of(request), request, user.username, f"release {batch_number}", write
    )


@router.get(
    "/{batch_number}/record.pdf",
    response_class=Response,
    responses=PDF,
    summary="The batch record as a PDF",
)
def get_record_pdf(request: Request, batch_number: str, user: Staff) -> Response:
    """Any staff member."""
    with store_of(request).read_session() as session:
        record = load_record(session, batch_number)
    return Response(batch_record_pdf(record, settings_of(request)), media_type="application/pdf")


@router.get(
    "/{batch_number}/label.pdf",
    response_class=Response,
    responses=PDF,
    summary="The dispensing label as a PDF",
)
def get_label_pdf(request: Request, batch_number: str, user: Staff) -> Response:
    """Any staff member."""
    with store_of(request).read_session() as session:
        record = load_record(session, batch_number)
    return Response(label_pdf(record, settings_of(request)), media_type="application/pdf")
