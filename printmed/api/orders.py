"""Accepting an order (native JSON or FHIR) as a batch verified by the dose gate; finding it.

Slicing and the gate run before any transaction; the batch, its verification and the order are
then written together, so a refused order leaves nothing behind. An order repeating an
identifier its sender already used is the same order, never a second batch.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dosing.prescription import Prescription
from printmed import audit
from printmed.api.problems import Conflict, NotFound
from printmed.auth.principal import Principal
from printmed.jobs import making
from printmed.jobs.service import UnknownBatch, get_batch
from printmed.jobs.stored_gate import GatedProgram
from printmed.manufacture import GatedBatch
from printmed.records import sites
from printmed.settings import ObservationWindows
from printmed.store.models import Batch, Order, User


class UnknownOrder(NotFound):
    def __init__(self, order_id: str) -> None:
        super().__init__("id", order_id, "is not an order this caller may see")


class DuplicateOrder(Conflict):
    """The sender already sent an order with this identifier; `same` if it says the same."""

    def __init__(self, existing: Order, same: bool) -> None:
        self.existing_id = existing.id
        self.same = same
        reason = (
            f"was already received as order {existing.id}"
            if same
            else f"was already received as order {existing.id} with different content"
        )
        super().__init__("identifier", existing.prescription_id, reason)


def find_duplicate(session: Session, who: Principal, rx: Prescription) -> None:
    """DuplicateOrder if `who` already sent an order with `rx`'s identifier."""
    existing = session.scalar(
        select(Order).where(Order.received_from == who.label, Order.prescription_id == rx.id)
    )
    if existing is None:
        return
    batch = get_batch(session, existing.batch_number)
    raise DuplicateOrder(existing, says_the_same(batch.prescription_json, rx))


def says_the_same(stored_json: str, rx: Prescription) -> bool:
    """Whether a recorded prescription is `rx`: the same fields with the same values, an absent
    field the same as one left empty (a prescription recorded before a field was added, such as
    prescriber_words, is the same order when it is sent again)."""
    return _given(json.loads(stored_json)) == _given(rx.model_dump(mode="json"))


def _given(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _given(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_given(item) for item in value]
    return value


def record(
    session: Session,
    who: Principal,
    actor: User,
    prepared: GatedBatch,
    *,
    source: str,
    resource: dict[str, Any] | None = None,
    batch_prefix: str = "PM",
    printer: str | None = None,
    windows: ObservationWindows | None = None,
    program: GatedProgram | None = None,
) -> tuple[Order, Batch]:
    """Write the batch, its verification and the order in the caller's transaction.

    printer: the registered printer it is queued for alone (None: any printer of its profile);
    windows: how recent a body measurement must be (the service's settings); program: the
    stored gate's reading of `prepared`'s program, if made already (`making.gated_program`).
    What needs no lock is done first (`making.prepare_record`); the chain's lock is held from
    the duplicate check to the commit, the shorter the better, as every writer waits for it."""
    ready = making.prepare_record(
        session,
        actor,
        prepared,
        printer=printer or prepared.profile.id,
        windows=windows,
        program=program,
    )
    audit.lock_chain(session)  # the duplicate check and the batch number see one order at a time
    find_duplicate(session, who, prepared.prescription)
    batch = making.record_prepared(session, actor, ready, batch_prefix=batch_prefix)
    order_id = uuid.uuid4().hex
    stored = None
    if resource is not None:
        stored = dict(
            resource, id=order_id, meta={"versionId": "1", "lastUpdated": batch.created_at}
        )
    order = Order(
        id=order_id,
        source=source,
        prescription_id=prepared.prescription.id,
        resource_json=None if stored is None else audit.canonical_json(stored),
        batch_number=batch.batch_number,
        received_from=who.label,
        created_at=batch.created_at,
    )
    session.add(order)
    session.flush()
    return order, batch


def get_order(session: Session, who: Principal, order_id: str) -> tuple[Order, Batch]:
    """The order and its batch; a prescribing system sees only the orders it sent."""
    order = session.get(Order, order_id)
    if order is None or (who.kind == "client" and order.received_from != who.label):
        raise UnknownOrder(order_id)
    try:  # staff see their own site's orders (every site's with the control-site role)
        return order, get_batch(session, order.batch_number, site_id=sites.scope_of(session, who))
    except UnknownBatch:
        raise UnknownOrder(order_id) from None


def order_of_batch(session: Session, batch_number: str) -> Order | None:
    return session.scalar(select(Order).where(Order.batch_number == batch_number))


def list_orders(session: Session, who: Principal, limit: int = 100) -> list[tuple[Order, Batch]]:
    query = select(Order, Batch).join(Batch, Batch.batch_number == Order.batch_number)
    if who.kind == "client":
        query = query.where(Order.received_from == who.label)
    scope = sites.scope_of(session, who)
    if scope is not None:
        query = query.where(Batch.site_id == scope)
    rows = session.execute(query.order_by(Order.created_at.desc()).limit(limit)).all()
    return [(order, batch) for order, batch in rows]
