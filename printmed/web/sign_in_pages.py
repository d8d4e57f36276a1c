"""The admins' sign-ins page: locked accounts, each with an unlock form that asks for a reason,
and the recent bursts of failed sign-ins by address (printmed.auth.lockout holds the policy).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed.auth import lockout, settings_of, store_of
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action
from printmed.errors import InputError
from printmed.store.models import User
from printmed.web.rendering import render
from printmed.web.session import CheckedForm, PageRoute, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayManageUsers = Annotated[User, page_may(Action.MANAGE_USERS)]


def _page(
    request: Request,
    user: User,
    clock: lockout.Clock,
    *,
    errors: dict[str, str] | None = None,
    reasons: dict[str, str] | None = None,
    notices: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    with store_of(request).read_session() as session:
        found = lockout.alerts(session, settings_of(request).sign_in, clock())
    return render(
        request,
        "sign_ins.html",
        user,
        title="Sign-ins",
        section="sign-ins",
        status_code=status,
        notices=notices,
        alerts=found,
        policy=settings_of(request).sign_in,
        errors=errors or {},
        reasons=reasons or {},
    )


@router.get("/sign-ins")
def sign_ins(request: Request, user: MayManageUsers, clock: SignInClock) -> Response:
    notices = []
    if unlocked := request.query_params.get("unlocked"):
        notices.append(("ok", f"{unlocked} is unlocked and may log in again."))
    return _page(request, user, clock, notices=notices)


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
            notices = [("error", f"{username or 'The account'} {exc.reason}.")]
            return _page(request, user, clock, notices=notices, status=422)
        return _page(
            request,
            user,
            clock,
            errors={username: f"The {exc.field} {exc.reason}."},
            reasons={username: reason},
            status=422,
        )
    return RedirectResponse(f"/sign-ins?unlocked={username}", status_code=303)
