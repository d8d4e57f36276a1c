"""schemathesis fuzzes every operation of the OpenAPI document against the running service
(bounded examples, fixed seed): no 500, no status, media type, header or body the document
does not declare; then one real batch is read through the operations that answer with its
shape, each answer checked against the response model the document declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from printmed.app import create_app
from tests.api.conftest import PASSWORD, Callers, api_settings, copy_seed, key_folder
from tests.api.live_server import serving
from tests.api.payloads import native_order

EXAMPLES_PER_OPERATION = 10
LOGOUT = "/api/v1/auth/logout"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_schema(
    tmp_path_factory: pytest.TempPathFactory, seeded: tuple[object, Callers]
) -> Iterator[OpenApiSchema]:
    folder = tmp_path_factory.mktemp("fuzzed")
    keys = copy_seed(seeded[0], folder)  # type: ignore[arg-type]
    # The fuzzer's wrong passwords all come from 127.0.0.1: lift the sign-in waits so that the
    # later sign-ins of this test are not answered 429 (tests/test_lockout.py covers them).
    app = create_app(
        api_settings(
            folder,
            PRINTMED_RATE_LIMIT_PER_MINUTE="1000000",
            PRINTMED_SIGN_IN_ADDRESS_FREE_FAILURES="1000000",
            PRINTMED_SIGN_IN_ACCOUNT_FREE_FAILURES="1000000",
        )
    )
    with key_folder(keys), serving(app) as base_url:
        yield schemathesis.openapi.from_url(f"{base_url}/openapi.json")


def signed_in(live_schema: OpenApiSchema, username: str) -> dict[str, str]:
    """Headers with a new staff token for `username` (the sign-in answer is checked too)."""
    credentials: dict[str, Any] = {"username": username, "password": PASSWORD}
    case = live_schema["/api/v1/auth/token"]["POST"].Case(
        body=credentials, media_type="application/json"
    )
    answer = case.call_and_validate(checks=CHECKS)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the app's own document (no server needed)."""
    document = create_app().openapi()
    return [(m.upper(), p) for p, ops in document["paths"].items() for m in ops]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_as_documented(
    live_schema: OpenApiSchema, callers: Callers, method: str, path: str
) -> None:
    operation = live_schema[path][method]
    # Fuzzing the logout ends the token it is sent with: that one is its own, so the operations
    # after it are still tried by a signed-in technician.
    headers = signed_in(live_schema, "tech") if path == LOGOUT else callers["tech"]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_documented()


def test_a_real_batch_answers_in_the_declared_shapes(
    live_schema: OpenApiSchema, callers: Callers
) -> None:
    """Fuzzed batch numbers meet no batch (404), so the success shapes are checked here, with
    the token the fuzzing used (still signed in: the logout was fuzzed with a token of its own)."""

    def call(method: str, path: str, caller: str = "tech", **parts: Any) -> Any:
        """The answer's JSON (None for other media), after every check passed."""
        case = live_schema[path][method].Case(**parts)
        answer = case.call_and_validate(headers=callers[caller], checks=CHECKS)
        assert answer.status_code < 300, (method, path, answer.text)
        media = [v[0] for k, v in answer.headers.items() if k.lower() == "content-type"]
        return answer.json() if media[0] == "application/json" else None

    rx = native_order(units=2, rx_id="RX-SHAPES-1")
    order = call("POST", "/api/v1/prescriptions", body=rx, media_type="application/json")
    number = {"batch_number": order["batch"]["batch_number"]}
    call("GET", "/api/v1/prescriptions/{order_id}", path_parameters={"order_id": order["id"]})
    call("GET", "/api/v1/prescriptions")
    call("POST", "/api/v1/prescriptions/check", body=rx, media_type="application/json")
    call("GET", "/api/v1/batches", query={"state": "verified"})
    batch = call("GET", "/api/v1/batches/{batch_number}", path_parameters=number)
    assert len(batch["gate"]["tablets"]) == 2
    assert call("GET", "/api/v1/batches/{batch_number}/progress", path_parameters=number) is None
    for read in ("gcode", "record", "integrity", "record.pdf", "label.pdf"):
        call("GET", f"/api/v1/batches/{{batch_number}}/{read}", path_parameters=number)
    unit_mg = 100.0
    qc = call(
        "POST",
        "/api/v1/batches/{batch_number}/weights/check",
        path_parameters=number,
        body={"weights_mg": [unit_mg, unit_mg * 1.01]},
        media_type="application/json",
    )
    assert qc["units_weighed"] == 2
    call("GET", "/api/v1/batches/{batch_number}/screening", path_parameters=number)
    call(
        "POST",
        "/api/v1/batches/{batch_number}/screen",
        "pharm",
        path_parameters=number,
        body={"note": "shapes checked", "password": PASSWORD},
        media_type="application/json",
    )
    call("POST", "/api/v1/batches/{batch_number}/queue", path_parameters=number)
    call("GET", "/api/v1/printers")
    call("GET", "/api/v1/printers/{printer_id}", path_parameters={"printer_id": "fdm-pharma-04"})
    call(
        "POST",
        "/api/v1/batches/{batch_number}/reject",
        path_parameters=number,
        body={"reason": "shapes checked"},
        media_type="application/json",
    )
    record = call("GET", "/api/v1/batches/{batch_number}/record", path_parameters=number)
    assert record["fields"]["state"] == "rejected"
