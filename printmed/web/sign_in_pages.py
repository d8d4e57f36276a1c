"""The admins' sign-ins page: locked accounts, each with an unlock form that asks for a reason,
and the recent bursts of failed sign-ins by address (printmed.auth.lockout holds the policy).
Unlocking answers 303, refused or not: back to the page, which says why beside the reason.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed.auth import lockout, settings_of, store_of
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action
from printmed.errors import InputError
from printmed.store.models import User
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import render
from printmed.web.session import CheckedForm, PageRoute, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayManageUsers = Annotated[User, page_may(Action.MANAGE_USERS)]
PAGE = "/sign-ins"


def _page(
    request: Request,
    user: User,
    clock: lockout.Clock,
    refused: RefusedForm,
) -> Response:
    """The page; `refused`: an unlocking refused, beside the reason of its account
    (errors[username]) or above the page (errors[""]), the reason typed kept."""
    with store_of(request).read_session() as session:
        found = lockout.alerts(session, settings_of(request).sign_in, clock())
    notices = []
    if unlocked := request.query_params.get("unlocked"):
        notices.append(("ok", f"{unlocked[:64]} is unlocked and may log in again."))
    if above := refused.errors.get(""):
        notices.append(("error", above))
    return render(
        request,
        "sign_ins.html",
        user,
        title="Sign-ins",
        section="sign-ins",
        notices=notices,
        alerts=found,
        policy=settings_of(request).sign_in,
        errors=refused.errors,
        reasons=refused.values,
    )


@router.get(PAGE)
def sign_ins(request: Request, user: MayManageUsers, clock: SignInClock) -> Response:
    return forget_refused(request, _page(request, user, clock, take_refused(request)))


@router.post("/sign-ins/unlock")
def unlock_submit(
    request: Request, user: MayManageUsers, form: CheckedForm, clock: SignInClock
) -> Response:
    username = form.get("username", "")
    reason = form.get("reason", "")
    try:
        with store_of(request).session() as session:
            lockout.unlock(session, user, username, reason, clock=clock)
    except InputError as exc:
        if exc.field != "reason":  # unlocked meanwhile, or no such account: no form to show it by
            above = f"{username or 'The account'} {exc.reason}."
            return refused_redirect(request, PAGE, {"": above})
        beside = {username: f"The {exc.field} {exc.reason}."}
        return refused_redirect(request, PAGE, beside, {username: reason})
    return RedirectResponse(f"{PAGE}?unlocked={quote(username)}", status_code=303)
