"""A refused form carried across its redirect (printmed.web.refused_form): shown on the page it
came from, in the session that sent it, once; another session or another page opens nothing;
what cannot fit in a cookie is kept sealed in the data folder under an id the cookie names,
shown once too, and swept away once no cookie can name it."""

from __future__ import annotations

import os
import secrets
import time
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import Request, Response

from printmed.settings import load_settings
from printmed.web.refused_form import (
    COOKIE,
    KEPT,
    KEPT_FOLDER,
    LIFETIME_S,
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


def test_what_cannot_fit_in_a_cookie_is_kept_sealed_in_the_data_folder_and_shown_once(
    app: SimpleNamespace, tmp_path: Path
) -> None:
    note = secrets.token_urlsafe(3000)  # incompressible, larger than a cookie holds
    refusal = {"password": "The password is not right; nothing was signed."}
    answer = refused_redirect(
        request(app, "/batches/B1/screen"), "/batches/B1/screen", refusal, {"note": note}
    )
    value, _ = carried(answer)
    assert len(value) < 200 and value.startswith(KEPT)  # the id it is kept under
    (kept,) = (tmp_path / KEPT_FOLDER).iterdir()
    assert note.encode() not in kept.read_bytes()  # sealed, not merely kept
    # another session, or another page, opens nothing (and leaves it for its own page)
    assert take_refused(request(app, "/batches/B1/screen", "other", value)) == RefusedForm()
    assert take_refused(request(app, "/batches/B2/screen", cookie=value)) == RefusedForm()
    page = request(app, "/batches/B1/screen", cookie=value)
    assert take_refused(page) == RefusedForm(refusal, {"note": note})
    assert not kept.exists()  # once
    assert f'{COOKIE}=""' in forget_refused(page, Response()).headers["set-cookie"]
    assert take_refused(request(app, "/batches/B1/screen", cookie=value)) == RefusedForm()


def test_a_kept_refusal_no_cookie_can_name_any_more_is_swept_away(
    app: SimpleNamespace, tmp_path: Path
) -> None:
    def keep(page: str) -> Path:
        refused_redirect(
            request(app, page), page, {"": "no"}, {"note": secrets.token_urlsafe(3000)}
        )
        return max((tmp_path / KEPT_FOLDER).iterdir(), key=lambda kept: kept.stat().st_mtime_ns)

    stale = keep("/lots/A")
    long_ago = time.time() - LIFETIME_S - 1
    os.utime(stale, (long_ago, long_ago))
    fresh = keep("/lots/B")
    assert (stale.exists(), fresh.exists()) == (False, True)


def test_a_page_sent_the_cookie_of_a_page_above_it_too_opens_its_own(app: SimpleNamespace) -> None:
    above, _ = carried(refused_redirect(request(app, "/printers"), "/printers", {"x": "above"}))
    own, _ = carried(
        refused_redirect(request(app, "/printers"), "/printers/register", {"name": "own"})
    )
    scope_cookie = f"{own}; {COOKIE}={above}"  # as a browser sends both: the longer path first
    for cookies in (scope_cookie, f"{above}; {COOKIE}={own}"):
        page = request(app, "/printers/register", cookie=cookies)
        assert take_refused(page) == RefusedForm({"name": "own"})
