"""/api/v1/batches: every batch, its state, print progress and verified G-code; a pharmacist's
clinical screening (or return) of the order; the steps a technician takes on it (queue for the
printer, reject with a reason, weigh units); the batch record (fields, QC, signatures, trail,
integrity); e-signatures and the pharmacist's release; the record and the label as PDF.

Signing and release re-ask the signer's password, as the pages do, through the sign-in defence:
429 with Retry-After while the address or account waits, 403 for a locked account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from printmed.api import idempotency
from printmed.api.dependencies import OwnSiteBatch, ReadSessionDep, SessionDep
from printmed.api.idempotency import IdempotencyKey
from printmed.api.problems import error_response
from printmed.api.record_views import (
    BatchRecordView,
    IntegrityView,
    PrintProgressView,
    QcView,
    SignatureView,
)
from printmed.api.wire import BatchSummary, Responses, batch_summary
from printmed.auth import lockout, require_action, settings_of, store_of
from printmed.auth.dependencies import SignInClock, client_address
from printmed.auth.rules import Action
from printmed.errors import InputError
from printmed.jobs import service
from printmed.jobs.states import BatchState
from printmed.records import signatures
from printmed.records.batch_record import load_record
from printmed.records.integrity import verify_records
from printmed.records.label import label_pdf
from printmed.records.pharmacy import pharmacy_of
from printmed.records.record_pdf import batch_record_pdf
from printmed.records.release import release
from printmed.records.screening import return_batch, screen, screening_sheet
from printmed.records.signatures import SIGNABLE, admit_signer, sign
from printmed.records.sites import site_scope
from printmed.records.weighing import qc_of, record_weights
from printmed.store.models import PrintProgress, StoredGcode, User

router = APIRouter(prefix="/api/v1/batches", tags=["batches"], dependencies=[OwnSiteBatch])
Reader = Annotated[User, Depends(require_action(Action.READ_RECORD))]
Queuer = Annotated[User, Depends(require_action(Action.QUEUE))]
Rejecter = Annotated[User, Depends(require_action(Action.REJECT))]
Weigher = Annotated[User, Depends(require_action(Action.WEIGH))]
Signer = Annotated[User, Depends(require_action(Action.SIGN))]
Releaser = Annotated[User, Depends(require_action(Action.RELEASE))]
Screener = Annotated[User, Depends(require_action(Action.SCREEN))]
Dispenser = Annotated[User, Depends(require_action(Action.DOWNLOAD_LABEL))]
NOT_FOUND: Responses = {404: {"description": "no such batch"}}
PASSWORD_ASKED: Responses = {
    401: {"description": "wrong password"},
    403: {"description": "the account is locked (or the role may not sign this)"},
    429: {"description": "too many recent wrong passwords: wait Retry-After seconds"},
}
PDF: Responses = {
    200: {"content": {"application/pdf": {}}, "description": "a PDF document"},
    **NOT_FOUND,
}


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="recorded in the trail")


class Weights(BaseModel):
    weights_mg: list[float] = Field(
        min_length=1, max_length=200, description="unit masses, mg, in the order weighed"
    )
    reason: str = Field("", max_length=2000, description="required when correcting weights")
    source: str = Field("manual", max_length=64, description="manual or the balance's name")


class SignatureRequest(BaseModel):
    meaning: str = Field(description=f"one of {', '.join(SIGNABLE)}")
    password: str = Field(min_length=1, max_length=1024, description="the signer re-enters it")


class ScreeningRequest(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="what was checked (recorded)")
    password: str = Field(min_length=1, max_length=1024, description="the pharmacist re-enters it")


class ReturnRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="what must change (recorded)")


class MeasurementView(BaseModel):
    """A body measurement as used (kg, cm) with where and when it was taken."""

    value: float
    unit: str
    as_recorded: str
    status: str | None = Field(description="the Observation's status (none when typed in)")
    source: str | None = Field(description='an Observation, or "entered on the order"')
    measured_at: str | None


class ScreenedPatientView(BaseModel):
    id: str
    age_years: float | None
    weight: MeasurementView | None
    height: MeasurementView | None


class ScreeningDecisionView(BaseModel):
    decision: str = Field(description="screened or returned")
    by: str
    at: str
    note: str = Field(description="the screening note, or the reason for the return")
    signature_id: int | None
    printed_name: str | None


class ScreeningView(BaseModel):
    """What a pharmacist screens the order on: patient, order and maxima, dose trail, lot,
    tablet; and the screening decisions recorded so far."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    batch_number: str
    state: BatchState
    entered_by: str
    entered_at: str
    prescription_id: str
    patient: ScreenedPatientView
    drug: dict[str, Any]
    prescribed: dict[str, Any] = Field(description="dose, frequency, doses, maxima (mg), written")
    formulary: dict[str, Any] | None = Field(description="the drug's maxima on file")
    lot: dict[str, Any]
    dose: dict[str, Any] = Field(description="dose_mg, calculated_mg, the calculation trail")
    design: dict[str, Any] = Field(description="tablet shape, size (mm), volume")
    decisions: list[ScreeningDecisionView]
    steps: list[dict[str, Any]] = Field(
        description="a schedule's steps, each as ordered, dosed (own trail) and designed; "
        "empty for one dose"
    )


