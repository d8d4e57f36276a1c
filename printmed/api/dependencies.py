"""What an API route asks for besides its input: a database session that reads, or one that
writes and commits before the answer leaves, opened only once the caller is known.

Signing in restarts a staff session's idle clock, a write of its own: taking the caller first
means a route's write transaction never waits on it (SQLite has one writer).

The routers whose paths name a `{batch_number}` declare `OwnSiteBatch`: a batch of a site the
caller does not see is 404 before the route runs (records.sites.check_visible).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from printmed.api.problems import NotFound
from printmed.auth import current_principal, store_of
from printmed.auth.principal import Principal
from printmed.records import sites

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


def only_own_site(request: Request, caller: Caller) -> None:
    """404 for a `{batch_number}` (or `{printer_id}`) in the path that is a batch (a registered
    printer) of a site the caller does not see (a router-wide dependency: it holds for every
    route of the router, password routes too)."""
    batch_number = request.path_params.get("batch_number")
    printer = request.path_params.get("printer_id")
    if batch_number is None and printer is None:
        return
    with store_of(request).read_session() as session:
        scope = sites.scope_of(session, caller)
        if batch_number is not None:
            sites.check_visible(session, batch_number, scope)
        if printer is not None and not sites.printer_visible(session, printer, scope):
            raise NotFound("printer", printer, "is not a printer here")


OwnSiteBatch = Depends(only_own_site)


def caller_scope(session: Session, caller: Principal) -> int | None:
    """The one site the caller sees (None: every site), for the routes that list batches."""
    return sites.scope_of(session, caller)


ReadSessionDep = Annotated[Session, Depends(read_session, scope="function")]
SessionDep = Annotated[Session, Depends(write_session, scope="function")]
