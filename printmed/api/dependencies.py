"""What an API route asks for besides its input: a database session that reads, or one that
writes and commits before the answer leaves, opened only once the caller is known.

Signing in restarts a staff session's idle clock, a write of its own: taking the caller first
means a route's write transaction never waits on it (SQLite has one writer).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from printmed.auth import current_principal, store_of
from printmed.auth.principal import Principal

Caller = Annotated[Principal, Depends(current_principal)]


def read_session(request: Request, _caller: Caller) -> Iterator[Session]:
    """A transaction that only reads (`Store.read_session`: never waits for the writer)."""
    with store_of(request).read_session() as session:
        yield session


def write_session(request: Request, _caller: Caller) -> Iterator[Session]:
    """One unit of work (`Store.session`): committed when the route returns, before the answer
    is sent; rolled back if the route raises."""
    with store_of(request).session() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(read_session, scope="function")]
SessionDep = Annotated[Session, Depends(write_session, scope="function")]