class ReleaseRequest(BaseModel):
    password: str = Field(min_length=1, max_length=1024, description="the pharmacist re-enters it")


def progress_of(session: Session, batch_id: int) -> PrintProgressView | None:
    """The print's telemetry, or None before the batch is printed."""
    row = session.get(PrintProgress, batch_id)
    return None if row is None else PrintProgressView.model_validate(row)


@router.get("", response_model=list[BatchSummary], summary="Batches, oldest first, by state")
def list_batches(
    user: Reader, session: ReadSessionDep, state: BatchState | None = None
) -> list[BatchSummary]:
    """Any staff member: their own site's batches (every site's with the control-site role)."""
    scope = site_scope(user)
    return [
        batch_summary(b, full=False) for b in service.list_batches(session, state, site_id=scope)
    ]


@router.get(
    "/{batch_number}",
    response_model=BatchSummary,
    responses=NOT_FOUND,
    summary="One batch with its dose, tablet design and gate figures",
)
def get_batch(batch_number: str, user: Reader, session: ReadSessionDep) -> BatchSummary:
    """Any staff member."""
    return batch_summary(service.get_batch(session, batch_number))


@router.get(
    "/{batch_number}/progress",
    response_model=PrintProgressView | None,
    responses=NOT_FOUND,
    summary="Print progress (null before printing)",
)
def get_progress(
    batch_number: str, user: Reader, session: ReadSessionDep
) -> PrintProgressView | None:
    """Any staff member."""
    return progress_of(session, service.get_batch(session, batch_number).id)


@router.get(
    "/{batch_number}/gcode",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **NOT_FOUND},
    summary="The verified G-code (its SHA-256 is in the batch)",
)
def get_gcode(batch_number: str, user: Reader, session: ReadSessionDep) -> PlainTextResponse:
    """Any staff member."""
    batch = service.get_batch(session, batch_number)
    program = session.get(StoredGcode, batch.gcode_sha256) if batch.gcode_sha256 else None
    if program is None:
        raise service.UnknownBatch(batch_number)
    return PlainTextResponse(program.text)


@router.post(
    "/{batch_number}/queue",
    response_model=BatchSummary,
    responses={**NOT_FOUND, 409: {"description": "the batch is not screened"}},
    summary="Queue a screened batch for its printer",
)
def queue_batch(batch_number: str, user: Queuer, session: SessionDep) -> BatchSummary:
    """Technicians and pharmacists."""
    batch = service.get_batch(session, batch_number, for_update=True)
    service.queue(session, batch, user)
    return batch_summary(batch)


@router.post(
    "/{batch_number}/reject",
    response_model=BatchSummary,
    responses={**NOT_FOUND, 409: {"description": "the batch has ended"}},
    summary="End a batch that will not be released (reason recorded)",
)
def reject_batch(
    batch_number: str, rejection: Rejection, user: Rejecter, session: SessionDep
) -> BatchSummary:
    """Technicians and pharmacists."""
    batch = service.get_batch(session, batch_number, for_update=True)
    service.reject(session, batch, user, rejection.reason)
    return batch_summary(batch)


