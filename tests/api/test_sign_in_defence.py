"""The sign-in defence over HTTP: the staff token endpoint and the OAuth token endpoint answer
429 with Retry-After while an address or account waits, 403 for a locked account (even with the
right password), and admins see the alerts and unlock with a reason. Time is the sign-in clock
dependency, moved by the tests; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from printmed.auth.dependencies import sign_in_clock
from printmed.settings import Settings
from printmed.store import open_store
from printmed.store.models import AuditEntry, SignInAttempt
from tests.api.conftest import PASSWORD, Callers
from tests.moving_clock import MovingClock as Clock

TOKEN = "/api/v1/auth/token"
ALERTS = "/api/v1/auth/sign-in-alerts"
WRONG = "not the password"


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    moved = Clock(dt.datetime.now(dt.UTC))
    app.dependency_overrides[sign_in_clock] = lambda: moved
    yield moved
    app.dependency_overrides.clear()


def from_address(app: FastAPI, address: str) -> TestClient:
    """A caller at `address` (the app's lifespan is run by the `client` fixture)."""
    return TestClient(app, client=(address, 40000))


def staff_token(caller: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    answer = caller.post(TOKEN, json={"username": username, "password": password})
    body = answer.json()
    body["retry_after"] = answer.headers.get("retry-after")
    body["content_type"] = answer.headers["content-type"]
    return answer.status_code, body


def test_sixty_wrong_passwords_for_admin_are_slowed_and_even_the_right_one_waits(
    client: TestClient, clock: Clock
) -> None:
    statuses = [
        client.post(TOKEN, json={"username": "admin", "password": WRONG}).status_code
        for _ in range(60)
    ]
    # three are checked; the other 57 are refused unchecked, so the attacker learns nothing
    assert statuses == [401] * 3 + [429] * 57
    status, body = staff_token(client, "admin", PASSWORD)
    assert status == 429
    assert body["retry_after"] == "1"
    assert body["content_type"] == "application/problem+json"
    assert (body["field"], body["value"]) == ("username", "admin")
    assert body["type"] == "https://printmed.example.org/problems/sign-in-throttled"
    clock.advance(1)
    status, body = staff_token(client, "admin", PASSWORD)
    assert status == 200
    assert body["username"] == "admin"


def test_an_address_is_slowed_before_any_account_is_locked(
    app: FastAPI, client: TestClient, clock: Clock
) -> None:
    guesser = from_address(app, "10.20.0.1")
    for name in ("tech", "tech2", "pharm", "admin", "nobody"):
        assert staff_token(guesser, name, WRONG)[0] == 401
    status, body = staff_token(guesser, "pharm", PASSWORD)
    assert (status, body["retry_after"], body["field"], body["value"]) == (
        429,
        "1",
        "address",
        "10.20.0.1",
    )
    # the pharmacist at their own bench is not held up by it
    assert staff_token(from_address(app, "10.20.0.2"), "pharm", PASSWORD)[0] == 200


def lock_account(app: FastAPI, clock: Clock, username: str) -> None:
    """Ten wrong passwords for `username` from two addresses, each as soon as allowed."""
    callers = [from_address(app, "10.30.0.1"), from_address(app, "10.30.0.2")]
    made = 0
    while made < 10:
        status, body = staff_token(callers[made % 2], username, WRONG)
        if status == 429:
            clock.advance(int(str(body["retry_after"])))
        else:
            assert status == 401, body
            made += 1


def test_a_locked_account_refuses_the_right_password_until_an_admin_unlocks_it(
    app: FastAPI, client: TestClient, clock: Clock, callers: Callers, settings: Settings
) -> None:
    lock_account(app, clock, "pharm")
    clock.advance(3600)
    at_bench = from_address(app, "10.40.0.1")
    status, body = staff_token(at_bench, "pharm", PASSWORD)
    assert (status, body["field"], body["value"]) == (403, "username", "pharm")
    assert body["type"] == "https://printmed.example.org/problems/account-locked"

    blank = client.post(
        "/api/v1/users/pharm/unlock", json={"reason": " "}, headers=callers["admin"]
    )
    assert blank.status_code == 422
    assert (blank.json()["field"], blank.json()["value"]) == ("reason", " ")
    by_tech = client.post(
        "/api/v1/users/pharm/unlock", json={"reason": "asked"}, headers=callers["tech"]
    )
    assert by_tech.status_code == 403
    assert staff_token(at_bench, "pharm", PASSWORD)[0] == 403

    unlocked = client.post(
        "/api/v1/users/pharm/unlock",
        json={"reason": "spoke to the pharmacist by phone"},
        headers=callers["admin"],
    )
    assert unlocked.status_code == 200
    assert (unlocked.json()["username"], unlocked.json()["locked_at"]) == ("pharm", None)
    assert staff_token(at_bench, "pharm", PASSWORD)[0] == 200

    store = open_store(settings.database_url)
    with store.read_session() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        channels = set(session.scalars(select(SignInAttempt.channel)))
    store.dispose()
    lock = [e for e in entries if e.action == "user.lock"]
    unlock = [e for e in entries if e.action == "user.unlock"]
    assert [(e.entity, e.entity_id, e.actor) for e in lock] == [("user", "pharm", "sign-in")]
    assert [(e.entity_id, e.actor, e.reason) for e in unlock] == [
        ("pharm", "admin", "spoke to the pharmacist by phone")
    ]
    sign_ins = [e for e in entries if e.entity == "sign_in"]
    assert [e.action for e in sign_ins].count("sign_in.wrong_password") == 10
    assert [e.action for e in sign_ins].count("sign_in.locked") == 2
    assert sign_ins[-1].action == "sign_in.accepted"
    assert json.loads(sign_ins[-1].new_json)["address"] == "10.40.0.1"
    assert channels == {"api"}


def test_admins_are_shown_locked_accounts_and_bursts_by_address(
    app: FastAPI, client: TestClient, clock: Clock, callers: Callers
) -> None:
    assert client.get(ALERTS, headers=callers["admin"]).json() == {
        "window_minutes": 1440,
        "locked": [],
        "bursts": [],
    }
    lock_account(app, clock, "tech2")
    answer = client.get(ALERTS, headers=callers["admin"])
    assert answer.status_code == 200
    alerts = answer.json()
    assert [(a["username"], a["locked_reason"]) for a in alerts["locked"]] == [
        ("tech2", "10 failed sign-ins from 2 addresses")
    ]
    assert sorted((b["address"], b["failures"], b["usernames"]) for b in alerts["bursts"]) == [
        ("10.30.0.1", 5, ["tech2"]),
        ("10.30.0.2", 5, ["tech2"]),
    ]
    assert client.get(ALERTS, headers=callers["tech"]).status_code == 403
    assert client.get(ALERTS, headers=callers["epma"]).status_code == 403


def test_the_oauth_token_endpoint_slows_a_guessing_address_and_never_locks_the_client(
    app: FastAPI, client: TestClient, clock: Clock, callers: Callers
) -> None:
    def token(caller: TestClient, secret: str) -> tuple[int, str | None, str, str]:
        answer = caller.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "epma", "client_secret": secret},
        )
        error = "" if answer.status_code == 200 else answer.json()["error"]
        return (
            answer.status_code,
            answer.headers.get("retry-after"),
            error,
            answer.headers["content-type"],
        )

    guesser = from_address(app, "10.50.0.1")
    assert [token(guesser, "guess")[:3] for _ in range(5)] == [(401, None, "invalid_client")] * 5
    # a problem document, as the API's every 429, that OAuth clients read too
    assert token(guesser, callers.secrets["epma"]) == (
        429,
        "1",
        "slow_down",
        "application/problem+json",
    )
    # many addresses guessing neither lock the ward's system out nor slow it down
    for n in range(12):
        assert token(from_address(app, f"10.51.0.{n}"), "guess")[0] == 401
    assert token(from_address(app, "10.52.0.1"), callers.secrets["epma"])[0] == 200
