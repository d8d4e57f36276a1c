"""FastAPI dependencies of sign-in: who is calling, and refusals when they may not.

Every route declares one of `current_principal`, `current_user`, `require_roles(...)` or
`require_scope(...)`; 401 means no valid credentials, 403 valid ones without the right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from printers.interface import Printer
from printmed.auth import clients, lockout, principal, sessions
from printmed.auth.principal import Principal
from printmed.auth.rules import Action, roles_for
from printmed.settings import Settings
from printmed.store import Store
from printmed.store.models import User

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A staff token (POST /api/v1/auth/token) or a client JWT (POST /oauth/token).",
)
cookie_scheme = APIKeyCookie(
    name=sessions.COOKIE_NAME, auto_error=False, description="The pages' session cookie."
)


class NotAuthenticated(HTTPException):
    """401: no credentials, or ones that are unknown, expired or revoked."""

    def __init__(self, detail: str = "sign in or send a valid bearer token") -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPException):
    """403: valid credentials whose role or scopes do not allow this."""

    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def printers_of(request: Request) -> dict[str, Printer]:
    """The printers this process drives, by name (none when workers run elsewhere)."""
    printers: dict[str, Printer] = getattr(request.app.state, "printers", None) or {}
    return printers


def client_address(request: Request) -> str:
    """The address a request came from, as the sign-in defence counts it: uvicorn's, which takes
    X-Forwarded-For only from the proxies FORWARDED_ALLOW_IPS names (default 127.0.0.1)."""
    return request.client.host if request.client else "unknown"


def sign_in_clock() -> lockout.Clock:
    """The clock the sign-in defence reads; tests override this dependency to move time."""
    return lockout.utc_clock


SignInClock = Annotated[lockout.Clock, Depends(sign_in_clock)]


def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """The caller from the bearer token (client JWT or staff token) or the session cookie."""
    settings, store = settings_of(request), store_of(request)
    if bearer is not None and bearer.credentials.count(".") == 2:
        # A client JWT: checking it (and that the client is still active) only reads.
        with store.read_session() as session:
            claims = clients.client_claims(session, settings, bearer.credentials)
        if claims is None:
            raise NotAuthenticated("the client token is invalid, expired or revoked")
        found = principal.client(claims["sub"], claims.get("scope", ""))
        request.state.principal = found.label
        return found
    with store.session() as session:  # a staff session's idle clock restarts: a write
        if bearer is not None:
            token = bearer.credentials
            user = sessions.user_for_token(
                session, token, settings.session_idle_minutes, kind="bearer"
            )
            if user is None:
                raise NotAuthenticated("the bearer token is unknown, ended or idle too long")
            request.state.principal = user.username
            return principal.staff(user, "bearer")
        if cookie:
            user = sessions.user_for_token(
                session, cookie, settings.session_idle_minutes, kind="cookie"
            )
            if user is not None:
                request.state.principal = user.username
                return principal.staff(user, "cookie")
            raise NotAuthenticated("the session has ended; sign in again")
    raise NotAuthenticated()


def current_user(request: Request, who: Annotated[Principal, Depends(current_principal)]) -> User:
    """The signed-in staff member (detached User); 403 for a prescribing system."""
    if who.kind != "user" or who.user_id is None:
        raise Forbidden("only staff may do this; a prescribing system may not")
    with store_of(request).read_session() as session:
        user = session.get(User, who.user_id)
        if user is None:
            raise NotAuthenticated("the account no longer exists")
        return user


def require_roles(*roles: str) -> Callable[..., User]:
    """A dependency giving the staff member if their role is one of `roles`, else 403."""
    allowed = frozenset(roles)

    def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            needs = " or ".join(sorted(allowed))
            raise Forbidden(f"role {user.role} may not do this (needs {needs})")
        return user

    return dependency


def require_action(action: Action) -> Callable[..., User]:
    """A dependency giving the staff member if the rule for `action` allows their role, else
    403 (the pages wrap the same rule in a page of their own)."""
    return require_roles(*sorted(roles_for(action)))


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency giving the caller if it holds `scope` (a client's grant, or a staff role that
    allows the same), else 403."""

    def dependency(who: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not who.holds(scope):
            raise Forbidden(f"{who.label} does not hold the scope {scope}")
        return who

    return dependency