@router.get(
    "/{batch_number}/screening",
    response_model=ScreeningView,
    responses=NOT_FOUND,
    summary="The order as a pharmacist screens it: patient, dose trail, maxima, lot, tablet",
)
def get_screening(batch_number: str, user: Reader, session: ReadSessionDep) -> ScreeningView:
    """Any staff member."""
    return ScreeningView.model_validate(screening_sheet(session, batch_number).to_dict())


@router.post(
    "/{batch_number}/screen",
    status_code=201,
    response_model=SignatureView,
    responses={
        **NOT_FOUND,
        **PASSWORD_ASKED,
        409: {"description": "the batch is not verified (awaiting screening)"},
    },
    summary="Screen a verified batch clinically (pharmacist, four eyes); the 'screened' signature",
)
def post_screen(
    request: Request,
    batch_number: str,
    screening: ScreeningRequest,
    user: Screener,
    clock: SignInClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Pharmacists who neither entered nor made this batch; the password is asked again."""

    def write(session: Session, signer: signatures.Signer) -> idempotency.Answer:
        signature = screen(session, batch_number, signer, screening.note)
        return idempotency.json_answer(
            201, SignatureView.model_validate(signature).model_dump_json()
        )

    return _with_password(
        request, user, screening.password, "screened", clock, f"screen {batch_number}", write
    )


@router.post(
    "/{batch_number}/return",
    response_model=BatchSummary,
    responses={**NOT_FOUND, 409: {"description": "the batch is not verified (awaiting screening)"}},
    summary="Return a verified batch to the technician with a reason (pharmacist); never queued",
)
def post_return(
    batch_number: str, returning: ReturnRequest, user: Screener, session: SessionDep
) -> BatchSummary:
    """Pharmacists who neither entered nor made this batch."""
    return batch_summary(return_batch(session, batch_number, user, returning.reason))


@router.get(
    "/{batch_number}/record",
    response_model=BatchRecordView,
    responses=NOT_FOUND,
    summary="The batch record: fields, corrections, QC, signatures, trail, integrity",
)
def get_record(batch_number: str, user: Reader, session: ReadSessionDep) -> BatchRecordView:
    """Any staff member."""
    return BatchRecordView.model_validate(load_record(session, batch_number).to_dict())


@router.get(
    "/{batch_number}/integrity",
    response_model=IntegrityView,
    responses=NOT_FOUND,
    summary="Check the audit chain and this batch's record against it",
)
def get_integrity(batch_number: str, user: Reader, session: ReadSessionDep) -> IntegrityView:
    """Any staff member."""
    service.get_batch(session, batch_number)
    return IntegrityView.model_validate(verify_records(session, batch_number).to_dict())


@router.post(
    "/{batch_number}/weights",
    status_code=201,
    response_model=QcView,
    responses={**NOT_FOUND, 409: {"description": "the batch is not printed or weighed"}},
    summary="Record unit weights (mg); answered with the QC",
)
def post_weights(
    request: Request,
    batch_number: str,
    weights: Weights,
    user: Weigher,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Technicians and pharmacists. A second weighing is a correction and needs a reason."""

    def write(session: Session) -> idempotency.Answer:
        batch = service.get_batch(session, batch_number, for_update=True)
        qc = record_weights(
            session, batch, user, weights.weights_mg, source=weights.source, reason=weights.reason
        )
        return idempotency.json_answer(201, QcView.model_validate(qc).model_dump_json())

    return idempotency.model_once(
        store_of(request), request, user.username, weights.model_dump_json(), write
    )


@router.post(
    "/{batch_number}/weights/check",
    response_model=QcView,
    responses={**NOT_FOUND, 409: {"description": "the batch has no recorded dose"}},
    summary="QC of unit weights (mg) as they are typed, recording nothing",
)
def check_weights(
    batch_number: str, weights: Weights, user: Weigher, session: ReadSessionDep
) -> QcView:
    """Technicians and pharmacists; the weighing page's live check."""
    return QcView.model_validate(
        qc_of(service.get_batch(session, batch_number), weights.weights_mg)
    )


@router.post(
    "/{batch_number}/signatures",
    status_code=201,
    response_model=SignatureView,
    responses={**NOT_FOUND, **PASSWORD_ASKED},
    summary="Sign the record as it stands (performed, checked or reviewed)",
)
def post_signature(
    request: Request,
    batch_number: str,
    signing: SignatureRequest,
    user: Signer,
    clock: SignInClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Technicians and pharmacists, for themselves; the password is asked again."""
    if signing.meaning == "released":
        raise InputError("meaning", "released", "is given only by POST .../release")

    def write(session: Session, signer: signatures.Signer) -> idempotency.Answer:
        signature = sign(session, service.get_batch(session, batch_number), signer, signing.meaning)
        return idempotency.json_answer(
            201, SignatureView.model_validate(signature).model_dump_json()
        )

    return _with_password(
        request,
        user,
        signing.password,
        signing.meaning,
        clock,
        f"sign {batch_number} {signing.meaning}",
        write,
    )


@router.post(
    "/{batch_number}/release",
    status_code=201,
    response_model=SignatureView,
    responses={
        **NOT_FOUND,
        **PASSWORD_ASKED,
        409: {"description": "QC not passed, record not intact or not weighed"},
    },
    summary="Release a weighed batch (pharmacist, four eyes); answered with the signature",
)
def post_release(
    request: Request,
    batch_number: str,
    releasing: ReleaseRequest,
    user: Releaser,
    clock: SignInClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Pharmacists who made no step of this batch; the password is asked again."""

    def write(session: Session, signer: signatures.Signer) -> idempotency.Answer:
        signature = release(session, batch_number, signer)
        return idempotency.json_answer(
            201, SignatureView.model_validate(signature).model_dump_json()
        )

    return _with_password(
        request, user, releasing.password, "released", clock, f"release {batch_number}", write
    )


def _with_password(
    request: Request,
    user: User,
    password: str,
    meaning: str,
    clock: lockout.Clock,
    fingerprint_text: str,
    write: Callable[[Session, signatures.Signer], idempotency.Answer],
) -> Response:
    """`write` with the signer once their password passed the sign-in defence (its own
    transaction, recorded whatever the outcome); a retry with the same Idempotency-Key gets the
    first answer without a second signature."""
    store = store_of(request)

    def admitted() -> signatures.Signer:
        return admit_signer(
            store,
            settings_of(request).sign_in,
            user.username,
            password,
            meaning,
            address=client_address(request),
            channel="api",
            clock=clock,
        )

    try:
        return idempotency.create_once(
            store, request, user.username, fingerprint_text.encode(), admitted, write
        )
    except lockout.SignInThrottled as exc:
        return error_response(
            request.url.path,
            429,
            str(exc),
            slug="sign-in-throttled",
            field=exc.field,
            value=exc.value,
            headers={"Retry-After": str(exc.retry_after_s), "Cache-Control": "no-store"},
        )
    except lockout.AccountLocked as exc:
        return error_response(
            request.url.path, 403, str(exc), slug="account-locked", field=exc.field, value=exc.value
        )


@router.get(
    "/{batch_number}/record.pdf",
    response_class=Response,
    responses=PDF,
    summary="The batch record as a PDF",
)
def get_record_pdf(
    request: Request, batch_number: str, user: Reader, session: ReadSessionDep
) -> Response:
    """Any staff member."""
    record = load_record(session, batch_number)
    pharmacy = pharmacy_of(settings_of(request), store_of(request))
    return Response(batch_record_pdf(record, pharmacy), media_type="application/pdf")


@router.get(
    "/{batch_number}/label.pdf",
    response_class=Response,
    responses=PDF,
    summary="The dispensing label as a PDF",
)
def get_label_pdf(
    request: Request, batch_number: str, user: Dispenser, session: ReadSessionDep
) -> Response:
    """Technicians and pharmacists: whoever dispenses the batch."""
    record = load_record(session, batch_number)
    pharmacy = pharmacy_of(settings_of(request), store_of(request))
    return Response(label_pdf(record, pharmacy), media_type="application/pdf")
