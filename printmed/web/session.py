"""Who is at the bench: the page session from its cookie, CSRF tokens, and the page route class
that turns "not signed in" into a redirect to the login page instead of a 401 document.

The CSRF token of a signed-in page is an HMAC of the session token (never stored, never in a
URL); the login form, before any session, uses a double-submit cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from printmed.auth import COOKIE_NAME, settings_of, store_of
from printmed.auth.sessions import token_sha256, user_for_token
from printmed.store.models import StaffSession, User

LOGIN_CSRF_COOKIE = "printmed_login_csrf"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """No live page session: the browser is sent to the login page (`ended`: it timed out)."""

    def __init__(self, ended: bool) -> None:
        super().__init__("sign in")
        self.ended = ended


class CsrfRefused(Exception):
    """A form came without the token of this session (another site, or a stale page)."""


class PageRoute(APIRoute):
    """An APIRoute whose LoginRequired becomes a 303 to /login, CsrfRefused a 403 page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                if request.headers.get("accept", "").startswith("text/event-stream"):
                    return Response(status_code=401)
                target = "/login?ended=1" if exc.ended else "/login"
                response = RedirectResponse(target, status_code=303)
                if exc.ended:
                    response.delete_cookie(COOKIE_NAME, path="/")
                return response
            except CsrfRefused:
                return Response(
                    "This form has expired or did not come from printmed. Go back, reload the "
                    "page and try again.",
                    status_code=403,
                    media_type="text/plain",
                )

        return route


def session_live(request: Request, token: str) -> bool:
    """Whether the page session of `token` is still open and not idle, without counting this
    look as use (a page left open on the printers' progress must still time out)."""
    settings = settings_of(request)
    with store_of(request).session() as session:
        row = session.get(StaffSession, token_sha256(token))
        if row is None or row.ended_at is not None:
            return False
        idle = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(row.last_seen_at)
        return idle <= dt.timedelta(minutes=settings.session_idle_minutes)


def csrf_for(session_token: str) -> str:
    """The CSRF token of a page session: HMAC-SHA256 of the session token."""
    return hmac.new(session_token.encode(), b"printmed-page-csrf", hashlib.sha256).hexdigest()


def page_user(request: Request) -> User:
    """The signed-in staff member of the session cookie; LoginRequired otherwise."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        raise LoginRequired(ended=False)
    settings = settings_of(request)
    with store_of(request).session() as session:
        user = user_for_token(session, token, settings.session_idle_minutes, kind="cookie")
    if user is None:
        raise LoginRequired(ended=True)
    request.state.principal = user.username
    request.state.csrf_token = csrf_for(token)
    return user


PageUser = Annotated[User, Depends(page_user)]


async def checked_form(request: Request, user: PageUser) -> dict[str, str]:
    """The posted form of a signed-in user, after its CSRF token is checked."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD, ""))
    if not hmac.compare_digest(sent, request.state.csrf_token):
        raise CsrfRefused()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def login_csrf_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(sent, expected)
