"""The pharmacy's name at first sign-in (issue 15): on a fresh embedded default (no
PRINTMED_PHARMACY_NAME) an admin is asked for it, a refusal shows beside its field, everyone
else is told to ask an admin, and once set it heads every page and is on every label.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from printmed.auth.users import get_user
from printmed.errors import InputError
from printmed.records import pharmacy
from printmed.settings import DEFAULT_PHARMACY_NAME
from printmed.store.models import AuditEntry
from tests.web.conftest import (
    HYDROCORTISONE,
    PEOPLE,
    PRINTER,
    SSE_PRINTER,
    Service,
    browser_page,
    log_in,
    printed_batch,
    running_service,
    screenshot,
)

NAME = "Riverside Children's Hospital Pharmacy"
ADDRESS = "2 Weir Lane, Riverside RV1 2AB"


@pytest.fixture(scope="module")
def fresh_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The embedded default as first started: nothing names the pharmacy."""
    data_dir = tmp_path_factory.mktemp("printmed-unnamed")
    with running_service(data_dir, f"{PRINTER}:120", pharmacy_name=None) as running:
        yield running


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PEOPLE[username][2])
    page.get_by_role("button", name="Log in").click()


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("   ", "is empty"),
        ("x" * (pharmacy.NAME_MAX_CHARS + 1), "is longer than"),
        ("Riverside\nPharmacy", "control character"),
        ("Riverside\x1b[31m", "control character"),
    ],
)
def test_a_name_empty_too_long_or_with_control_characters_is_refused(
    text: str, reason: str
) -> None:
    with pytest.raises(InputError, match=reason) as refused:
        pharmacy.checked_text("name", text, pharmacy.NAME_MAX_CHARS)
    assert refused.value.field == "name"


def test_the_admin_is_asked_at_first_sign_in_and_the_name_heads_pages_and_labels(
    browser: Browser, fresh_service: Service, tmp_path: Path
) -> None:
    with browser_page(browser, fresh_service.url) as page:
        _sign_in(page, "tess")
        page.wait_for_url(re.compile(r".*/prescriptions/new$"))
        expect(page.get_by_role("status").filter(has_text="ask an administrator")).to_be_visible()
        expect(page.locator(".brand small")).to_have_text(DEFAULT_PHARMACY_NAME)

    with browser_page(browser, fresh_service.url) as page:
        _sign_in(page, "alma")
        page.wait_for_url(re.compile(r".*/pharmacy$"))
        name = page.get_by_label("Pharmacy name", exact=True)
        address = page.get_by_label("Address", exact=True)
        name.fill("")
        address.fill(ADDRESS)
        with page.expect_response(re.compile(r".*/pharmacy$")) as refused:
            page.get_by_role("button", name="Save").click()
        assert refused.value.status == 303  # back to the page: a reload sends nothing
        page.wait_for_url(re.compile(r".*/pharmacy$"))
        expect(page.locator('[data-error-for="name"]')).to_have_text("Pharmacy name is empty.")
        expect(name).to_have_attribute("aria-invalid", "true")
        screenshot(page, "pharmacy-name-asked")

        name.fill(NAME)
        with page.expect_response(re.compile(r".*/pharmacy$")) as saved:
            page.get_by_role("button", name="Save").click()
        assert saved.value.status == 303
        page.wait_for_url(re.compile(r".*/pharmacy\?done=set$"))
        expect(page.locator(".brand small")).to_have_text(NAME)
        expect(page.locator(".site-foot")).to_contain_text(NAME)
        expect(page.get_by_text("not set yet")).to_have_count(0)

    with fresh_service.store.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "pharmacy.set")).one()
        assert (entry.actor, entry.entity) == ("alma", "pharmacy")
        assert NAME in entry.new_json and ADDRESS in entry.new_json

    batch = printed_batch(fresh_service, "tess", HYDROCORTISONE, SSE_PRINTER)
    with browser_page(browser, fresh_service.url) as page:
        log_in(page, "phil")
        expect(page.get_by_text("not set yet")).to_have_count(0)
        label = page.request.get(f"/batches/{batch}/label.pdf")
        assert label.ok
        path = tmp_path / "label.pdf"
        path.write_bytes(label.body())
    text = _pdf_text(path)
    assert NAME in text and ADDRESS in text
    assert "PRINTMED_PHARMACY_NAME" not in text


def test_an_admin_signing_in_where_the_environment_names_the_pharmacy_is_not_asked(
    page: Page, service: Service
) -> None:
    log_in(page, "alma")  # lands on the start page, not /pharmacy
    page.goto("/pharmacy")
    expect(page.get_by_text("Set by the environment")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    with service.store.session() as session:
        assert get_user(session, "alma").role == "admin"
