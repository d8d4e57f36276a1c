"""Each material lot's stock: receipts (grams in, who, why) and uses (grams drawn per batch),
and the one check that a batch's lot holds enough before it is queued for a printer.

Stock is checked from the first receipt into any lot on: a store that has never booked stock
(one upgraded from before the ledger) queues as before, as the printer register does.
Stock is held at a site (`lot_stock.site_id`): each site books, draws and counts its own, and a
site that has never booked any queues as before.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import audit, catalog
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.store.models import Batch, LotStockEntry, User

RECEIPT = "receipt"
USE = "use"
RETURN = "return"  # a draw given back: its batch was rejected while queued, nothing extruded
MAX_RECEIPT_G = 100_000.0  # 100 kg: more than any pharmacy holds of one lot; a typo beyond


class NotEnoughStock(InputError):
    """The batch's lot holds less than the batch needs: names the lot and both amounts."""

    def __init__(self, lot: str, needed_g: float, remaining_g: float, batch_number: str) -> None:
        super().__init__(
            "lot",
            lot,
            f"has {remaining_g:.3f} g left; {batch_number} needs {needed_g:.3f} g "
            "(receive stock into the lot first)",
        )
        self.needed_g = needed_g
        self.remaining_g = remaining_g


@dataclass(frozen=True)
class LotLedger:
    """A lot's stock: grams received, used and remaining, and every movement, oldest first."""

    lot: str
    received_g: float
    used_g: float
    entries: tuple[dict[str, Any], ...]

    @property
    def remaining_g(self) -> float:
        return self.received_g - self.used_g

    def to_dict(self) -> dict[str, Any]:
        return {
            "lot": self.lot,
            "received_g": self.received_g,
            "used_g": self.used_g,
            "remaining_g": self.remaining_g,
            "entries": list(self.entries),
        }


def batch_lot(job: Batch) -> str:
    """The lot number the batch is made from (its recorded formulation's `lot`)."""
    return batch_lot_of(job.formulation_json)


def material_g(job: Batch) -> float:
    """Grams of the lot a verified batch's G-code extrudes: (Σ read-back tablet volume + the
    prime line's, mm³, from the gate over the stored G-code) × density (g/cm³ = mg/mm³) ÷ 1000."""
    if job.gate_json is None:
        raise InputError("batch", job.batch_number, "has no gate figures; it is not verified")
    gate = json.loads(job.gate_json)
    density = float(json.loads(job.formulation_json)["density_g_cm3"])
    tablets_mm3 = sum(float(t["gcode_volume_mm3"]) for t in gate["tablets"])
    return (tablets_mm3 + float(gate.get("prime_volume_mm3", 0.0))) * density / 1000.0


def stock_tracked(session: Session, site_id: int = 1) -> bool:
    """True once any lot has had a receipt at the site: from then on every batch made there
    draws from its lot."""
    query = select(LotStockEntry.id).where(LotStockEntry.site_id == site_id).limit(1)
    return session.scalar(query) is not None


def ledger(session: Session, lot: str, site_id: int = 1) -> LotLedger:
    """The lot's stock held at the site `site_id`."""
    rows = session.scalars(
        select(LotStockEntry)
        .where(LotStockEntry.lot == lot, LotStockEntry.site_id == site_id)
        .order_by(LotStockEntry.id)
    ).all()
    received = sum(r.grams for r in rows if r.kind == RECEIPT)
    used = sum(r.grams for r in rows if r.kind == USE) - sum(
        r.grams for r in rows if r.kind == RETURN
    )
    return LotLedger(
        lot,
        received,
        used,
        tuple(
            {
                "at": r.at,
                "kind": r.kind,
                "grams": r.grams,
                "batch_number": r.batch_number,
                "actor": r.actor,
                "reason": r.reason,
            }
            for r in rows
        ),
    )


def lots_on_file(session: Session) -> list[str]:
    return list(session.scalars(select(LotStockEntry.lot).distinct().order_by(LotStockEntry.lot)))


