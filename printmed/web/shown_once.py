"""A secret shown once on the page a form redirects to: a new account's password, a prescribing
system's client secret. Post/Redirect/Get, and the secret is in no URL and in no table.

The POST seals the secret (AES-256-GCM, key derived from the service's token key) into a cookie
that lives two minutes, is sent only to the page it is for and opens only in the session that
made it; that page opens it, shows it and deletes the cookie, so a reload shows it no more.
Why a sealed cookie: a URL ends up in history and logs; the store keeps only hashes of
secrets; and the process's memory is not shared by the service's workers (`serve --workers`),
so the GET after the redirect may be answered by another process than the POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request, Response

from printmed.auth import settings_of
from printmed.auth.clients import signing_key

COOKIE = "printmed_shown_once"
LIFETIME_S = 120
NONCE_BYTES = 12


@dataclass(frozen=True)
class OneTimeSecret:
    """What the page says it is (`password for tina`) and the secret itself."""

    what: str
    secret: str


def _key(request: Request) -> bytes:
    token_key = signing_key(settings_of(request)).encode()
    return hmac.new(token_key, b"printmed shown-once cookie", hashlib.sha256).digest()


def _bound_to(request: Request, path: str) -> bytes:
    # the page session's CSRF token (an HMAC of its session token) and the page: another
    # session, or another page, cannot open it
    return f"{request.state.csrf_token} {path}".encode()


def show_once(request: Request, response: Response, path: str, shown: OneTimeSecret) -> None:
    """Seal `shown` into the cookie for the page at `path` (the one `response` redirects to)."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps({"what": shown.what, "secret": shown.secret, "at": time.time()})
    sealed = AESGCM(_key(request)).encrypt(nonce, plain.encode(), _bound_to(request, path))
    response.set_cookie(
        COOKIE,
        base64.urlsafe_b64encode(nonce + sealed).decode(),
        max_age=LIFETIME_S,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def take_shown_once(request: Request) -> OneTimeSecret | None:
    """The secret sealed for this page in this session, if one came and is fresh (None
    otherwise); the caller must `forget_shown_once` on its response."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    try:
        raw = base64.urlsafe_b64decode(cookie.encode())
        plain = AESGCM(_key(request)).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound_to(request, request.url.path)
        )
    except (ValueError, InvalidTag):
        return None
    opened = json.loads(plain)
    if time.time() - float(opened["at"]) > LIFETIME_S:
        return None
    return OneTimeSecret(str(opened["what"]), str(opened["secret"]))


def forget_shown_once(request: Request, response: Response) -> None:
    """Delete the cookie of this page (shown now, or stale)."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=request.url.path, httponly=True, samesite="strict")
