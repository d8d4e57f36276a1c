"""Logging in and out at the bench, and the start page each role lands on.

A failed login says only that the name or password is wrong; the password is never echoed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed.auth import COOKIE_NAME, login, logout, set_session_cookie, settings_of, store_of
from printmed.auth.users import AuthenticationFailed
from printmed.web.rendering import render
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
    request: Request, *, error: str = "", username: str = "", status: int = 200
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
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if not login_csrf_ok(request, str(form.get(CSRF_FIELD, ""))):
        return _login_page(request, error="The login form expired; please try again.", status=403)
    try:
        with store_of(request).session() as session:
            user, token = login(session, username, password)
            role = user.role
    except AuthenticationFailed:
        return _login_page(
            request, error="The username or password is not right.", username=username, status=401
        )
    response = RedirectResponse(START_PAGES.get(role, "/batches"), status_code=303)
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
