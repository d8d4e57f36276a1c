"""Deviations: what went differently from the master file (a unit discarded, a clog, a reprint),
recorded by whoever saw it with a reason, as an audit entry the reviewer reads before release.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.store.models import Batch, User

DEVIATION_ACTION = "record.deviation"


def record_deviation(
    session: Session, job: Batch, actor: User, description: str, reason: str
) -> None:
    """Add a deviation (what happened, and why it was acceptable or what was done) to a batch."""
    require(actor, Action.RECORD_DEVIATION)
    if not description.strip():
        raise InputError("description", description, "is empty: say what deviated")
    if not reason.strip():
        raise InputError("reason", reason, "is empty: say why or what was done")
    if job.state in ("released", "rejected"):
        raise InputError("batch", job.batch_number, f"is {job.state}; its record is closed")
    audit.append(
        session,
        actor=actor.username,
        action=DEVIATION_ACTION,
        entity="deviation",
        entity_id=job.id,
        batch_number=job.batch_number,
        new={"description": description.strip(), "state": job.state},
        reason=reason.strip(),
    )


def deviations_in(trail: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deviations of a decoded trail: seq, when, who, what, why, in which state."""
    return [
        {
            "seq": e["seq"],
            "at": e["at"],
            "actor": e["actor"],
            "description": e["new"]["description"],
            "state": e["new"]["state"],
            "reason": e["reason"],
        }
        for e in trail
        if e["action"] == DEVIATION_ACTION
    ]