def lot_on_file(session: Session, name: str) -> str:
    """The lot number `name` stands for: a lot number or a formulation id in the catalog, or
    the lot of a recorded batch; anything else is refused (a typo must not open a new lot)."""
    wanted = name.strip()
    for formulation in catalog.master_of(session).formulations().values():
        if wanted in (formulation.lot, formulation.id):
            return formulation.lot
    recorded = {batch_lot_of(row) for row in _batch_formulations(session)}
    if wanted in recorded or wanted in lots_on_file(session):
        return wanted
    raise InputError("lot", name, "is not a lot on file (a lot number or formulation id)")


def _batch_formulations(session: Session) -> list[str]:
    return list(session.scalars(select(Batch.formulation_json).distinct()))


def batch_lot_of(formulation_json: str) -> str:
    return str(json.loads(formulation_json)["lot"])


def receive(session: Session, actor: User, lot: str, grams: float, reason: str) -> LotLedger:
    """Book `grams` of material into `lot` (goods in), with the reason; an audit entry."""
    require(actor, Action.RECEIVE_STOCK)
    if not (math.isfinite(grams) and 0 < grams <= MAX_RECEIPT_G):
        raise InputError("grams", grams, f"is not a quantity above 0 and at most {MAX_RECEIPT_G:g}")
    reason = audit.required_reason(reason)
    number = lot_on_file(session, lot)
    site_id = actor.site_id or 1  # booked into the stock of the receiver's site
    _add(session, number, RECEIPT, grams, None, actor.username, reason, site_id)
    return ledger(session, number, site_id)


def issued_for(session: Session, batch_number: str) -> float:
    """Grams drawn for the batch and not given back (0 when its lot's stock was not tracked
    when it was queued, or its draw was returned)."""
    rows = session.execute(
        select(LotStockEntry.kind, func.sum(LotStockEntry.grams))
        .where(LotStockEntry.batch_number == batch_number)
        .group_by(LotStockEntry.kind)
    ).all()
    grams = {kind: float(total or 0.0) for kind, total in rows}
    return grams.get(USE, 0.0) - grams.get(RETURN, 0.0)


def return_for_batch(session: Session, job: Batch, actor: str) -> float | None:
    """Give the lot back what was drawn for a batch rejected before any of it was printed
    (an audit entry); None when nothing was drawn for it (stock not tracked at its queueing)."""
    drawn = issued_for(session, job.batch_number)
    if drawn <= 0.0:
        return None
    reason = f"returned: {job.batch_number} rejected while queued, nothing printed"
    _add(session, batch_lot(job), RETURN, drawn, job.batch_number, actor, reason, job.site_id)
    return drawn


def draw_for_batch(session: Session, job: Batch, actor: str) -> float | None:
    """At queueing: refuse a batch whose lot has less left than its G-code extrudes, else draw
    that much for it (an audit entry). None when stock is not tracked yet.

    Drawn at the queue, not the claim: the technician queueing is told at once (a worker has
    no one to tell), and a drawn amount is the lot's no more, so two batches queued for one lot
    never both count on the same grams before either is printed.
    """
    if not stock_tracked(session, job.site_id):
        return None
    lot = batch_lot(job)
    needed = material_g(job)
    remaining = ledger(session, lot, job.site_id).remaining_g
    if needed > remaining + 1e-9:
        raise NotEnoughStock(lot, needed, remaining, job.batch_number)
    reason = f"drawn for {job.batch_number}"
    _add(session, lot, USE, needed, job.batch_number, actor, reason, job.site_id)
    return needed


def _add(
    session: Session,
    lot: str,
    kind: str,
    grams: float,
    batch_number: str | None,
    actor: str,
    reason: str,
    site_id: int,
) -> None:
    entry = LotStockEntry(
        lot=lot,
        kind=kind,
        grams=grams,
        batch_number=batch_number,
        actor=actor,
        at=audit.utc_now(),
        reason=reason,
        site_id=site_id,
    )
    session.add(entry)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=f"stock.{kind}",
        entity="lot",
        entity_id=lot,
        batch_number=batch_number,
        new={"grams": grams, "kind": kind, "site_id": site_id},
        reason=reason,
    )
