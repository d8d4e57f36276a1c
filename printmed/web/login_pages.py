"""Logging in and out at the bench, and the start page each role lands on.

A failed login says only that the name or password is wrong; the password is never echoed.
Every attempt goes through the sign-in defence (printmed.auth.lockout): too many recent failures
answer with the wait instead (429), a locked account says an admin must unlock it (403).
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
START_PAGES = {"technician": "/prescriptions/new", "pharmacist": "/batches", "admin": "/batches"}


@router.get("/")
def start(user: PageUser) -> Response:
    return RedirectResponse(START_PAGES.get(user.role, "/batches"), status_code=303)


def _login_page(
    request: Request,
    *,
    error: str = "",
    username: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = new_login_csrf()
    request.state.csrf_token = token
    notices = []
    if request.query_params.get("ended"):
        notices.append(("info", "Your session ended after a time without use; log in again."))
    response = render(
        request,
        "login.html",
        None,
        title="Log in",
        status_code=status,
        notices=notices,
        error=error,
        username=username,
        idle_minutes=settings_of(request).session_idle_minutes,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login")
    response.headers.update(headers or {})
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login_submit(request: Request, clock: SignInClock) -> Response:
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if not login_csrf_ok(request, str(form.get(CSRF_FIELD, ""))):
        return _login_page(request, error="The login form expired; please try again.", status=403)
    attempt = lockout.Attempt(username, client_address(request), "page")
    policy = settings_of(request).sign_in
    try:
        # argon2 and the store block: off the event loop, which keeps serving everyone else
        user, token = await run_in_threadpool(
            sign_in, store_of(request), policy, attempt, password, kind="cookie", clock=clock
        )
    except lockout.SignInThrottled as exc:
        where = "from this computer" if exc.field == "address" else "for this account"
        return _login_page(
            request,
            error=f"Too many failed logins {where}. Wait {duration(exc.retry_after_s)} "
            "before trying again.",
            username=username,
            status=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except lockout.AccountLocked:
        return _login_page(
            request,
            error="This account is locked after repeated failed logins. "
            "Ask an administrator to unlock it.",
            username=username,
            status=403,
        )
    except AuthenticationFailed:
        return _login_page(
            request, error="The username or password is not right.", username=username, status=401
        )
    start_page = START_PAGES.get(user.role, "/batches")
    if may(user.role, Action.MANAGE_USERS) and pharmacy_unset(request):
        start_page = "/pharmacy"  # asked once, at the first admin's sign-in
    response = RedirectResponse(start_page, status_code=303)
    set_session_cookie(response, token, request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(request: Request, user: PageUser, form: CheckedForm) -> Response:
    with store_of(request).session() as session:
        logout(session, request.cookies.get(COOKIE_NAME, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
