"""Logging in and out at the bench, and the start page each role lands on.

A failed login says only that the name or password is wrong; the password is never echoed.
Every attempt goes through the sign-in defence (printmed.auth.lockout): too many recent failures
are told the wait instead (Retry-After), a locked account that an admin must unlock it. Every
POST answers 303: a refused login back to the form, which says why once, the username kept, so
a reload never sends the password again (web.refused_form, bound to the login form's token).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from printmed.auth import COOKIE_NAME, lockout, logout, set_session_cookie, settings_of, store_of
from printmed.auth.dependencies import SignInClock, client_address
from printmed.auth.rules import Action, may
from printmed.auth.sessions import sign_in
from printmed.auth.users import AuthenticationFailed
from printmed.web.pharmacy_pages import pharmacy_unset
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import duration, render
from printmed.web.session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    CheckedForm,
    PageRoute,
    PageUser,
    login_csrf_ok,
    new_login_csrf,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LOGIN = "/login"
START_PAGES = {"technician": "/prescriptions/new", "pharmacist": "/batches", "admin": "/batches"}


@router.get("/")
def start(user: PageUser) -> Response:
    return RedirectResponse(START_PAGES.get(user.role, "/batches"), status_code=303)


def _login_page(request: Request, refused: RefusedForm) -> Response:
    """The login form with a new CSRF token (its cookie and its field); `refused`: a sign-in
    refused, said above the form with the username typed kept (never the password)."""
    token = new_login_csrf()
    request.state.csrf_token = token
    notices = []
    if request.query_params.get("ended"):
        notices.append(("info", "Your session ended after a time without use; log in again."))
    error = refused.errors.get("", "")
    if not error and request.query_params.get("expired"):
        error = "The login form expired; please try again."
    response = render(
        request,
        "login.html",
        None,
        title="Log in",
        notices=notices,
        error=error,
        username=refused.values.get("username", ""),
        idle_minutes=settings_of(request).session_idle_minutes,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path=LOGIN)
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    # a refusal is bound to the login form's token it was sent with (there is no session yet)
    request.state.csrf_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    refused = take_refused(request)
    return forget_refused(request, _login_page(request, refused))


def _refused(
    request: Request, error: str, username: str, headers: dict[str, str] | None = None
) -> Response:
    """303 back to the login form, which says `error` with the username typed (never the
    password: a reload sends nothing again)."""
    return refused_redirect(request, LOGIN, {"": error}, {"username": username}, headers)


@router.post("/login")
async def login_submit(request: Request, clock: SignInClock) -> Response:
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    sent = str(form.get(CSRF_FIELD, ""))
    if not login_csrf_ok(request, sent):
        # nothing to bind a refusal to: the form says so from its address, in its own words
        return RedirectResponse(f"{LOGIN}?expired=1", status_code=303)
    request.state.csrf_token = sent
    attempt = lockout.Attempt(username, client_address(request), "page")
    policy = settings_of(request).sign_in
    try:
        # argon2 and the store block: off the event loop, which keeps serving everyone else
        user, token = await run_in_threadpool(
            sign_in, store_of(request), policy, attempt, password, kind="cookie", clock=clock
        )
    except lockout.SignInThrottled as exc:
        where = "from this computer" if exc.field == "address" else "for this account"
        return _refused(
            request,
            f"Too many failed logins {where}. Wait {duration(exc.retry_after_s)} "
            "before trying again.",
            username,
            {"Retry-After": str(exc.retry_after_s)},
        )
    except lockout.AccountLocked:
        return _refused(
            request,
            "This account is locked after repeated failed logins. "
            "Ask an administrator to unlock it.",
            username,
        )
    except AuthenticationFailed:
        return _refused(request, "The username or password is not right.", username)
    start_page = START_PAGES.get(user.role, "/batches")
    if may(user.role, Action.MANAGE_USERS) and pharmacy_unset(request):
        start_page = "/pharmacy"  # asked once, at the first admin's sign-in
    response = RedirectResponse(start_page, status_code=303)
    set_session_cookie(response, token, request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN)
    return response


@router.post("/logout")
def logout_submit(request: Request, user: PageUser, form: CheckedForm) -> Response:
    with store_of(request).session() as session:
        logout(session, request.cookies.get(COOKIE_NAME, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
