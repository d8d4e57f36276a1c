"""Who is at the bench: the page session from its cookie, CSRF tokens, the role rule of each
action (printmed.auth.rules, the API's) as a page dependency, and the page route class that
turns "not signed in" into a redirect to the login page and "not your role" into the
not-permitted page instead of the API's JSON documents. The sites rule is held here too: a
page whose path names a `{batch_number}` of a site the user does not see is "No such batch"
(404), as if it did not exist (records.sites).

The CSRF token of a signed-in page is an HMAC of the session token (never stored, never in a
URL); the login form, before any session, uses a double-submit cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from printmed.auth import COOKIE_NAME, settings_of, store_of
from printmed.auth.rules import Action, may_act
from printmed.auth.sessions import token_sha256, user_for_token
from printmed.jobs.service import UnknownBatch
from printmed.records import sites
from printmed.store.models import StaffSession, User
from printmed.web.rendering import not_permitted, problem_page

LOGIN_CSRF_COOKIE = "printmed_login_csrf"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """No live page session: the browser is sent to the login page (`ended`: it timed out)."""

    def __init__(self, ended: bool) -> None:
        super().__init__("sign in")
        self.ended = ended


class CsrfRefused(Exception):
    """A form came without the token of this session (another site, or a stale page)."""


class ActionRefused(Exception):
    """A signed-in user whose role may not take `action`: the not-permitted page (403)."""

    def __init__(self, user: User, action: Action) -> None:
        super().__init__(f"role {user.role} may not {action}")
        self.user = user
        self.action = action


class OtherSiteBatch(Exception):
    """A batch of a site the signed-in user does not see: answered as no such batch (404)."""

    def __init__(self, user: User, batch_number: str) -> None:
        super().__init__(batch_number)
        self.user = user
        self.batch_number = batch_number


class PageRoute(APIRoute):
    """An APIRoute whose LoginRequired becomes a 303 to /login (or, on the printers' event
    stream, an `ended` event naming where to go), ActionRefused and CsrfRefused a 403 page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                target = "/login?ended=1" if exc.ended else "/login"
                response: Response
                if request.headers.get("accept", "").startswith("text/event-stream"):
                    # an EventSource gives up silently on a 401: tell the page, as an event
                    response = Response(
                        ended_event(target),
                        media_type="text/event-stream",
                        headers={"Cache-Control": "no-store"},
                    )
                else:
                    response = RedirectResponse(target, status_code=303)
                if exc.ended:
                    response.delete_cookie(COOKIE_NAME, path="/")
                return response
            except ActionRefused as exc:
                return not_permitted(request, exc.user, str(exc.action))
            except OtherSiteBatch as exc:
                return problem_page(
                    request,
                    exc.user,
                    "No such batch",
                    f"{exc.batch_number} is not a batch in this store.",
                    status_code=404,
                    back="/batches",
                    section="batches",
                )
            except CsrfRefused:
                return Response(
                    "This form has expired or did not come from printmed. Go back, reload the "
                    "page and try again.",
                    status_code=403,
                    media_type="text/plain",
                )

        return route


def ended_event(location: str) -> str:
    """The server-sent event that ends a live page: the browser goes to `location`."""
    return f"event: ended\ndata: {json.dumps({'location': location})}\n\n"


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
    batch_number = request.path_params.get("batch_number")
    if batch_number is not None:
        with store_of(request).read_session() as session:
            try:
                sites.check_visible(session, batch_number, sites.site_scope(user))
            except UnknownBatch:
                raise OtherSiteBatch(user, batch_number) from None
    return user


PageUser = Annotated[User, Depends(page_user)]


def refuse_unless(user: User, action: Action) -> None:
    """ActionRefused (the not-permitted page) unless the rule for `action` allows `user` (and,
    for the control site's actions, the user holds the control-site role)."""
    if not may_act(user, action):
        raise ActionRefused(user, action)


def page_may(action: Action) -> Any:
    """Declares a page route's user and their right: `user: Annotated[User, page_may(A)]` is the
    signed-in user if the rule for action A allows their role, else the not-permitted page
    (403): the same rule as the API's `require_action(A)`, answered as a page."""

    def user_who_may(user: PageUser) -> User:
        refuse_unless(user, action)
        return user

    return Depends(user_who_may)


# the signed-in user who may take the action, by action (the rule: printmed.auth.rules)
MayEnterPrescription = Annotated[User, page_may(Action.ENTER_PRESCRIPTION)]
MayQueue = Annotated[User, page_may(Action.QUEUE)]
MayReject = Annotated[User, page_may(Action.REJECT)]
MayControlPrinters = Annotated[User, page_may(Action.CONTROL_PRINTER)]
MayWeigh = Annotated[User, page_may(Action.WEIGH)]
MaySign = Annotated[User, page_may(Action.SIGN)]
MayRead = Annotated[User, page_may(Action.READ_RECORD)]
MayDownloadLabel = Annotated[User, page_may(Action.DOWNLOAD_LABEL)]


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
