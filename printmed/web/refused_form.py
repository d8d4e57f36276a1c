"""A refused form carried across Post/Redirect/Get: the sentence beside each field and what was
typed (never a password), from the POST that refused it to the page it came from.

So every POST answers 303, a refused one too, and a reload never sends a form again. The refusal
travels in a cookie that lives two minutes, is sent only to the page it is for, opens only in the
session that made it (an HMAC over it, that session's CSRF token and the page) and is deleted by
the page that shows it. A cookie, not the address: a note typed may be clinical, and an address
ends up in history and logs. Signed, not sealed: it holds only what this browser sent and what the
page said about it. Not the process's memory: `serve --workers` may answer the GET in another one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from printmed.auth import settings_of
from printmed.auth.clients import signing_key

COOKIE = "printmed_refused_form"
LIFETIME_S = 120
# a browser keeps 4096 bytes a cookie, its name and attributes included
COOKIE_VALUE_LIMIT = 3_600


@dataclass(frozen=True)
class RefusedForm:
    """What a page shows of a form it refused: the sentence beside each field, by the page's
    name for the field ("" above the form), what was typed, by the same names, and which form
    it was on a page of several (a printer's card, the status or the calibration form)."""

    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    form: str = ""


def _key(request: Request) -> bytes:
    token_key = signing_key(settings_of(request)).encode()
    return hmac.new(token_key, b"printmed refused-form cookie", hashlib.sha256).digest()


def _mac(request: Request, path: str, body: str) -> str:
    # the page session's CSRF token (an HMAC of its session token) and the page: another
    # session, or another page, cannot open it
    bound = f"{request.state.csrf_token} {path} {body}".encode()
    return hmac.new(_key(request), bound, hashlib.sha256).hexdigest()


def _path_of(request: Request) -> str:
    """The path of this page as the browser sent it (percent-encoded), as a cookie's Path is."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else quote(request.url.path)


def _body(refused: RefusedForm) -> str:
    """The refusal as cookie-safe text; what was typed is left out if it cannot fit."""
    for values in (refused.values, {}):
        plain = json.dumps(
            {"errors": refused.errors, "values": values, "form": refused.form, "at": time.time()}
        )
        # no '=' padding: a cookie value with '=' is sent quoted
        body = base64.urlsafe_b64encode(zlib.compress(plain.encode())).decode().rstrip("=")
        if len(body) <= COOKIE_VALUE_LIMIT:
            break
    return body


def _body_for_this_page(request: Request) -> str | None:
    """The cookie's body if it was made for this page in this session."""
    body, _, mac = request.cookies.get(COOKIE, "").partition(".")
    if body and hmac.compare_digest(mac, _mac(request, _path_of(request), body)):
        return body
    return None


def refused_redirect(
    request: Request,
    page: str,
    errors: Mapping[str, str],
    values: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    form: str = "",
) -> Response:
    """303 to `page` (the page the form is on: a path, percent-encoded), carrying the refusal
    for it to show once: `errors` beside their fields, `values` back in them (never pass a
    password), `form` naming the form on a page of several."""
    path = urlsplit(page).path
    body = _body(RefusedForm(dict(errors), dict(values or {}), form))
    response = RedirectResponse(page, status_code=303, headers=dict(headers or {}))
    response.set_cookie(
        COOKIE,
        f"{body}.{_mac(request, path, body)}",
        max_age=LIFETIME_S,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def take_refused(request: Request) -> RefusedForm:
    """The refusal carried to this page in this session, if one came and is fresh (none
    otherwise); the caller must `forget_refused` on its response."""
    body = _body_for_this_page(request)
    if body is None:
        return RefusedForm()
    try:
        padded = body + "=" * (-len(body) % 4)
        opened = json.loads(zlib.decompress(base64.urlsafe_b64decode(padded.encode())))
    except (binascii.Error, ValueError, zlib.error):
        return RefusedForm()
    if time.time() - float(opened["at"]) > LIFETIME_S:
        return RefusedForm()
    return RefusedForm(
        {str(k): str(v) for k, v in opened["errors"].items()},
        {str(k): str(v) for k, v in opened["values"].items()},
        str(opened["form"]),
    )


def forget_refused(request: Request, response: Response) -> Response:
    """Delete this page's cookie (shown now, or stale), so a reload shows the page afresh."""
    if _body_for_this_page(request) is not None:
        response.delete_cookie(COOKIE, path=_path_of(request), httponly=True, samesite="strict")
    return response
