"""Idempotency-Key for creating POSTs: a retry with the same key and body gets the first answer;
the same key with another body is refused (422), so a retried order never makes two batches.

Keys are per caller. The answer is stored in the transaction that creates the thing, so a crash
leaves either both or neither; two racing requests meet at the unique (caller, key) index.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Header, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from printmed import audit
from printmed.api.problems import Conflict
from printmed.errors import InputError
from printmed.store import Store
from printmed.store.models import IdempotentAnswer

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
REPLAYED_HEADER = "Idempotent-Replayed"
P = TypeVar("P")
# This process's creating transactions queue here rather than in SQLite's busy handler, which
# polls with sleeps of up to 100 ms and lets a late writer overtake an early one.
WRITERS = threading.Lock()
# Declares the header on a route (for OpenAPI); create_once reads it from the request.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=MAX_KEY_CHARS,
        description="a retry with the same key and body returns the first answer",
    ),
]


class IdempotencyKeyReused(InputError):
    """The key was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(HEADER, key, "was already used with a different request body")


@dataclass(frozen=True)
class Answer:
    """A response as stored: status, media type, Location (if any) and body text."""

    status_code: int
    media_type: str
    body: str
    location: str | None = None

    def response(self, replayed: bool = False) -> Response:
        headers = {"Location": self.location} if self.location else {}
        if replayed:
            headers[REPLAYED_HEADER] = "true"
        return Response(self.body, self.status_code, headers=headers, media_type=self.media_type)


def key_of(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise InputError(HEADER, key[:40], f"is not 1-{MAX_KEY_CHARS} printable characters")
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def lookup(session: Session, caller: str, key: str, request_sha256: str) -> Answer | None:
    row = session.scalar(
        select(IdempotentAnswer).where(
            IdempotentAnswer.principal == caller, IdempotentAnswer.key == key
        )
    )
    if row is None:
        return None
    if row.request_sha256 != request_sha256:
        raise IdempotencyKeyReused(key)
    return Answer(row.status_code, row.media_type, row.body, row.location)


def remember(session: Session, caller: str, key: str, request_sha256: str, answer: Answer) -> None:
    session.add(
        IdempotentAnswer(
            principal=caller,
            key=key,
            request_sha256=request_sha256,
            status_code=answer.status_code,
            media_type=answer.media_type,
            location=answer.location,
            body=answer.body,
            created_at=audit.utc_now(),
        )
    )
    session.flush()


def replay(store: Store, request: Request, caller: str, body: bytes) -> Response | None:
    """The first answer if the request's key was used before with this body; 422 if with
    another body; None without a key or for a new key."""
    key = key_of(request)
    if key is None:
        return None
    with store.read_session() as session:
        found = lookup(session, caller, key, fingerprint(request.method, request.url.path, body))
    return None if found is None else found.response(replayed=True)


def create_once(
    store: Store,
    request: Request,
    caller: str,
    body: bytes,
    prepare: Callable[[], P],
    write: Callable[[Session, P], Answer],
    *,
    replayed_already: bool = False,
) -> Response:
    """`prepare()` outside any transaction (the slow part), then `write` in one transaction that
    also keeps the answer under the request's key; a known key is answered before preparing
    (`replayed_already`: the caller has just asked `replay` itself)."""
    if not replayed_already:
        replayed = replay(store, request, caller, body)
        if replayed is not None:
            return replayed
    key = key_of(request)
    request_sha256 = fingerprint(request.method, request.url.path, body)
    prepared = prepare()
    try:
        with WRITERS, store.session() as session:
            answer = write(session, prepared)
            if key is not None:
                remember(session, caller, key, request_sha256, answer)
    except (IntegrityError, Conflict):
        if key is None:
            raise
        # A concurrent request with the same key committed first: answer as it did.
        with store.read_session() as session:
            found = lookup(session, caller, key, request_sha256)
        if found is None:
            raise
        return found.response(replayed=True)
    return answer.response()


def model_once(
    store: Store,
    request: Request,
    caller: str,
    fingerprint_text: str,
    write: Callable[[Session], Answer],
) -> Response:
    """`create_once` for a route whose work is all in the transaction; the request is named by
    `fingerprint_text` (its parsed body without secrets such as passwords)."""
    return create_once(
        store, request, caller, fingerprint_text.encode(), lambda: None, lambda s, _: write(s)
    )


def json_answer(status_code: int, payload: str, location: str | None = None) -> Answer:
    return Answer(status_code, "application/json", payload, location)
