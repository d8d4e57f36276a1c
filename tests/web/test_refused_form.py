"""A refused form carried across its redirect (printmed.web.refused_form): shown on the page it
came from, in the session that sent it, once; another session or another page opens nothing;
what was typed is left out when it cannot fit in a cookie, the refusal never is."""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import Request, Response

from printmed.settings import load_settings
from printmed.web.refused_form import (
    COOKIE,
    RefusedForm,
    forget_refused,
    refused_redirect,
    take_refused,
)

SESSION = "csrf-token-of-one-page-session"


@pytest.fixture
def app(tmp_path: Path) -> SimpleNamespace:
    settings = load_settings(
        {"PRINTMED_DATA_DIR": str(tmp_path), "PRINTMED_TOKEN_SECRET": "test-secret-not-for-use"}
    )
    return SimpleNamespace(state=SimpleNamespace(settings=settings))


def request(app: SimpleNamespace, path: str, session: str = SESSION, cookie: str = "") -> Request:
    """A page request for `path` in the page session whose CSRF token is `session`."""
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie else [],
        "app": app,
    }
    made = Request(scope)
    made.state.csrf_token = session
    return made


def carried(answer: Response) -> tuple[str, str]:
    """The cookie a redirect sets: its value and its path."""
    cookie = SimpleCookie(answer.headers["set-cookie"])[COOKIE]
    return cookie.value, cookie["path"]


def test_the_refusal_is_shown_once_on_the_page_it_came_from(app: SimpleNamespace) -> None:
    posted = request(app, "/lots/LOT-1/stock")
    answer = refused_redirect(
        posted, "/lots/LOT-1", {"grams": "'lots' is not a quantity in g."}, {"reason": "DN 4711"}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/lots/LOT-1")
    value, path = carried(answer)
    assert path == "/lots/LOT-1"  # sent to that page only
    page = request(app, "/lots/LOT-1", cookie=value)
    assert take_refused(page) == RefusedForm(
        {"grams": "'lots' is not a quantity in g."}, {"reason": "DN 4711"}
    )
    shown = forget_refused(page, Response())
    assert f'{COOKIE}=""' in shown.headers["set-cookie"]  # deleted: a reload shows it no more
    assert "Path=/lots/LOT-1" in shown.headers["set-cookie"]


def test_another_session_or_another_page_opens_nothing(app: SimpleNamespace) -> None:
    answer = refused_redirect(
        request(app, "/batches/B1/sign"), "/batches/B1/release", {"password": "Not right."}
    )
    value, _ = carried(answer)
    elsewhere = request(app, "/batches/B2/release", cookie=value)
    other_session = request(app, "/batches/B1/release", session="another-session", cookie=value)
    tampered = request(app, "/batches/B1/release", cookie="x" + value)
    for page in (elsewhere, other_session, tampered):
        assert take_refused(page) == RefusedForm()
        assert "set-cookie" not in forget_refused(page, Response()).headers


def test_what_was_typed_is_left_out_when_it_cannot_fit_but_the_refusal_is_not(
    app: SimpleNamespace,
) -> None:
    note = secrets.token_urlsafe(3000)  # incompressible, larger than a cookie holds
    answer = refused_redirect(
        request(app, "/batches/B1/screen"),
        "/batches/B1/screen",
        {"password": "The password is not right; nothing was signed."},
        {"note": note},
    )
    value, _ = carried(answer)
    assert len(value) < 4000
    assert take_refused(request(app, "/batches/B1/screen", cookie=value)) == RefusedForm(
        {"password": "The password is not right; nothing was signed."}
    )
