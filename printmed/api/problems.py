"""Every refusal as a document a client can act on: application/problem+json (RFC 9457) under
/api, a FHIR OperationOutcome under /fhir; the field and the value that was wrong are named.

No input reaches a 500: user errors are 4xx here, and anything else is logged (without the
request body) and answered as a plain 500 problem.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dosing.errors import DosingError
from gcode.errors import GcodeError
from printmed.auth.rules import NotPermitted
from printmed.auth.users import AuthenticationFailed
from printmed.errors import InputError
from printmed.jobs.service import UnknownBatch
from printmed.jobs.states import IllegalTransition
from printmed.records.errors import QcNotPassed, RecordNotIntact
from printmed.records.masterfile import UnknownDocument

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
PROBLEM_TYPE = "https://printmed.example.org/problems/"
log = logging.getLogger("printmed.api")


class NotFound(InputError):
    """A thing the caller named that does not exist (or that they may not see): 404."""


class Conflict(InputError):
    """A request that contradicts what is already recorded: 409."""


# (exception class, HTTP status, problem slug, FHIR issue code); the first match wins.
USER_ERRORS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (AuthenticationFailed, 401, "not-authenticated", "login"),
    (NotPermitted, 403, "forbidden", "forbidden"),
    (UnknownBatch, 404, "not-found", "not-found"),
    (NotFound, 404, "not-found", "not-found"),
    (UnknownDocument, 404, "not-found", "not-found"),
    (Conflict, 409, "conflict", "duplicate"),
    (IllegalTransition, 409, "state-conflict", "conflict"),
    (QcNotPassed, 409, "qc-not-passed", "business-rule"),
    (RecordNotIntact, 409, "record-not-intact", "business-rule"),
    (DosingError, 422, "invalid-prescription", "invalid"),
    (GcodeError, 422, "cannot-print", "processing"),
    (InputError, 422, "invalid-input", "invalid"),
)
STATUS_ISSUE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    500: "exception",
}
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
}


def plain(value: Any) -> Any:
    """A value as JSON can carry it: non-finite numbers and objects become text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def is_fhir_path(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


def error_response(
    path: str,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    issue: str | None = None,
    field: str | None = None,
    value: Any = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The refusal in the form the path's clients expect (OperationOutcome or problem)."""
    if is_fhir_path(path):
        fields = [e.get("field") for e in errors] if errors else [field]
        details = [e.get("detail", detail) for e in errors] if errors else [detail]
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": issue or STATUS_ISSUE.get(status, "processing"),
                    "diagnostics": text,
                    **({"expression": [name]} if name else {}),
                }
                for name, text in zip(fields, details, strict=True)
            ],
        }
        return JSONResponse(outcome, status, headers=headers, media_type=FHIR_JSON)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + (slug or str(status)),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
        body["value"] = plain(value)
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM_JSON)


def user_error_response(path: str, exc: Exception) -> JSONResponse:
    for kind, status, slug, issue in USER_ERRORS:
        if isinstance(exc, kind):
            field = getattr(exc, "field", None)
            value = getattr(exc, "value", None)
            return error_response(
                path, status, str(exc), slug=slug, issue=issue, field=field, value=value
            )
    raise exc


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": _location(tuple(e.get("loc", ()))),
            "detail": str(e.get("msg", "is invalid")),
            "value": plain(e.get("input")) if e.get("type") != "missing" else None,
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "detail": "the request is invalid"}
    return error_response(
        request.url.path,
        422,
        f"{first['field']}: {first['detail']}",
        slug="invalid-request",
        errors=errors,
    )


async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(
        request.url.path,
        exc.status_code,
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def on_user_error(request: Request, exc: Exception) -> JSONResponse:
    return user_error_response(request.url.path, exc)


async def on_defect(request: Request, exc: Exception) -> JSONResponse:
    # The method and path only: bodies and queries may carry patient data.
    log.error(
        "defect answering %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return error_response(request.url.path, 500, "internal error; the request changed nothing")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_error)  # type: ignore[arg-type]
    for kind, *_ in USER_ERRORS:
        app.add_exception_handler(kind, on_user_error)
    app.add_exception_handler(Exception, on_defect)
