"""What a technician and a pharmacist met walking the pages (issue 15): the tab icon, the menu
on one line at 1280 px with a long name, a refused release said in the pharmacy's words, and
the audit trail naming people (with their usernames).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect
from sqlalchemy import select

from dosing.prescription import parse_prescription
from printmed.auth.rules import Action, NotPermitted, require
from printmed.auth.users import create_user, get_user
from printmed.jobs import service as jobs
from printmed.jobs.making import enter_prescription
from printmed.records.weighing import record_weights
from printmed.store.models import AuditEntry
from tests.web.conftest import (
    HYDROCORTISONE,
    PEOPLE,
    SSE_PRINTER,
    VIEWPORT,
    Service,
    browser_page,
    log_in,
    printed_batch,
    screenshot,
)

LONG_NAMES = {  # 20 characters and more, as a pharmacy's staff list has them
    "bart": ("Bartholomew Ashcroft", "technician"),
    "constance": ("Constance Okonkwo-Baptiste", "pharmacist"),
    "ada": ("Adaeze Fotheringham-Lee", "admin"),
}
PASSWORD = "long-name-password"


@pytest.fixture(scope="module")
def long_named(service: Service) -> dict[str, tuple[str, str]]:
    with service.store.session() as session:
        for username, (full_name, role) in LONG_NAMES.items():
            create_user(
                session,
                None,
                username=username,
                full_name=full_name,
                role=role,
                password=PASSWORD,
            )
    return LONG_NAMES


@pytest.fixture(scope="module")
def entered_batch(service: Service) -> str:
    """A batch tess entered (through the real dose gate): hers to see, not hers to release."""
    with service.store.session() as session:
        tess = get_user(session, "tess")
        rx = parse_prescription(HYDROCORTISONE | {"id": "RX-WEB-0151"})
        batch = enter_prescription(session, tess, rx, printer=SSE_PRINTER, profile_id=SSE_PRINTER)
        return batch.batch_number


@pytest.fixture(scope="module")
def weighed_batch(service: Service) -> str:
    """A batch tess entered, made and weighed: ready for release, but not by her."""
    batch = printed_batch(service, "tess", HYDROCORTISONE | {"id": "RX-WEB-0152"}, SSE_PRINTER)
    with service.store.session() as session:
        tess = get_user(session, "tess")
        record_weights(session, jobs.get_batch(session, batch), tess, [54.1, 53.8, 54.4])
    return batch


@pytest.fixture
def watched(browser: Browser, service: Service) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page and what went wrong on it: console errors, page errors, and any answer of
    the service at 400 or above."""
    problems: list[str] = []
    with browser_page(browser, service.url) as page:

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(f"console: {message.text} at {message.location}")

        def on_response(response: Response) -> None:
            if response.status >= 400:
                problems.append(f"{response.status} {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("response", on_response)
        yield page, problems


def log_in_as(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/(prescriptions/new|batches)$"))


def test_the_first_pages_log_no_console_error_and_show_the_pharmacys_icon(
    watched: tuple[Page, list[str]],
) -> None:
    page, problems = watched
    # the browser asks for the tab's icon on the first page it opens, and gets it
    with page.expect_response(re.compile(r".*/favicon\.(svg|ico)$")) as icon_answer:
        page.goto("/login")
    assert icon_answer.value.status == 200
    log_in(page, "tess")
    for path in ("/prescriptions/new", "/batches", "/printers"):
        page.goto(path)
        page.wait_for_load_state("load")
    icon = page.locator("link[rel=icon]").get_attribute("href") or ""
    assert icon.endswith("/static/favicon.svg")
    svg = page.request.get(icon)
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text()
    # what a PDF's or the API document's tab asks for, which has no page to name its icon
    ico = page.request.get("/favicon.ico")
    assert ico.status == 200 and ico.headers["content-type"] == "image/vnd.microsoft.icon"
    assert ico.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert problems == []


@pytest.mark.parametrize("username", list(LONG_NAMES))
def test_the_menu_stays_on_one_line_at_1280_px_with_a_long_name(
    browser: Browser, service: Service, long_named: dict[str, tuple[str, str]], username: str
) -> None:
    full_name, role = long_named[username]
    assert VIEWPORT["width"] == 1280 and len(full_name) >= 20
    with browser_page(browser, service.url) as page:
        log_in_as(page, username, PASSWORD)
        page.goto("/batches")
        nav = page.get_by_role("navigation", name="Main")
        links = nav.get_by_role("link").all()
        assert len(links) >= 3
        nav_box = nav.bounding_box()
        first = links[0].bounding_box()
        assert nav_box is not None and first is not None
        # one line: the menu is as tall as one of its links, and every link is on that line
        assert nav_box["height"] <= first["height"] + 1, nav_box
        for link in links:
            box = link.bounding_box()
            assert box is not None and abs(box["y"] - first["y"]) < 1, link.inner_text()
        # and the bar is one row: the name and the log-out button beside the menu
        name = page.locator(".who .name")
        expect(name).to_have_text(full_name)
        name_box = name.bounding_box()
        logout = page.get_by_role("button", name="Log out").bounding_box()
        assert name_box is not None and logout is not None
        assert name_box["x"] > nav_box["x"] + nav_box["width"]
        for box in (name_box, logout):
            centre = box["y"] + box["height"] / 2
            assert abs(centre - (nav_box["y"] + nav_box["height"] / 2)) < 4
        # the name is shown whole, not cut short by the menu
        assert name.evaluate("e => e.scrollWidth <= e.clientWidth")
        screenshot(page, f"menu-1280-{role}")


def test_a_technician_is_told_in_the_pharmacys_words_why_they_may_not_release(
    page: Page, service: Service, weighed_batch: str
) -> None:
    log_in(page, "tess")
    page.goto(f"/batches/{weighed_batch}/release")
    expect(page.get_by_role("note")).to_have_text(
        "You are signed in as a technician, and a technician may not release a batch: "
        "only a pharmacist may."
    )
    expect(page.get_by_text("role technician is not pharmacist")).to_have_count(0)
    screenshot(page, "technician-may-not-release")


def test_the_refusal_keeps_its_typed_fields_for_the_api_and_the_command_line(
    service: Service,
) -> None:
    with service.store.read_session() as session:
        tess = get_user(session, "tess")
        with pytest.raises(NotPermitted) as refused:
            require(tess, Action.RELEASE)
    assert (refused.value.field, refused.value.value) == ("user", "tess")
    assert str(refused.value) == (
        "user: 'tess' may not release a batch: role technician is not pharmacist"
    )
    assert refused.value.sentence == (
        "You are signed in as a technician, and a technician may not release a batch: "
        "only a pharmacist may."
    )


def test_the_audit_trail_names_people_and_keeps_their_usernames(
    page: Page, service: Service, entered_batch: str
) -> None:
    log_in(page, "phil")
    page.goto(f"/batches/{entered_batch}/release")
    trail = page.get_by_role("region", name="Audit trail")
    tess = PEOPLE["tess"][0]
    expect(trail.get_by_role("cell", name=f"{tess} (tess)", exact=True).first).to_be_visible()
    created = trail.get_by_role("row", name=re.compile(r"job\.create"))
    expect(created.get_by_role("cell").nth(2)).to_have_text(f"{tess} (tess)")
    expect(trail.get_by_role("cell", name="tess", exact=True)).to_have_count(0)
    # the trail itself still records the username: the names are only how the page shows it
    with service.store.read_session() as session:
        query = select(AuditEntry.actor).where(
            AuditEntry.batch_number == entered_batch, AuditEntry.action == "job.create"
        )
        assert session.scalars(query).all() == ["tess"]
    screenshot(page, "audit-trail-names")
