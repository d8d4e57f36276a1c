"""Sign-in over HTTP: staff bearer tokens (/api/v1/auth) and the OAuth2 client-credentials
token endpoint (/oauth/token) for prescribing systems, answering as RFC 6749 asks.

Both go through the sign-in defence (printmed.auth.lockout): an address or account in its wait
gets 429 with Retry-After, a locked account 403, and every attempt is recorded.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from printmed.api.problems import PROBLEM_JSON, PROBLEM_TYPE, TITLES, error_response
from printmed.auth import clients, lockout, sessions
from printmed.auth.dependencies import (
    NotAuthenticated,
    SignInClock,
    client_address,
    current_principal,
    settings_of,
    store_of,
)
from printmed.auth.principal import CLIENT_PREFIX, Principal

router = APIRouter(tags=["sign-in"])


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class StaffToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    idle_minutes: float = Field(description="the token ends after this long without use")
    username: str
    role: str


class Caller(BaseModel):
    kind: str = Field(description="user or client")
    name: str
    role: str | None
    scopes: list[str]


class ClientTokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    error: str
    error_description: str


@router.post(
    "/api/v1/auth/token",
    response_model=StaffToken,
    responses={
        401: {"description": "wrong username or password"},
        403: {"description": "the account is locked until an admin unlocks it"},
        429: {"description": "too many recent failures: wait Retry-After seconds"},
    },
    summary="Staff sign-in: a bearer token for API use",
)
def staff_token(
    request: Request, credentials: Credentials, clock: SignInClock
) -> StaffToken | JSONResponse:
    """Anyone may call this; the token is a server-side session that ends when idle."""
    settings = settings_of(request)
    attempt = lockout.Attempt(credentials.username, client_address(request), "api")
    try:
        user, token = sessions.sign_in(
            store_of(request),
            settings.sign_in,
            attempt,
            credentials.password,
            kind="bearer",
            clock=clock,
        )
    except lockout.SignInThrottled as exc:
        return _throttled(exc)
    except lockout.AccountLocked as exc:
        return error_response(
            request.url.path,
            403,
            str(exc),
            slug="account-locked",
            field=exc.field,
            value=exc.value,
        )
    return StaffToken(
        access_token=token,
        idle_minutes=settings.session_idle_minutes,
        username=user.username,
        role=user.role,
    )


def _throttled(exc: lockout.SignInThrottled, **oauth: str) -> JSONResponse:
    """429 as a problem document naming the waiting address or account; `oauth` adds RFC 6749's
    members for the token endpoint's clients."""
    body = {
        "type": PROBLEM_TYPE + "sign-in-throttled",
        "title": TITLES[429],
        "status": 429,
        "detail": str(exc),
        "field": exc.field,
        "value": exc.value,
        **oauth,
    }
    headers = {"Retry-After": str(exc.retry_after_s), "Cache-Control": "no-store"}
    return JSONResponse(body, 429, headers=headers, media_type=PROBLEM_JSON)


@router.post(
    "/api/v1/auth/logout",
    status_code=204,
    responses={401: {"description": "no staff token"}},
    summary="End the staff bearer token or session",
)
def staff_logout(
    request: Request,
    who: Annotated[Principal, Depends(current_principal)],
) -> None:
    """Any signed-in staff member; ends the credential this request was made with."""
    if who.kind != "user":
        raise NotAuthenticated("a client token is not a session; it expires on its own")
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2] if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get(sessions.COOKIE_NAME)
    if token:
        with store_of(request).session() as session:
            sessions.logout(session, token)


@router.get("/api/v1/auth/me", response_model=Caller, summary="Who the credentials belong to")
def me(who: Annotated[Principal, Depends(current_principal)]) -> Caller:
    """Any signed-in caller, staff or client."""
    return Caller(kind=who.kind, name=who.name, role=who.role, scopes=sorted(who.scopes))


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Basic"} if status == 401 else None
    return JSONResponse(
        {"error": error, "error_description": description},
        status,
        headers={**(headers or {}), "Cache-Control": "no-store"},
    )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, secret = decoded.partition(":")
    return (name, secret) if sep else None


@router.post(
    "/oauth/token",
    response_model=ClientTokenOut,
    responses={
        400: {"model": OAuthError, "description": "unsupported grant or scope"},
        401: {"model": OAuthError, "description": "unknown client or wrong secret"},
        429: {"description": "too many recent failures from this address: wait Retry-After"},
    },
    summary="OAuth2 client credentials: a signed JWT for a prescribing system",
)
def client_token(
    request: Request,
    clock: SignInClock,
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    scope: Annotated[str | None, Form(max_length=255)] = None,
) -> ClientTokenOut | JSONResponse:
    """Anyone may call this; the client authenticates with its id and secret (form fields or
    HTTP Basic). Scopes: prescriptions.write, prescriptions.read (default: all it was given)."""
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    basic = _basic(request)
    if basic is not None:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        return _oauth_error(401, "invalid_client", "client_id and client_secret are required")
    settings = settings_of(request)
    attempt = lockout.Attempt(CLIENT_PREFIX + client_id, client_address(request), "token")
    name, secret = client_id, client_secret
    try:
        client = lockout.admit(
            store_of(request),
            settings.sign_in,
            attempt,
            lambda session: clients.authenticate_client(session, name, secret),
            clock=clock,
        )
        issued = clients.token_for(settings, client, scope)
    except lockout.SignInThrottled as exc:
        # a problem document, as every 429 of the API, with OAuth's error members as well
        return _throttled(exc, error="slow_down", error_description=str(exc))
    except clients.ClientRefused as exc:
        if exc.field == "scope":
            return _oauth_error(400, "invalid_scope", str(exc))
        return _oauth_error(401, "invalid_client", str(exc))
    return ClientTokenOut(
        access_token=issued.access_token,
        expires_in=issued.expires_in_s,
        scope=" ".join(issued.scopes),
    )
