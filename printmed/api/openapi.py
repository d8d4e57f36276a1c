"""The OpenAPI document made accurate about refusals: every operation lists the errors it can
give, as application/problem+json (under /api) or FHIR OperationOutcome (under /fhir).

FastAPI by itself documents a 422 body that this app never sends and no other error at all.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from printmed.api.problems import FHIR_JSON, PROBLEM_JSON, TITLES, is_fhir_path

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; field and value name what was refused",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": ["string", "null"]},
        "value": {},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "FHIR R4 OperationOutcome",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "items": {"type": "object"}},
    },
}
OAUTH_PATH = "/oauth/token"


def _refusal(path: str, status: int, description: str | None) -> dict[str, Any]:
    media, ref = (
        (FHIR_JSON, "#/components/schemas/OperationOutcome")
        if is_fhir_path(path)
        else (PROBLEM_JSON, "#/components/schemas/Problem")
    )
    response: dict[str, Any] = {
        "description": description or TITLES.get(status, "Error"),
        "content": {media: {"schema": {"$ref": ref}}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return response


def refusals_for(path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can give."""
    statuses = [413, 429]
    if operation.get("security"):
        statuses += [401, 403]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append(422)
    if "{" in path:
        statuses.append(404)
    if is_fhir_path(path) and operation.get("requestBody"):
        statuses += [400, 409, 415]
    return statuses


def complete_schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["OperationOutcome"] = OUTCOME_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in sorted(declared | set(refusals_for(path, operation))):
                existing = responses.get(str(status), {})
                if path == OAUTH_PATH and status in (400, 401):
                    continue  # RFC 6749 error bodies, documented on the route
                responses[str(status)] = _refusal(path, status, existing.get("description"))
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
