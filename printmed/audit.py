"""The audit trail: append-only entries (who, what, old and new, when, why) in a SHA-256 chain.

Each entry's hash covers the canonical JSON of its columns and the previous entry's hash, so an
edited, removed or reordered entry breaks the chain at that point and `verify_chain` names it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from printmed.errors import InputError
from printmed.store.models import AuditEntry

GENESIS_HASH = "0" * 64
CHAIN_LOCK_KEY = 7_310_002
HASHED_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "batch_number",
    "old_json",
    "new_json",
    "reason",
    "prev_hash",
)


def utc_now() -> str:
    """Now, as the ISO-8601 UTC text every stored time uses."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8, no NaN; what the hashes are over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 of the canonical form of the entry's columns (its own hash excluded)."""
    return sha256_text(canonical_json({name: getattr(entry, name) for name in HASHED_COLUMNS}))


def lock_chain(session: Session) -> None:
    """Take the chain's write lock until the transaction ends (PostgreSQL: an advisory lock;
    SQLite: BEGIN IMMEDIATE already holds the database's). Whoever numbers things by counting
    rows (batch numbers) takes it first as well."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def required_reason(reason: str) -> str:
    """The reason a change of a record must give, stripped; refused when blank."""
    if not reason.strip():
        raise InputError("reason", reason, "is required for a change")
    return reason.strip()


def set_audited(
    session: Session,
    row: object,
    attribute: str,
    value: Any,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    reason: str,
    shown: tuple[Any, Any] | None = None,
) -> None:
    """Set one attribute of `row` and append the entry with its old and new values, in the
    caller's transaction. `shown` is what the trail says instead (old, new) for a secret."""
    reason = required_reason(reason)
    old = getattr(row, attribute)
    setattr(row, attribute, value)
    before, after = shown if shown is not None else (old, value)
    append(
        session,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        old=before,
        new=after,
        reason=reason,
    )


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    batch_number: str | None = None,
    old: Any = None,
    new: Any = None,
    reason: str = "",
) -> AuditEntry:
    """Add one entry at the head of the chain, inside the caller's transaction.

    Appends are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
    lock BEGIN IMMEDIATE took) so that two writers never chain onto the same head.
    """
    lock_chain(session)
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    entry = AuditEntry(
        seq=(head.seq + 1) if head else 1,
        at=utc_now(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        batch_number=batch_number,
        old_json=canonical_json(old),
        new_json=canonical_json(new),
        reason=reason,
        prev_hash=head.entry_hash if head else GENESIS_HASH,
    )
    entry.entry_hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: intact, or the first broken entry and why."""

    entries: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "problem": self.problem,
        }


def verify_chain(session: Session) -> ChainReport:
    """Walk every entry in order: numbering without gaps, links, and each entry's own hash."""
    previous_hash = GENESIS_HASH
    count = 0
    for entry in _in_order(session):
        expected_seq = count + 1
        if entry.seq != expected_seq:
            return ChainReport(
                count,
                previous_hash,
                expected_seq,
                f"entry {expected_seq} is missing (next is {entry.seq})",
            )
        if entry.prev_hash != previous_hash:
            return ChainReport(
                count, previous_hash, entry.seq, "its link to the previous entry does not match"
            )
        if entry_hash(entry) != entry.entry_hash:
            return ChainReport(
                count, previous_hash, entry.seq, "its content does not match its hash (edited)"
            )
        previous_hash = entry.entry_hash
        count += 1
    return ChainReport(count, previous_hash, None, None)


def _in_order(session: Session) -> Iterator[AuditEntry]:
    result = session.execute(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    )
    for (entry,) in result:
        yield entry


def entries_for(session: Session, batch_number: str) -> list[AuditEntry]:
    """The batch's entries in chain order."""
    query = select(AuditEntry).where(AuditEntry.batch_number == batch_number)
    return list(session.scalars(query.order_by(AuditEntry.seq)))


def decoded(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain data, old and new values decoded."""
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "batch_number": entry.batch_number,
        "old": json.loads(entry.old_json),
        "new": json.loads(entry.new_json),
        "reason": entry.reason,
        "entry_hash": entry.entry_hash,
    }
