"""/api/v1/lots/{lot}/stock: a material lot's stock ledger (received, used per batch,
remaining) and goods in; /api/v1/batches/{batch}/reconciliation and …/rejected-units: a batch's
units planned, printed, weighed, rejected and released, and the material it drew;
/api/v1/lots/{lot}/calibrations and /api/v1/calibrations/{id}/approval: the calibration loop
(a proposal from weighed released batches, approved by a second pharmacist's password).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from printmed import catalog
from printmed.api import idempotency
from printmed.api.batches import PASSWORD_ASKED
from printmed.api.batches import _with_password as with_password  # the one password path
from printmed.api.dependencies import OwnSiteBatch, ReadSessionDep, SessionDep
from printmed.api.wire import Responses
from printmed.auth import require_action, settings_of
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action
from printmed.jobs import calibration, stock
from printmed.jobs.service import get_batch
from printmed.records import calibration as approvals
from printmed.records import reconciliation, signatures
from printmed.store.models import LotCalibration, User

router = APIRouter(prefix="/api/v1", tags=["lots"], dependencies=[OwnSiteBatch])
Viewer = Annotated[User, Depends(require_action(Action.READ_RECORD))]
Receiver = Annotated[User, Depends(require_action(Action.RECEIVE_STOCK))]
Rejecter = Annotated[User, Depends(require_action(Action.REJECT_UNITS))]
Proposer = Annotated[User, Depends(require_action(Action.PROPOSE_CALIBRATION))]
Approver = Annotated[User, Depends(require_action(Action.APPROVE_CALIBRATION))]
ERRORS: Responses = {
    403: {"description": "the role may not do this"},
    404: {"description": "no such batch"},
    422: {"description": "a value refused, named with the field"},
}


class StockMovement(BaseModel):
    at: str
    kind: str = Field(
        description='"receipt" (goods in), "use" (drawn for a batch at queueing) or "return" '
        "(a draw given back: its batch rejected while queued)"
    )
    grams: float
    batch_number: str | None
    actor: str
    reason: str


class LotStockView(BaseModel):
    """A lot's stock, g: received, used and remaining, and every movement, oldest first."""

    lot: str
    received_g: float
    used_g: float
    remaining_g: float
    entries: list[StockMovement]


class StockReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grams: float = Field(description="quantity received, g (above 0)")
    reason: str = Field(description="e.g. the delivery note; required")


class RejectedUnit(BaseModel):
    unit: int
    reason: str
    actor: str
    at: str


class UnitRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: list[int] = Field(description="unit numbers on the plate, 1 first")
    reason: str


class CalibrationInUse(BaseModel):
    factor: float = Field(description="the lot's calibration factor the batch was designed with")
    calibration_id: int | None = Field(description="the approved calibration it came from")
    named: str


class ReconciliationView(BaseModel):
    """Units and material of one batch, as its record states them (records.reconciliation)."""

    batch_number: str
    planned: int
    printed: int
    weighed: int
    rejected: list[RejectedUnit]
    released: int
    lot: str
    volume_per_tablet_mm3: list[float]
    mass_per_tablet_mg: list[float]
    material_mg: float = Field(description="tablets and the prime line")
    filament_mm: float | None
    paste_ml: float | None
    prime_volume_mm3: float = Field(description="the prime line's volume (on no tablet)")
    prime_mg: float = Field(description="the prime line's material, within material_mg")
    drawn_g: float
    lot_received_g: float
    lot_used_g: float
    lot_remaining_g: float
    calibration: CalibrationInUse
    problems: list[str]
    reconciled: bool


@router.get(
    "/lots/{lot}/stock", response_model=LotStockView, responses=ERRORS, summary="A lot's stock"
)
def lot_stock(lot: str, session: ReadSessionDep, user: Viewer) -> LotStockView:
    """Any staff member; `lot` is the lot number or the formulation id."""
    return LotStockView.model_validate(
        stock.ledger(session, stock.lot_on_file(session, lot), user.site_id).to_dict()
    )


