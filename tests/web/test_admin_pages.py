"""The admin's pages in the browser: accounts (add with a password shown once, deactivate and
reactivate with a reason, reset a password) and prescribing systems (register with a secret
shown once, get a token with it, a new secret, revoke); bad input is refused beside its field
and changes nothing; nobody but an admin sees or uses them.

A service of its own: these tests fail sign-ins on purpose (a deactivated account, an old
secret), which the shared service's other tests must not be slowed by.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from printmed.auth.users import create_user, current_key, get_user
from printmed.store.models import ApiClient, AuditEntry, User
from tests.web.conftest import (
    PEOPLE,
    PRINTER,
    Service,
    browser_page,
    log_in,
    log_out,
    running_service,
    screenshot,
)


@pytest.fixture(scope="module")
def admin_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("admin-pages")
    with running_service(Path(folder), f"{PRINTER}:120") as running:
        yield running


@pytest.fixture
def page(browser: Browser, admin_service: Service) -> Iterator[Page]:
    with browser_page(browser, admin_service.url) as fresh:
        yield fresh


def log_in_with(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def trail(service: Service, entity_id: str) -> list[tuple[str, str, str]]:
    """(action, actor, reason) of the audit entries about `entity_id`, in order."""
    with service.store.read_session() as session:
        query = select(AuditEntry).where(AuditEntry.entity_id == entity_id)
        return [(e.action, e.actor, e.reason) for e in session.scalars(query.order_by("seq"))]


def add_account(service: Service, username: str, full_name: str, password: str) -> None:
    with service.store.session() as session:
        create_user(
            session,
            None,
            username=username,
            full_name=full_name,
            role="technician",
            password=password,
        )


def shown_secret(page: Page) -> str:
    secret = page.locator("#shown-once-secret")
    expect(secret).to_have_text(re.compile(r"^[A-Za-z0-9_-]{20,}$"))
    return secret.inner_text()


def client_token(service: Service, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )


def orders_with(service: Service, token: str) -> httpx.Response:
    return httpx.get(
        f"{service.url}/api/v1/prescriptions",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_an_admin_adds_a_user_who_logs_in_with_the_password_shown_once(
    page: Page, admin_service: Service
) -> None:
    log_in(page, "alma")
    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    accounts = page.get_by_role("region", name="Accounts")
    expect(accounts.get_by_role("row")).to_have_count(1 + len(PEOPLE))

    # a name with a space: the message beside the field, nothing added
    page.get_by_label("Username").fill("tina t")
    page.get_by_label("Full name").fill("Tina Technician")
    page.get_by_label("Role").select_option("technician")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#f-username-error")).to_have_text(
        "Username 'tina t' is not 1-64 letters, digits, '.', '-' or '_'."
    )
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Full name")).to_have_value("Tina Technician")
    expect(accounts.get_by_role("row")).to_have_count(1 + len(PEOPLE))

    page.get_by_label("Username").fill("tina")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Add user").click()
    page.wait_for_url(re.compile(r".*/users/tina\?done=added$"))
    expect(page.get_by_role("status")).to_have_text("tina is added as technician.")
    expect(page.get_by_role("heading", name="The password for tina, shown once")).to_be_visible()
    password = shown_secret(page)
    # redirected after the POST; the password went neither in the address nor in clear in the
    # cookie that carried it to this page (which has deleted it)
    assert posted.value.status == 303
    assert password not in (posted.value.headers["location"] + page.url)
    sealed = posted.value.header_value("set-cookie") or ""
    assert sealed.startswith("printmed_shown_once=") and password not in sealed
    assert not [c for c in page.context.cookies() if c["name"] == "printmed_shown_once"]
    screenshot(page, "admin-user-added")

    page.reload()  # shown once: the page after it says nothing of it
    expect(page.locator("#shown-once-secret")).to_have_count(0)
    page.goto("/users")
    tina_row = accounts.get_by_role("row", name=re.compile(r"Tina Technician tina"))
    expect(tina_row).to_contain_text("technician")
    expect(tina_row).to_contain_text("active")
    screenshot(page, "admin-users")  # the README's docs/screenshots/6-users.png
    log_out(page)

    log_in_with(page, "tina", password)
    page.wait_for_url(re.compile(r".*/prescriptions/new$"))
    expect(page.locator(".who .name")).to_have_text("Tina Technician")
    assert trail(admin_service, "tina")[0] == ("user.create", "alma", "account created")


def test_an_admin_deactivates_and_reactivates_a_user_with_a_reason(
    page: Page, admin_service: Service
) -> None:
    add_account(admin_service, "dora", "Dora Dispenser", "dora-bench-password")
    log_in(page, "alma")
    page.goto("/users/dora")

    page.get_by_role("button", name="Deactivate dora").click()
    reason = page.get_by_label("Reason for deactivating")
    expect(page.locator("#active-error")).to_have_text("Reason is required for a change.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    with admin_service.store.read_session() as session:
        assert get_user(session, "dora").active

    reason.fill("Dora left the pharmacy on 27 November")
    page.get_by_role("button", name="Deactivate dora").click()
    page.wait_for_url(re.compile(r".*/users/dora\?done=deactivated$"))
    expect(page.get_by_role("status")).to_have_text("dora is deactivated and may not log in.")
    page.goto("/users")
    expect(page.get_by_role("row", name=re.compile(r"Dora Dispenser dora"))).to_contain_text(
        "deactivated"
    )
    log_out(page)

    log_in_with(page, "dora", "dora-bench-password")
    expect(page.locator("#login-error")).to_have_text("The username or password is not right.")

    log_in(page, "alma")
    page.goto("/users/dora")
    page.get_by_label("Reason for reactivating").fill("Dora is back on the bank staff")
    page.get_by_role("button", name="Reactivate dora").click()
    expect(page.get_by_role("status")).to_have_text("dora is active again and may log in.")
    assert [e for e in trail(admin_service, "dora") if e[0] == "user.active"] == [
        ("user.active", "alma", "Dora left the pharmacy on 27 November"),
        ("user.active", "alma", "Dora is back on the bank staff"),
    ]


def test_an_admin_resets_a_password_and_the_account_gets_a_new_signing_key(
    page: Page, admin_service: Service
) -> None:
    add_account(admin_service, "reto", "Reto Forgetful", "reto-forgotten-password")
    with admin_service.store.read_session() as session:
        old_key = current_key(session, get_user(session, "reto"))
        assert old_key is not None
    log_in(page, "alma")
    page.goto("/users/reto")
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator("#reset-error")).to_have_text("Reason is required for a change.")

    page.get_by_label("Reason for the reset").fill("Reto forgot it; identity checked in person")
    page.get_by_role("button", name="Reset password").click()
    page.wait_for_url(re.compile(r".*/users/reto\?done=reset$"))
    expect(
        page.get_by_role("heading", name="The new password for reto, shown once")
    ).to_be_visible()
    password = shown_secret(page)
    log_out(page)

    log_in_with(page, "reto", password)
    page.wait_for_url(re.compile(r".*/prescriptions/new$"))
    with admin_service.store.read_session() as session:
        new_key = current_key(session, get_user(session, "reto"))
        assert new_key is not None and new_key.id != old_key.id
    assert ("user.password", "alma", "Reto forgot it; identity checked in person") in trail(
        admin_service, "reto"
    )


def test_a_prescribing_system_gets_a_token_with_its_secret_until_rotated_and_revoked(
    page: Page, admin_service: Service
) -> None:
    log_in(page, "alma")
    page.get_by_role("link", name="Prescribing systems").click()
    expect(page.get_by_role("heading", name="Prescribing systems", exact=True)).to_be_visible()

    page.get_by_label("Client id").fill("ward-epma")
    page.get_by_label("Name", exact=True).fill("Ward ePMA")
    for box in page.get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#f-scopes-error")).to_have_text(
        "Permissions must name at least one of prescriptions.write, prescriptions.read."
    )
    expect(page.get_by_label("Client id")).to_have_value("ward-epma")
    expect(page.get_by_text("No prescribing system is registered.")).to_be_visible()
    with admin_service.store.read_session() as session:
        assert session.scalar(select(ApiClient)) is None

    page.get_by_role("checkbox", name=re.compile(r"prescriptions\.read")).check()
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r".*/clients/ward-epma\?done=added$"))
    expect(page.get_by_role("status")).to_have_text("ward-epma is registered.")
    first_secret = shown_secret(page)
    screenshot(page, "admin-client-registered")

    issued = client_token(admin_service, "ward-epma", first_secret)
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "prescriptions.read"
    first_token = issued.json()["access_token"]
    assert orders_with(admin_service, first_token).status_code == 200

    page.get_by_role("button", name="New secret").click()
    expect(page.locator("#rotate-error")).to_have_text("Reason is required for a change.")
    page.get_by_label("Reason for a new secret").fill("yearly rotation")
    page.get_by_role("button", name="New secret").click()
    page.wait_for_url(re.compile(r".*/clients/ward-epma\?done=rotated$"))
    second_secret = shown_secret(page)
    assert second_secret != first_secret
    assert client_token(admin_service, "ward-epma", first_secret).status_code == 401
    second_token = client_token(admin_service, "ward-epma", second_secret).json()["access_token"]
    assert orders_with(admin_service, second_token).status_code == 200

    page.get_by_label("Reason for revoking").fill("ward moved to the new ePMA")
    page.get_by_role("button", name="Revoke ward-epma").click()
    page.wait_for_url(re.compile(r".*/clients/ward-epma\?done=revoked$"))
    expect(page.get_by_role("status")).to_have_text(
        "ward-epma is revoked: its secret and its tokens are refused."
    )
    expect(page.locator("#shown-once-secret")).to_have_count(0)
    assert client_token(admin_service, "ward-epma", second_secret).status_code == 401
    assert orders_with(admin_service, second_token).status_code == 401
    assert [(action, reason) for action, _, reason in trail(admin_service, "ward-epma")] == [
        ("client.create", "prescribing system registered"),
        ("client.secret", "yearly rotation"),
        ("client.active", "ward moved to the new ePMA"),
    ]


def test_only_an_admin_sees_or_uses_the_admin_pages(page: Page, admin_service: Service) -> None:
    log_in(page, "phil")
    expect(page.get_by_role("link", name="Users", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Prescribing systems")).to_have_count(0)
    for path in ("/users", "/users/tess", "/clients"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("alert")).to_have_text(
            "Your role (pharmacist) may not manage users and prescribing systems."
        )
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    posted = page.request.post(
        "/users",
        form={"csrf_token": token, "username": "mallory", "full_name": "M", "role": "admin"},
    )
    assert posted.status == 403
    posted = page.request.post(
        "/users/tess/password", form={"csrf_token": token, "reason": "taking over"}
    )
    assert posted.status == 403
    with admin_service.store.read_session() as session:
        assert session.scalar(select(User).where(User.username == "mallory")) is None
    assert not [e for e in trail(admin_service, "tess") if e[0] == "user.password"]
