"""The material lots page: each lot on file with what remains, and one lot's stock ledger
(received, used per batch, remaining) with the goods-in form (grams and a reason) and its
calibration factors per printer.

The rules are `jobs.stock`'s; a refusal is shown beside its field and books nothing; every form
answers 303 back to the lot's page, a refused one too (web.refused_form).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed import catalog
from printmed.auth import store_of
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action, may
from printmed.errors import InputError
from printmed.jobs import calibration, stock
from printmed.records import calibration as approvals
from printmed.store.models import User
from printmed.web.batch_pages import PASSWORD_REFUSALS, page_signer, signing_refused
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import forget_refused, refused_redirect, take_refused
from printmed.web.rendering import problem_page, render
from printmed.web.session import CheckedForm, MayRead, PageRoute, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayReceive = Annotated[User, page_may(Action.RECEIVE_STOCK)]
MayApprove = Annotated[User, page_may(Action.APPROVE_CALIBRATION)]
FIELDS = ("grams", "reason")


def _lots_page(request: Request, user: User) -> Response:
    with store_of(request).read_session() as session:
        named = {f.lot: f for f in catalog.formulations().values()}
        rows: list[dict[str, Any]] = []
        for lot in sorted(set(named) | set(stock.lots_on_file(session))):
            ledger = stock.ledger(session, lot, user.site_id)  # the stock of their site
            f = named.get(lot)
            rows.append(
                {
                    "lot": lot,
                    "formulation": f.id if f else "",
                    "drug": f.drug_name if f else "",
                    "received_g": ledger.received_g,
                    "remaining_g": ledger.remaining_g,
                }
            )
        tracked = stock.stock_tracked(session, user.site_id)
    return render(
        request,
        "lots.html",
        user,
        title="Material lots",
        section="lots",
        rows=rows,
        tracked=tracked,
    )


def _ledger_page(
    request: Request,
    user: User,
    lot: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with store_of(request).read_session() as session:
        ledger = stock.ledger(session, stock.lot_on_file(session, lot), user.site_id)
        factors = calibration.of_lot(session, ledger.lot)
    return render(
        request,
        "lot.html",
        user,
        title=f"Lot {ledger.lot}",
        section="lots",
        ledger=ledger,
        calibrations=factors,
        may_receive=may(user.role, Action.RECEIVE_STOCK),
        may_approve=may(user.role, Action.APPROVE_CALIBRATION),
        errors=errors or {},
        values=values or {},
    )


@router.get("/lots")
def lots_page(request: Request, user: MayRead) -> Response:
    return _lots_page(request, user)


@router.get("/lots/{lot}")
def lot_page(request: Request, lot: str, user: MayRead) -> Response:
    refused = take_refused(request)
    try:
        page = _ledger_page(request, user, lot, errors=refused.errors, values=refused.values)
    except refusals() as exc:
        return problem_page(
            request,
            user,
            "No such lot",
            sentence(exc),
            status_code=404,
            back="/lots",
            section="lots",
        )
    return forget_refused(request, page)


@router.post("/lots/{lot}/stock")
def receive_stock(request: Request, lot: str, user: MayReceive, form: CheckedForm) -> Response:
    """Goods in: grams and a reason; a refusal beside its field, nothing booked."""
    typed = {name: form.get(name, "") for name in FIELDS}
    page = f"/lots/{quote(lot, safe='')}"
    try:
        grams = float(typed["grams"].strip().replace(",", "."))
    except ValueError:
        message = f"{typed['grams']!r} is not a quantity in g; nothing was booked."
        return refused_redirect(request, page, {"grams": message}, typed)
    try:
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            number = stock.receive(session, actor, lot, grams, typed["reason"]).lot
    except refusals() as exc:
        field = exc.field if isinstance(exc, InputError) and exc.field in FIELDS else "grams"
        return refused_redirect(
            request, page, {field: sentence(exc) + "; nothing was booked."}, typed
        )
    return RedirectResponse(f"/lots/{quote(number, safe='')}", status_code=303)


@router.post("/lots/{lot}/calibrations/{calibration_id}/approve")
def approve_calibration(
    request: Request,
    lot: str,
    calibration_id: int,
    user: MayApprove,
    form: CheckedForm,
    clock: SignInClock,
) -> Response:
    """A second pharmacist approves a proposed factor with her password and a reason."""
    reason = form.get("reason", "")
    field = f"calibration-{calibration_id}"
    page, typed = f"/lots/{quote(lot, safe='')}", {field: reason}
    if not reason.strip():  # before the password is counted
        return refused_redirect(
            request, page, {field: "Give the reason for approving; nothing was approved."}, typed
        )
    try:
        signer = page_signer(
            request, user, form.get("password", ""), approvals.APPROVAL_MEANING, clock
        )
        with store_of(request).session() as session:
            approvals.approve(session, calibration_id, signer, reason)
    except PASSWORD_REFUSALS as exc:
        return signing_refused(request, page, exc, field, typed)
    except refusals() as exc:
        return refused_redirect(
            request, page, {field: sentence(exc) + "; nothing was approved."}, typed
        )
    return RedirectResponse(page, status_code=303)
