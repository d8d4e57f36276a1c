"""The sign-in defence on the pages, in the browser: a computer that keeps failing is told how
long to wait, a locked account is told to ask an admin even with the right password, admins see
a banner on every page and unlock from the sign-ins page with a reason.

A service of its own (a guessing address would hold up the shared one's other tests), with a
small policy from the environment, as a pharmacy would set it. Guessing comes from other
loopback addresses (127.0.0.x); the browser is 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from printmed.store.models import AuditEntry
from tests.web.conftest import PEOPLE, PRINTER, Service, browser_page, running_service, screenshot

POLICY = {
    "PRINTMED_SIGN_IN_ADDRESS_FREE_FAILURES": "2",
    "PRINTMED_SIGN_IN_ACCOUNT_FREE_FAILURES": "4",
    "PRINTMED_SIGN_IN_LOCK_FAILURES": "4",
    "PRINTMED_SIGN_IN_LOCK_ADDRESSES": "2",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with pytest.MonkeyPatch.context() as environment:
        for name, value in POLICY.items():
            environment.setenv(name, value)
        folder = tmp_path_factory.mktemp("sign-in-defence")
        with running_service(Path(folder), f"{PRINTER}:120") as running:
            yield running


@pytest.fixture
def page(browser: Browser, guarded: Service) -> Iterator[Page]:
    with browser_page(browser, guarded.url) as fresh:
        yield fresh


@dataclass(frozen=True)
class Refused:
    """A refused login: the redirect it answered, and the login form that then said why."""

    answer: httpx.Response
    form: httpx.Response


def post_login(service: Service, address: str, username: str, password: str) -> Refused:
    """The login form sent from `address`, as a browser there would (CSRF cookie and field),
    refused: 303 back to the form, which the browser then loads."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=service.url, transport=transport, timeout=30) as browser:
        form = browser.get("/login")
        token = CSRF.search(form.text)
        assert token is not None
        answer = browser.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/login"), answer.text
        return Refused(answer, browser.get("/login"))


def log_in_as(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_computer_that_keeps_failing_is_told_how_long_to_wait(guarded: Service) -> None:
    for name in ("guess-a", "guess-b"):
        failed = post_login(guarded, "127.0.0.5", name, "wrong password")
        assert "The username or password is not right." in failed.form.text
    refused = post_login(guarded, "127.0.0.5", PEOPLE["tess"][0], PEOPLE["tess"][2])
    assert refused.answer.headers["retry-after"] == "1"
    assert "Too many failed logins from this computer. Wait 1 s before trying again." in (
        refused.form.text
    )


def test_a_locked_account_refuses_its_password_until_an_admin_unlocks_it_with_a_reason(
    page: Page, guarded: Service
) -> None:
    # two failures each from two computers: phil locks (and neither computer has to wait yet)
    for address in ("127.0.0.2", "127.0.0.3"):
        for _ in range(2):
            failed = post_login(guarded, address, "phil", "wrong password")
            assert "The username or password is not right." in failed.form.text

    log_in_as(page, "phil", PEOPLE["phil"][2])
    expect(page.locator("#login-error")).to_have_text(
        "This account is locked after repeated failed logins. Ask an administrator to unlock it."
    )
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")

    # a technician sees no alert and no sign-ins page
    log_in_as(page, "tess", PEOPLE["tess"][2])
    page.wait_for_url(re.compile(r".*/prescriptions/new$"))
    expect(page.locator("#sign-in-alert")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign-ins")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    log_in_as(page, "alma", PEOPLE["alma"][2])
    page.wait_for_url(re.compile(r".*/batches$"))
    for path in ("/batches", "/printers"):
        page.goto(path)
        banner = page.locator("#sign-in-alert")
        expect(banner).to_contain_text("1 account locked (phil)")
        expect(banner).to_contain_text("127.0.0.2")
        expect(banner).to_contain_text("127.0.0.3")
    page.get_by_role("link", name="Review sign-ins").click()
    expect(page.get_by_role("heading", name="Sign-ins", exact=True)).to_be_visible()
    bursts = page.get_by_role("region", name="Bursts of failed sign-ins by address")
    expect(bursts.get_by_role("row", name=re.compile(r"127\.0\.0\.2 2 .* phil"))).to_be_visible()
    screenshot(page, "sign-ins-locked")

    page.get_by_role("button", name="Unlock phil").click()
    reason = page.get_by_label("Reason for unlocking phil")
    expect(page.locator("#reason-1-error")).to_have_text("The reason is required for a change.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    reason.fill("Phil confirmed by phone that the failures were not his")
    page.get_by_role("button", name="Unlock phil").click()
    expect(page.get_by_role("status")).to_have_text("phil is unlocked and may log in again.")
    expect(page.get_by_text("No account is locked.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    log_in_as(page, "phil", PEOPLE["phil"][2])
    page.wait_for_url(re.compile(r".*/batches$"))
    with guarded.store.read_session() as session:
        actions = [
            (e.action, e.actor, e.entity_id, e.reason)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            if e.action.startswith("user.")
        ]
    assert actions[-2:] == [
        ("user.lock", "sign-in", "phil", "4 failed sign-ins from 2 addresses"),
        ("user.unlock", "alma", "phil", "Phil confirmed by phone that the failures were not his"),
    ]
