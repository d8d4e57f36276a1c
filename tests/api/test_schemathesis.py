"""schemathesis fuzzes every operation of the OpenAPI document against the running service
(bounded examples, fixed seed): no 500, no status, media type, header or body the document
does not declare."""

from __future__ import annotations

from collections.abc import Iterator

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
from tests.api.conftest import Callers, api_settings, copy_seed
from tests.api.live_server import serving

EXAMPLES_PER_OPERATION = 10
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
    copy_seed(seeded[0], folder)  # type: ignore[arg-type]
    app = create_app(api_settings(folder, PRINTMED_RATE_LIMIT_PER_MINUTE="1000000"))
    with serving(app) as base_url:
        yield schemathesis.openapi.from_url(f"{base_url}/openapi.json")


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the app's own document (no server needed)."""
    document = create_app().openapi()
    return [(m.upper(), p) for p, ops in document["paths"].items() for m in ops]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_as_documented(
    live_schema: OpenApiSchema, callers: Callers, method: str, path: str
) -> None:
    operation = live_schema[path][method]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=callers["tech"], checks=CHECKS)

    answers_as_documented()
