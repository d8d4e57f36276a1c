"""A refused form carried across Post/Redirect/Get: the sentence beside each field and what was
typed (never a password), from the POST that refused it to the page it came from.

So every POST answers 303, a refused one too, and a reload never sends a form again. The refusal
travels in a cookie that lives two minutes, is sent only to the page it is for, opens only in the
session that made it (an HMAC over it, that session's CSRF token and the page; before sign-in,
the login form's own CSRF token) and is deleted by the page that shows it. A cookie, not the
address: a note typed may be clinical, and an address ends up in history and logs. Signed, not
sealed: it holds only what this browser sent and what the page said about it.

A long form may not fit in a cookie (a browser keeps about 4 kB of one): then the refusal is kept
in the data folder, sealed (AES-256-GCM, bound to the session and the page, key from the
service's token key, which is kept outside that folder), under a random id the cookie carries;
the page that shows it deletes it, and what is older than the cookie's lifetime is swept away.
The data folder, not the process's memory: `serve --workers` may answer the GET in another
process, as it may serve an uploaded shape kept there by the live check.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from printmed.auth import settings_of
from printmed.auth.clients import signing_key

COOKIE = "printmed_refused_form"
LIFETIME_S = 120
# a browser keeps 4096 bytes a cookie, its name and attributes included
COOKIE_VALUE_LIMIT = 3_600
KEPT_FOLDER = "refused-forms"  # under the data folder: refusals too long for a cookie
KEPT = "~"  # a cookie body that names a kept refusal (never in URL-safe base64)
KEPT_ID = re.compile(r"[A-Za-z0-9_-]{32}")
NONCE_BYTES = 12


@dataclass(frozen=True)
class RefusedForm:
    """What a page shows of a form it did not take (refused, or awaiting confirmation): the
    sentence beside each field, by the page's name for the field ("" above the form), what was
    typed, by the same names, which form it was on a page of several (a printer's card, the
    status or the calibration form), and what else the page said of what was typed (`notes`,
    e.g. the tablet the prescription form had worked out)."""

    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    form: str = ""
    notes: dict[str, str] = field(default_factory=dict)


def _key(request: Request, purpose: bytes) -> bytes:
    token_key = signing_key(settings_of(request)).encode()
    return hmac.new(token_key, purpose, hashlib.sha256).digest()


def _bound(request: Request, path: str) -> bytes:
    # the page session's CSRF token (an HMAC of its session token; the login form's token before
    # sign-in) and the page: another session, or another page, cannot open it
    token = getattr(request.state, "csrf_token", "")
    if not token:
        raise RuntimeError("a refused form is bound to a CSRF token; this request has none")
    return f"{token} {path}".encode()


def _mac(request: Request, path: str, body: str) -> str:
    bound = _bound(request, path) + b" " + body.encode()
    key = _key(request, b"printmed refused-form cookie")
    return hmac.new(key, bound, hashlib.sha256).hexdigest()


def _path_of(request: Request) -> str:
    """The path of this page as the browser sent it (percent-encoded), as a cookie's Path is."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else quote(request.url.path)


def _kept_folder(request: Request) -> Path:
    return settings_of(request).data_dir / KEPT_FOLDER


def _sweep(folder: Path, now: float) -> None:
    """Forget the kept refusals no cookie can name any more (older than a cookie lives)."""
    for kept in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another process swept it first
            if now - kept.stat().st_mtime > LIFETIME_S:
                kept.unlink()


def _keep(request: Request, path: str, packed: bytes) -> str:
    """Keep `packed` sealed in the data folder; the cookie body that names it."""
    folder = _kept_folder(request)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sweep(folder, time.time())
    kept_id = secrets.token_urlsafe(24)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key(request, b"printmed refused-form kept")).encrypt(
        nonce, packed, _bound(request, path)
    )
    partial = folder / f"{kept_id}.part"
    partial.write_bytes(nonce + sealed)
    partial.replace(folder / kept_id)
    return KEPT + kept_id


def _take_kept(request: Request, kept_id: str) -> bytes | None:
    """The refusal kept under `kept_id` for this page, deleted as it is read (None: gone)."""
    if not KEPT_ID.fullmatch(kept_id):
        return None
    kept = _kept_folder(request) / kept_id
    try:
        raw = kept.read_bytes()
        kept.unlink()
    except FileNotFoundError:  # shown already, swept, or kept on another machine
        return None
    try:
        return AESGCM(_key(request, b"printmed refused-form kept")).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(request, _path_of(request))
        )
    except (InvalidTag, ValueError):
        return None


def _body(request: Request, path: str, refused: RefusedForm) -> str:
    """The refusal as cookie-safe text: itself, compressed, or the id it is kept under."""
    plain = json.dumps(
        {
            "errors": refused.errors,
            "values": refused.values,
            "form": refused.form,
            "notes": refused.notes,
            "at": time.time(),
        }
    )
    packed = zlib.compress(plain.encode())
    # no '=' padding: a cookie value with '=' is sent quoted
    body = base64.urlsafe_b64encode(packed).decode().rstrip("=")
    return body if len(body) <= COOKIE_VALUE_LIMIT else _keep(request, path, packed)


def _sent(request: Request) -> list[str]:
    """Every value of the cookie the browser sent: a page under another's path (/printers and
    /printers/register) may be sent both, and only one is for it."""
    found = []
    for part in request.headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            found.append(value.strip('"'))
    return found


def _body_for_this_page(request: Request) -> str | None:
    """The body of the cookie made for this page in this session, if one was sent."""
    if not getattr(request.state, "csrf_token", ""):
        return None  # no session, no login form: nothing can be opened here
    path = _path_of(request)
    for cookie in _sent(request):
        body, _, mac = cookie.rpartition(".")
        if body and hmac.compare_digest(mac, _mac(request, path, body)):
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
    notes: Mapping[str, str] | None = None,
) -> Response:
    """303 to `page` (the page the form is on: a path, percent-encoded, maybe with a query),
    carrying the refusal for it to show once: `errors` beside their fields, `values` back in
    them (never pass a password), `form` naming the form on a page of several, `notes` what
    else the page said of what was typed."""
    path = urlsplit(page).path
    refused = RefusedForm(dict(errors), dict(values or {}), form, dict(notes or {}))
    body = _body(request, path, refused)
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
    request.state.refused_form_sent = True  # shown or stale: forget_refused deletes it
    try:
        if body.startswith(KEPT):
            packed = _take_kept(request, body.removeprefix(KEPT))
            if packed is None:
                return RefusedForm()
        else:
            packed = base64.urlsafe_b64decode((body + "=" * (-len(body) % 4)).encode())
        opened = json.loads(zlib.decompress(packed))
    except (binascii.Error, ValueError, zlib.error):
        return RefusedForm()
    if time.time() - float(opened["at"]) > LIFETIME_S:
        return RefusedForm()
    return RefusedForm(
        {str(k): str(v) for k, v in opened["errors"].items()},
        {str(k): str(v) for k, v in opened["values"].items()},
        str(opened["form"]),
        {str(k): str(v) for k, v in opened.get("notes", {}).items()},
    )


def forget_refused(request: Request, response: Response) -> Response:
    """Delete this page's cookie (shown now, or stale), so a reload shows the page afresh."""
    if getattr(request.state, "refused_form_sent", False) or _body_for_this_page(request):
        response.delete_cookie(COOKIE, path=_path_of(request), httponly=True, samesite="strict")
    return response
