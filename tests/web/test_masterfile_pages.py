"""The master-file pages and the control site's overview, in Chromium: a technician proposes a
lot's change (a refused value told beside its field, nothing recorded), a pharmacist holding the
control-site role approves it with her password; the overview is hers alone.

A service of its own: an approved change alters every later batch of the lot, which the shared
service's other tests must not see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from printmed.auth.users import create_user, get_user
from printmed.records import sites
from printmed.store.models import MasterVersion
from tests.web.conftest import (
    PRINTER,
    Service,
    browser_page,
    log_in,
    log_out,
    running_service,
    screenshot,
)

LOT = "isoleucine-paste-20"
CORA = ("cora", "Cora Control", "cora-control-password")


@pytest.fixture(scope="module")
def control_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose pharmacist cora holds the control-site role (granted by alma)."""
    with running_service(tmp_path_factory.mktemp("printmed-master"), f"{PRINTER}:120") as running:
        username, full_name, password = CORA
        with running.store.session() as session:
            create_user(
                session,
                None,
                username=username,
                full_name=full_name,
                role="pharmacist",
                password=password,
            )
            admin = get_user(session, "alma")
            sites.set_control_role(session, admin, username, True, "the control-site pharmacist")
        yield running


@pytest.fixture
def master_page(browser: Browser, control_service: Service) -> Iterator[Page]:
    with browser_page(browser, control_service.url) as fresh:
        yield fresh


def log_in_as_cora(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(CORA[0])
    page.get_by_label("Password").fill(CORA[2])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/(prescriptions/new|batches)$"))


def versions_of(service: Service, key: str) -> int:
    with service.store.read_session() as session:
        count = session.scalar(
            select(func.count()).select_from(MasterVersion).where(MasterVersion.key == key)
        )
    return int(count or 0)


def test_a_technician_proposes_and_a_control_site_pharmacist_approves(
    master_page: Page, control_service: Service
) -> None:
    page = master_page
    log_in(page, "tess")
    page.get_by_role("link", name="Master file", exact=True).click()
    expect(page.get_by_role("heading", name="Master file", exact=True)).to_be_visible()
    page.locator(f'tr[data-document="lot/{LOT}"]').get_by_role("link", name=LOT).click()
    page.wait_for_url(re.compile(rf".*/master-file/documents/lot/{LOT}$"))
    before = versions_of(control_service, LOT)

    # a density of 0 is refused beside its field; nothing is proposed
    page.get_by_label("density_g_cm3").fill("0")
    page.get_by_label("Reason").fill("new supplier's paste")
    page.get_by_role("button", name="Propose change").click()
    expect(page.locator("#mf-density-g-cm3-error")).to_contain_text("nothing was proposed")
    expect(page.locator("#mf-density-g-cm3-error")).to_contain_text("density_g_cm3")
    expect(page.get_by_label("density_g_cm3")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Reason")).to_have_value("new supplier's paste")
    expect(page).to_have_url(re.compile(rf".*/master-file/documents/lot/{LOT}$"))  # no resend
    screenshot(page, "master-file-refused")
    assert versions_of(control_service, LOT) == before

    page.get_by_label("density_g_cm3").fill("1.05")  # as it was
    page.get_by_label("loading_percent_w_w").fill("21")
    page.get_by_role("button", name="Propose change").click()
    page.wait_for_url(re.compile(r".*/master-file/versions/\d+\?done=proposed$"))
    version_id = int(re.findall(r"/versions/(\d+)", page.url)[0])
    expect(page.locator("[data-status]")).to_have_text("proposed")
    expect(page.locator("table.difference tbody tr")).to_have_count(1)
    changed = page.locator('tr[data-path="loading_percent_w_w"] td')
    expect(changed).to_have_text(["loading_percent_w_w", "20.0", "21.0"])
    expect(page.get_by_role("button", name="Approve and sign")).to_have_count(0)  # not hers
    log_out(page)

    log_in_as_cora(page)
    expect(page.get_by_role("link", name="Overview", exact=True)).to_be_visible()
    page.goto(f"/master-file/versions/{version_id}")
    page.locator("#approve-reason").fill("supplier's certificate checked")
    page.locator("#approve-password").fill("not her password")
    page.get_by_role("button", name="Approve and sign").click()
    expect(page.locator("#approve-password-error")).to_have_text(
        "The password is not right; nothing was signed."
    )
    expect(page).to_have_url(re.compile(rf".*/master-file/versions/{version_id}$"))  # no resend
    expect(page.locator("#approve-reason")).to_have_value("supplier's certificate checked")
    page.locator("#approve-password").fill(CORA[2])
    page.get_by_role("button", name="Approve and sign").click()
    page.wait_for_url(re.compile(rf".*/master-file/versions/{version_id}\?done=approved$"))
    expect(page.locator("[data-status]")).to_have_text("approved")
    screenshot(page, "master-file-approved")
    with control_service.store.read_session() as session:
        approved = session.get(MasterVersion, version_id)
        assert approved is not None
        assert (approved.status, approved.proposed_by, approved.decided_by) == (
            "approved",
            "tess",
            "cora",
        )
        assert approved.approval_signature
        statuses = session.scalars(
            select(MasterVersion.status)
            .where(MasterVersion.key == LOT)
            .order_by(MasterVersion.version)
        ).all()
        assert list(statuses) == ["superseded", "approved"]
    page.goto(f"/master-file/documents/lot/{LOT}")
    screenshot(page, "master-file-document")


def test_the_overview_is_for_the_control_site_role_alone(
    master_page: Page, control_service: Service, tmp_path: Path
) -> None:
    page = master_page
    log_in(page, "phil")
    expect(page.get_by_role("link", name="Overview", exact=True)).to_have_count(0)
    answer = page.goto("/overview")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("control-site role")
    log_out(page)

    log_in_as_cora(page)
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page.get_by_role("heading", name="Overview of every site")).to_be_visible()
    expect(page.locator('tr[data-site="main"]')).to_contain_text("Main pharmacy")
    expect(
        page.get_by_role("region", name="Master-file changes awaiting a decision")
    ).to_be_visible()
    screenshot(page, "overview")
    with page.expect_download() as download:
        page.goto("/master-file")
        page.get_by_role("link", name="Signed export (PDF)").click()
    saved = tmp_path / "master-file.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    log_out(page)

    log_in(page, "alma")
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("link", name="Sites", exact=True).click()
    expect(page.locator('tr[data-site="main"]')).to_contain_text("cora")
    page.get_by_label("Code").fill("ward-b")
    page.get_by_label("Name").fill("Ward B clinic")
    page.get_by_role("button", name="Add site").click()
    expect(page.locator("#site-code-error")).to_contain_text("SQLite")
    expect(page.locator("tr[data-site]")).to_have_count(1)
    screenshot(page, "sites")