@router.post(
    "/lots/{lot}/stock",
    response_model=LotStockView,
    status_code=201,
    responses=ERRORS,
    summary="Receive stock into a lot",
)
def receive_stock(
    lot: str, body: StockReceipt, session: SessionDep, user: Receiver
) -> LotStockView:
    """Technicians and pharmacists; the reason is recorded with who and when."""
    ledger = stock.receive(session, user, lot, body.grams, body.reason)
    return LotStockView.model_validate(ledger.to_dict())


@router.get(
    "/batches/{batch_number}/reconciliation",
    response_model=ReconciliationView,
    responses=ERRORS,
    summary="A batch's reconciliation",
)
def batch_reconciliation(
    batch_number: str, session: ReadSessionDep, user: Viewer
) -> ReconciliationView:
    """Any staff member."""
    result = reconciliation.reconcile(session, get_batch(session, batch_number))
    return ReconciliationView.model_validate(result.to_dict())


@router.post(
    "/batches/{batch_number}/rejected-units",
    response_model=ReconciliationView,
    status_code=201,
    responses=ERRORS,
    summary="Set units of a printed batch aside, with the reason",
)
def reject_units(
    batch_number: str, body: UnitRejection, session: SessionDep, user: Rejecter
) -> ReconciliationView:
    """Technicians and pharmacists."""
    job = get_batch(session, batch_number, for_update=True)
    reconciliation.reject_units(session, job, user, body.units, body.reason)
    return ReconciliationView.model_validate(reconciliation.reconcile(session, job).to_dict())


class CalibrationView(BaseModel):
    """A calibration factor for a lot on a printer: proposed from a fit, then decided."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    lot: str
    printer: str
    profile_id: str
    factor_before: float
    factor: float
    status: str = Field(description="proposed, approved, declined or superseded")
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    reason: str
    approval_signature: str | None


class ProposalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    printer: str = Field(description="the printer the released batches named")
    profile_id: str


class ProposalAnswer(BaseModel):
    proposed: CalibrationView | None = Field(
        description="the proposal, or null when the factor in use is within the margin"
    )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(description="the approving pharmacist's password, asked again")
    reason: str


@router.get(
    "/lots/{lot}/calibrations",
    response_model=list[CalibrationView],
    responses=ERRORS,
    summary="A lot's calibration factors, newest first",
)
def lot_calibrations(lot: str, session: ReadSessionDep, user: Viewer) -> list[CalibrationView]:
    """Any staff member."""
    number = catalog.formulation(calibration.formulation_of(lot)).lot
    return [CalibrationView.model_validate(c) for c in calibration.of_lot(session, number)]


@router.post(
    "/lots/{lot}/calibrations",
    response_model=ProposalAnswer,
    status_code=201,
    responses=ERRORS,
    summary="Fit the weighed released batches and propose a factor",
)
def propose_calibration(
    request: Request, lot: str, body: ProposalRequest, session: SessionDep, user: Proposer
) -> ProposalAnswer:
    """Technicians and pharmacists. R² below 0.99 (or too few volumes) is a 422 naming it."""
    row = calibration.propose(
        session,
        user,
        calibration.formulation_of(lot),
        body.printer,
        body.profile_id,
        settings_of(request),
    )
    return ProposalAnswer(proposed=CalibrationView.model_validate(row) if row else None)


@router.post(
    "/calibrations/{calibration_id}/approval",
    response_model=CalibrationView,
    status_code=201,
    responses={**ERRORS, **PASSWORD_ASKED},
    summary="Approve a proposed factor (a second pharmacist, password and reason)",
)
def approve_calibration(
    request: Request, calibration_id: int, body: Decision, user: Approver, clock: SignInClock
) -> Response:
    """Pharmacists other than the proposer; later batches of the lot on the printer use it."""

    def write(session: Session, signer: signatures.Signer) -> idempotency.Answer:
        row: LotCalibration = approvals.approve(session, calibration_id, signer, body.reason)
        return idempotency.json_answer(201, CalibrationView.model_validate(row).model_dump_json())

    return with_password(
        request,
        user,
        body.password,
        approvals.APPROVAL_MEANING,
        clock,
        f"approve calibration {calibration_id}",
        write,
    )
