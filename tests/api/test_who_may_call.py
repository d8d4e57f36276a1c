"""Every endpoint declares who may call it: 401 without valid credentials, 403 with the wrong
role or scope, and sessions that end (logout, idle time, revoked client)."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from printmed.auth import COOKIE_NAME, login
from printmed.store.models import StaffSession
from tests.api.conftest import PASSWORD, Callers, client_token, staff_token
from tests.api.fhir_helpers import post_order
from tests.api.payloads import adult_fixed_dose_order, native_order

PROBLEM = "application/problem+json"


PUBLIC_PATHS = {"/fhir/metadata", "/api/v1/auth/token", "/oauth/token"}


def test_every_operation_but_the_public_ones_refuses_a_caller_without_credentials(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    refused = 0
    for path, operations in schema["paths"].items():
        if path in PUBLIC_PATHS:
            continue
        concrete = path.replace("{", "").replace("}", "")
        for method in operations:
            answer = client.request(method.upper(), concrete)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            refused += 1
    assert refused >= 30


def test_an_unknown_bearer_token_is_401_as_a_problem(client: TestClient) -> None:
    answer = client.get("/api/v1/batches", headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 401


def test_a_forged_client_jwt_is_401(client: TestClient) -> None:
    forged = jwt.encode(
        {"iss": "printmed", "sub": "epma", "scope": "prescriptions.write", "iat": 0, "exp": 2**31},
        "guessed-key",
        algorithm="HS256",
    )
    answer = client.get("/api/v1/prescriptions", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("caller", "method", "path"),
    [
        ("viewer", "POST", "/api/v1/prescriptions"),
        ("viewer", "POST", "/fhir/MedicationRequest"),
        ("epma", "GET", "/api/v1/batches"),
        ("epma", "GET", "/api/v1/users"),
        ("tech", "GET", "/api/v1/users"),
        ("tech", "POST", "/api/v1/clients"),
        ("pharm", "POST", "/api/v1/users"),
        ("admin", "POST", "/api/v1/prescriptions"),
        ("admin", "POST", "/api/v1/batches/PM-1/queue"),
        ("admin", "POST", "/api/v1/batches/PM-1/weights"),
        ("admin", "POST", "/api/v1/batches/PM-1/signatures"),
        ("tech", "POST", "/api/v1/batches/PM-1/release"),
        ("admin", "GET", "/api/v1/batches/PM-1/label.pdf"),
        ("epma", "GET", "/api/v1/batches/PM-1/record"),
        ("tech", "GET", "/api/v1/users/pharm"),
        ("tech", "POST", "/api/v1/users/pharm/password"),
    ],
)
def test_a_caller_without_the_role_or_scope_is_403(
    client: TestClient, callers: Callers, caller: str, method: str, path: str
) -> None:
    # a body each route would accept, so that the refusal is the caller's and not the body's
    accepted = {"password": "x" * 12, "meaning": "performed", "weights_mg": [1.0], "reason": "r"}
    body = native_order() if path.endswith("prescriptions") else accepted
    answer = client.request(method, path, json=body, headers=callers[caller])
    assert answer.status_code == 403, answer.text
    expected = "application/fhir+json" if path.startswith("/fhir") else PROBLEM
    assert answer.headers["content-type"] == expected


def test_the_batches_are_one_resource_and_the_old_jobs_path_is_gone(
    client: TestClient, callers: Callers
) -> None:
    assert client.get("/api/v1/batches", headers=callers["tech"]).status_code == 200
    gone = client.get("/api/v1/jobs", headers=callers["tech"])
    assert (gone.status_code, gone.headers["content-type"]) == (404, PROBLEM)
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/api/v1/jobs")]


def test_staff_read_their_own_account_and_an_admin_reads_any(
    client: TestClient, callers: Callers
) -> None:
    own = client.get("/api/v1/users/tech", headers=callers["tech"])
    assert (own.status_code, own.json()["role"]) == (200, "technician")
    assert client.get("/api/v1/users/tech", headers=callers["admin"]).status_code == 200


def test_a_client_sees_only_the_orders_it_sent(client: TestClient, callers: Callers) -> None:
    order_id = post_order(client, adult_fixed_dose_order(), callers["epma"]).json()["id"]
    assert client.get(f"/fhir/Task/{order_id}", headers=callers["viewer"]).status_code == 404
    assert client.get("/api/v1/prescriptions", headers=callers["viewer"]).json() == []
    assert client.get(f"/fhir/Task/{order_id}", headers=callers["tech"]).status_code == 200


def test_staff_sign_in_with_a_wrong_password_is_401(client: TestClient, callers: Callers) -> None:
    answer = client.post("/api/v1/auth/token", json={"username": "tech", "password": "wrong one!"})
    assert answer.status_code == 401
    assert answer.json()["field"] == "password"
    assert "wrong one" not in answer.text


def test_logout_ends_the_bearer_token(client: TestClient, callers: Callers) -> None:
    headers = {"Authorization": f"Bearer {staff_token(client, 'tech')}"}
    assert client.get("/api/v1/auth/me", headers=headers).json()["name"] == "tech"
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_a_session_idle_longer_than_the_setting_has_ended(
    app: FastAPI, client: TestClient, callers: Callers
) -> None:
    with app.state.store.session() as session:
        _, token = login(session, "tech", PASSWORD)
    client.cookies.set(COOKIE_NAME, token)
    assert client.get("/api/v1/auth/me").json()["name"] == "tech"
    idle = app.state.settings.session_idle_minutes
    with app.state.store.session() as session:
        row = session.query(StaffSession).filter_by(kind="cookie").one()
        last_seen = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=idle + 1)
        row.last_seen_at = last_seen.isoformat()
    assert client.get("/api/v1/auth/me").status_code == 401


def test_client_credentials_give_a_jwt_with_the_granted_scopes(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "viewer",
            "client_secret": callers.secrets["viewer"],
        },
    )
    assert answer.status_code == 200
    assert answer.json()["scope"] == "prescriptions.read"
    assert answer.json()["token_type"] == "Bearer"


def test_a_client_asking_for_a_scope_it_was_not_given_is_refused(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "viewer",
            "client_secret": callers.secrets["viewer"],
            "scope": "prescriptions.write",
        },
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_scope")


def test_a_wrong_client_secret_is_invalid_client(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "epma", "client_secret": "guess"},
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_a_revoked_client_s_token_stops_working_at_once(
    client: TestClient, callers: Callers
) -> None:
    token = client_token(client, "viewer", callers.secrets["viewer"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/prescriptions", headers=headers).status_code == 200
    revoked = client.post(
        "/api/v1/clients/viewer/active",
        json={"active": False, "reason": "board retired"},
        headers=callers["admin"],
    )
    assert revoked.status_code == 200
    assert client.get("/api/v1/prescriptions", headers=headers).status_code == 401
