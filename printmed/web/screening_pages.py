"""The pharmacist's clinical screening page: the order as they judge it (patient, dose trail,
maxima, lot, tablet), and the two decisions, screen (password and note) or return (reason).

Every rule is the records package's (`records.screening`); a refusal is shown beside the field
that caused it, or above the forms, and changes nothing; every POST answers 303 back to the page,
a refused one too (printmed.web.refused_form), so a reload sends nothing again. The password goes
through the sign-in defence, as the release page's does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed.auth import store_of
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action
from printmed.errors import InputError
from printmed.jobs.service import get_batch
from printmed.records.screening import (
    check_screenable,
    return_batch,
    screen,
    screening_sheet,
)
from printmed.records.signatures import SCREENED
from printmed.store.models import User
from printmed.web.batch_pages import PASSWORD_REFUSALS, page_signer, signing_refused
from printmed.web.batch_view import load_batch
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import forget_refused, refused_redirect, take_refused
from printmed.web.rendering import problem_page, render
from printmed.web.session import CheckedForm, MayRead, PageRoute, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayScreen = Annotated[User, page_may(Action.SCREEN)]


def _screen_page(
    request: Request,
    user: User,
    batch_number: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The page; `errors` by field name (note, password, reason) are shown beside the field,
    errors[""] above the forms; `values` keep what was typed (never the password)."""
    errors = errors or {}
    with store_of(request).session() as session:
        b = load_batch(session, batch_number)
        sheet = screening_sheet(session, batch_number)
        cannot_screen = ""
        actor = session.get(User, user.id)
        assert actor is not None
        try:
            check_screenable(session, get_batch(session, batch_number), actor)
        except refusals() as exc:
            cannot_screen = sentence(exc)
    return render(
        request,
        "screen.html",
        user,
        title=f"Screen {batch_number}",
        section="batches",
        b=b,
        sheet=sheet,
        can_screen=not cannot_screen,
        cannot_screen=cannot_screen,
        error=errors.get("", ""),
        errors=errors,
        values=values or {},
    )


@router.get("/batches/{batch_number}/screen")
def screen_page(request: Request, batch_number: str, user: MayRead) -> Response:
    refused = take_refused(request)
    try:
        page = _screen_page(
            request, user, batch_number, errors=refused.errors, values=refused.values
        )
    except refusals() as exc:
        return problem_page(
            request,
            user,
            "No such batch",
            sentence(exc),
            status_code=404,
            back="/batches",
            section="batches",
        )
    return forget_refused(request, page)


@router.post("/batches/{batch_number}/screen")
def screen_batch(
    request: Request, batch_number: str, user: MayScreen, form: CheckedForm, clock: SignInClock
) -> Response:
    """Screen with the pharmacist's password and a note: the 'screened' e-signature."""
    note = form.get("note", "")
    page, typed = f"/batches/{batch_number}/screen", {"note": note}
    if not note.strip():  # before the password is counted
        return refused_redirect(
            request, page, {"note": "Write what you checked; nothing was signed."}, typed
        )
    try:
        signer = page_signer(request, user, form.get("password", ""), SCREENED, clock)
        with store_of(request).session() as session:
            screen(session, batch_number, signer, note)
    except PASSWORD_REFUSALS as exc:
        return signing_refused(request, page, exc, values=typed)
    except refusals() as exc:
        field = "note" if isinstance(exc, InputError) and exc.field == "note" else ""
        return refused_redirect(request, page, {field: sentence(exc)}, typed)
    return RedirectResponse(page, status_code=303)


@router.post("/batches/{batch_number}/return")
def return_to_technician(
    request: Request, batch_number: str, user: MayScreen, form: CheckedForm
) -> Response:
    """Return the order to the technician with a reason; it is never queued."""
    reason = form.get("reason", "")
    page, typed = f"/batches/{batch_number}/screen", {"reason": reason}
    try:
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            return_batch(session, batch_number, actor, reason)
    except refusals() as exc:
        if isinstance(exc, InputError) and exc.field == "reason":
            message = "Say what must change; the batch was not returned."
            return refused_redirect(request, page, {"reason": message}, typed)
        return refused_redirect(request, page, {"": sentence(exc)}, typed)
    return RedirectResponse(page, status_code=303)
