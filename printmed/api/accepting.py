"""One way in for every order, native or FHIR: a replayed key answers first, a repeated
identifier answers with the order already made, else the order is prepared and recorded once.

The two entry points differ only in how they answer (order view or stored resource).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dosing.prescription import Prescription
from printmed import catalog
from printmed.api import idempotency, orders
from printmed.auth.dependencies import settings_of, store_of
from printmed.auth.principal import Principal
from printmed.jobs import calibration, making
from printmed.jobs.stored_gate import GatedProgram
from printmed.manufacture import GatedBatch, manufacture, profile_for
from printmed.store.engine import FairLock
from printmed.store.models import Batch, Order

# One order made at a time in a process: making is CPU-bound Python holding the GIL, so orders
# made side by side only take turns, each finishing later, and the one holding the store's
# write lock is slowed by all the others (a process per core gives parallelism: serve --workers).
MAKING = FairLock()  # in the order the orders came


def accept_order(
    request: Request,
    who: Principal,
    body: bytes,
    rx: Prescription,
    *,
    source: str,
    resource: dict[str, Any] | None,
    printer: str | None,
    answer_existing: Callable[[Order, Batch], Response],
    answer_created: Callable[[Order, Batch], idempotency.Answer],
) -> Response:
    """The response to an order (runs in a worker thread: slicing and the gate are slow)."""
    store, settings = store_of(request), settings_of(request)
    replayed = idempotency.replay(store, request, who.label, body)
    if replayed is not None:
        return replayed
    with store.read_session() as session:
        actor = who.actor(session)
        # a registered printer's name: made for its profile, queued for it alone
        wanted_profile, named = making.queue_target(
            session, actor, printer, catalog.formulation(rx.formulation) if printer else None
        )
        try:
            orders.find_duplicate(session, who, rx)
        except orders.DuplicateOrder as duplicate:
            if not duplicate.same:
                raise
            return answer_existing(*orders.get_order(session, who, duplicate.existing_id))

    def made() -> tuple[GatedBatch, GatedProgram]:
        # from one snapshot of the master file in force, designed with the lot's approved
        # calibration on the printer, as every way in is
        with store.read_session() as session:
            master = catalog.master_of(session)
            profile_id = profile_for(master.formulation(rx.formulation), wanted_profile, master).id
            factor = calibration.factor_for(
                session, rx.formulation, named or profile_id, profile_id
            )
        with MAKING:
            gated = manufacture(rx, profile_id, calibration_factor=factor, master=master)
            # the record's own gate reading too, before the write turn rather than in it
            return gated, making.gated_program(gated)

    def write(session: Session, made: tuple[GatedBatch, GatedProgram]) -> idempotency.Answer:
        prepared, program = made
        order, batch = orders.record(
            session,
            who,
            actor,
            prepared,
            program=program,
            source=source,
            resource=resource,
            batch_prefix=settings.batch_prefix,
            printer=named,
            windows=settings.observation_windows,
        )
        return answer_created(order, batch)

    try:
        return idempotency.create_once(
            store, request, who.label, body, made, write, replayed_already=True
        )
    except orders.DuplicateOrder as duplicate:
        # The same order, sent again while the first was being made: answer with the first.
        if not duplicate.same:
            raise
        with store.read_session() as session:
            return answer_existing(*orders.get_order(session, who, duplicate.existing_id))
