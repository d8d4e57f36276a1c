"""No input gets a 500: realistic orders with one value anywhere replaced by any JSON value
(Hypothesis) are accepted or refused as documents naming what was wrong."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Callers
from tests.api.fhir_helpers import FHIR_JSON
from tests.api.payloads import native_order, paediatric_order

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value`, containers included."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += leaf_paths(item, (*prefix, index))
    return paths


def replaced(document: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


FHIR_ORDER = paediatric_order(doses=1)
NATIVE_ORDER = native_order()
LIMITS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@LIMITS
@given(path=st.sampled_from(leaf_paths(FHIR_ORDER)), new=JSON_VALUES)
def test_a_mutated_fhir_order_never_gets_a_server_error(
    client: TestClient, callers: Callers, path: tuple[Any, ...], new: Any
) -> None:
    answer = client.post(
        "/fhir/MedicationRequest",
        content=json.dumps(replaced(FHIR_ORDER, path, new)),
        headers={"Content-Type": FHIR_JSON, **callers["epma"]},
    )
    assert answer.status_code in (200, 201, 400, 409, 422), answer.text
    if answer.status_code >= 400:
        assert answer.json()["resourceType"] == "OperationOutcome"


@LIMITS
@given(path=st.sampled_from(leaf_paths(NATIVE_ORDER)), new=JSON_VALUES)
def test_a_mutated_native_order_never_gets_a_server_error(
    client: TestClient, callers: Callers, path: tuple[Any, ...], new: Any
) -> None:
    answer = client.post(
        "/api/v1/prescriptions", json=replaced(NATIVE_ORDER, path, new), headers=callers["tech"]
    )
    assert answer.status_code in (200, 201, 409, 422), answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
