"""The audit trail: append-only entries (who, what, old and new, when, why) in a SHA-256 chain,
each entry signed by the service key, the head checkpointed outside the database.

Each entry's hash covers the canonical JSON of its columns and the previous entry's hash, so an
edited, removed or reordered entry breaks the chain at that point and `verify_chain` names it.
Whoever holds the database and this code can recompute every hash, but not the Ed25519
signatures (the key is a file outside the data folder) nor the checkpoints (a file beside it).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import event, func, or_, select, text
from sqlalchemy.orm import Session

from printmed import checkpoints, keys
from printmed.errors import InputError
from printmed.store.engine import after_write_turn, keep_for_transaction, kept_for_transaction
from printmed.store.models import AuditEntry

GENESIS_HASH = "0" * 64
ENTRY_PURPOSE = "audit-entry"
PENDING_CHECKPOINTS = "printmed.pending_checkpoints"  # Session.info key
# kept for the transaction (`store.engine.keep_for_transaction`): the lock held, the head it
# appended last, the first entry's hash
CHAIN_LOCKED = "printmed.chain_locked"
CHAIN_HEAD = "printmed.chain_head"
CHAIN_FIRST = "printmed.chain_first"
CHAIN_ENTITY = "chain"  # entries about the chain itself; each one is checkpointed
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


class _Head(NamedTuple):
    """The head of the chain as `append` needs it."""

    seq: int
    entry_hash: str
    service_signature: str | None


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
    if session.get_bind().dialect.name != "postgresql":
        return
    if kept_for_transaction(session, CHAIN_LOCKED):
        return  # held already: taken once per transaction, not once per caller (a round trip)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    keep_for_transaction(session, CHAIN_LOCKED, True)


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
    # the head this transaction appended last (the lock is held until it ends), else the table's
    head: _Head | None = kept_for_transaction(session, CHAIN_HEAD) or _read_head(session)
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
    settings = keys.key_settings()
    service_key = keys.service_key(settings.key_dir)
    entry.key_id = service_key.key_id
    entry.service_signature = service_key.sign(ENTRY_PURPOSE, entry.entry_hash)
    session.add(entry)
    session.flush()
    keep_for_transaction(
        session, CHAIN_HEAD, _Head(entry.seq, entry.entry_hash, entry.service_signature)
    )
    if (
        head is None
        or head.service_signature is None  # the first signed entry after unsigned (older) ones
        or entry.seq % settings.checkpoint_every == 0
        or entity in ("signature", CHAIN_ENTITY)
        or (entity == "job" and isinstance(new, dict) and "state" in new)
    ):
        _checkpoint_after_commit(session, settings.key_dir, service_key, entry)
    return entry


def _read_head(session: Session) -> _Head | None:
    """The last entry, and with it (one query) the first, whose hash the checkpoints name."""
    last = select(func.max(AuditEntry.seq)).scalar_subquery()
    rows = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash, AuditEntry.service_signature).where(
            or_(AuditEntry.seq == 1, AuditEntry.seq == last)
        )
    ).all()
    if not rows:
        return None
    first = min(rows, key=lambda row: row.seq)
    if first.seq == 1:
        keep_for_transaction(session, CHAIN_FIRST, first.entry_hash)
    head = max(rows, key=lambda row: row.seq)
    return _Head(head.seq, head.entry_hash, head.service_signature)


def checkpoint(session: Session, actor: str, reason: str) -> AuditEntry:
    """An entry that only marks the head, so that a checkpoint of it is written on commit: after
    an upgrade from a store without keys (it vouches for the older entries), or before a backup."""
    return append(
        session,
        actor=actor,
        action="chain.checkpoint",
        entity=CHAIN_ENTITY,
        entity_id="head",
        reason=required_reason(reason),
    )


def _checkpoint_after_commit(
    session: Session, key_dir: Path, service_key: keys.ServiceKey, entry: AuditEntry
) -> None:
    """Sign a checkpoint of `entry` as the head, to be appended to the file once the transaction
    commits (never before: a rolled-back entry must leave no checkpoint behind). The product
    uses no savepoints; a rolled-back savepoint would leave a checkpoint of a lost entry."""
    # read once a transaction (with the head, by `_read_head`): a second checkpoint reads no more
    first_hash = kept_for_transaction(session, CHAIN_FIRST)
    if first_hash is None:
        first = entry if entry.seq == 1 else session.get(AuditEntry, 1)
        if first is None:
            return
        first_hash = first.entry_hash
        keep_for_transaction(session, CHAIN_FIRST, first_hash)
    checkpoint = checkpoints.make_checkpoint(
        service_key, first_hash, entry.seq, entry.entry_hash, utc_now()
    )
    session.info.setdefault(PENDING_CHECKPOINTS, []).append((key_dir, checkpoint))
    if not event.contains(session, "after_commit", _write_pending_checkpoints):
        event.listen(session, "after_commit", _write_pending_checkpoints)
        event.listen(session, "after_rollback", _drop_pending_checkpoints)


def _write_pending_checkpoints(session: Session) -> None:
    pending = session.info.pop(PENDING_CHECKPOINTS, [])
    by_folder: dict[Path, list[checkpoints.Checkpoint]] = {}
    for key_dir, checkpoint in pending:
        by_folder.setdefault(key_dir, []).append(checkpoint)
    for key_dir, written in by_folder.items():
        # after the write turn (SQLite), so the file's fsync does not hold up the next writer;
        # the entries are committed already, and a checkpoint is checked by its seq, not its place
        after_write_turn(functools.partial(checkpoints.write_checkpoints, key_dir, written))


def _drop_pending_checkpoints(session: Session) -> None:
    session.info.pop(PENDING_CHECKPOINTS, None)


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: intact, or the first broken entry and why.

    checkpoints: how many signed checkpoints outside the database vouch for this chain;
    checkpointed_seq: the latest entry one of them names."""

    entries: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None
    checkpoints: int = 0
    checkpointed_seq: int = 0

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
            "checkpoints": self.checkpoints,
            "checkpointed_seq": self.checkpointed_seq,
        }


def verify_chain(session: Session, key_dir: Path | None = None) -> ChainReport:
    """Walk every entry in order: numbering without gaps, links, each entry's own hash and its
    service signature (against the trusted public keys of `key_dir`, default the settings');
    then the signed checkpoints kept there: each must match the entry it names, and none may
    name an entry beyond the end. The first entry that fails is named."""
    key_dir = key_dir or keys.configured_key_dir()
    trusted = keys.trusted_keys(key_dir)
    marks: dict[int, list[checkpoints.Checkpoint]] = {}
    found: list[checkpoints.Checkpoint] = []
    vouched_through = 0
    previous_hash = GENESIS_HASH
    count = 0
    signed_before = False

    def broken(seq: int, problem: str) -> ChainReport:
        return ChainReport(count, previous_hash, seq, problem, len(found), vouched_through)

    for entry in _in_order(session):
        expected_seq = count + 1
        if entry.seq != expected_seq:
            return broken(expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != previous_hash:
            return broken(entry.seq, "its link to the previous entry does not match")
        if entry_hash(entry) != entry.entry_hash:
            return broken(entry.seq, "its content does not match its hash (edited)")
        if entry.seq == 1:
            try:
                found = checkpoints.read_checkpoints(key_dir, entry.entry_hash)
            except checkpoints.CheckpointUnreadable as exc:
                return broken(1, f"its checkpoints cannot be read: {exc}")
            for checkpoint in found:
                if not checkpoint.signed_by(trusted):
                    return broken(
                        checkpoint.seq,
                        f"its checkpoint of {checkpoint.at} is not signed by a trusted service key",
                    )
                marks.setdefault(checkpoint.seq, []).append(checkpoint)
            vouched_through = max((c.seq for c in found), default=0)
        problem = _service_signature_problem(entry, trusted, vouched_through, signed_before)
        if problem is not None:
            return broken(entry.seq, problem)
        signed_before = signed_before or entry.service_signature is not None
        for checkpoint in marks.get(entry.seq, []):
            if checkpoint.head_hash != entry.entry_hash:
                return broken(
                    entry.seq,
                    f"it is not the entry the checkpoint of {checkpoint.at} signed "
                    "outside the database",
                )
        previous_hash = entry.entry_hash
        count += 1
    if count and not found:
        return broken(1, f"no signed checkpoint of this chain in {key_dir}")
    if vouched_through > count:
        return broken(
            count + 1,
            f"entry {count + 1} is missing: the chain ends at {count} but a checkpoint "
            f"outside the database names entry {vouched_through}",
        )
    return ChainReport(count, previous_hash, None, None, len(found), vouched_through)


def _service_signature_problem(
    entry: AuditEntry, trusted: keys.TrustedKeys, vouched_through: int, signed_before: bool
) -> str | None:
    if entry.service_signature is None:
        if signed_before:
            return UNSIGNED_AFTER_SIGNED
        # Entries from before the service key (migration 0004) are vouched for by a checkpoint.
        if entry.seq <= vouched_through:
            return None
        return "it has no service signature and no checkpoint covers it"
    return signature_problem(entry, trusted)


# Every entry since the first signed one is signed: an unsigned one among them was written
# beside the service (the next signed entry chained onto it unawares).
UNSIGNED_AFTER_SIGNED = "it has no service signature, though entries before it have"


def signature_problem(entry: AuditEntry, trusted: keys.TrustedKeys) -> str | None:
    """Why the service signature of `entry` does not vouch for its hash (None when it does)."""
    if entry.key_id not in trusted.public:
        return f"it is signed with key {entry.key_id}, which is not a trusted service key"
    signature = entry.service_signature or ""
    if not trusted.verifies(entry.key_id, ENTRY_PURPOSE, entry.entry_hash, signature):
        return "its service signature does not match (rewritten without the service key)"
    return None


class EntryNotAuthentic(InputError):
    """An audit entry something is about to rest on is not as the service wrote it: carries its
    seq (the value) and what is wrong with it."""

    def __init__(self, entry: AuditEntry, problem: str) -> None:
        self.seq = entry.seq
        self.problem = problem
        subject = entry.batch_number or entry.entity_id
        super().__init__("audit entry", entry.seq, f"({entry.action}, {subject}): {problem}")


def check_authentic(
    session: Session, entries: Iterable[AuditEntry], trusted: keys.TrustedKeys | None = None
) -> None:
    """Raise EntryNotAuthentic for the first of `entries` that `entry_problem` finds wrong,
    against `trusted` (default: the service keys the settings' key folder trusts)."""
    trusted = trusted or keys.trusted_keys()
    for entry in entries:
        problem = entry_problem(session, entry, trusted)
        if problem is not None:
            raise EntryNotAuthentic(entry, problem)


def entry_problem(session: Session, entry: AuditEntry, trusted: keys.TrustedKeys) -> str | None:
    """Why `entry` cannot be believed as the service wrote it (None when it can), without
    walking the whole chain: its content must hash to its hash, and that hash carry a trusted
    service signature. An entry from before the service key (no signature) must come before
    the first signed entry, which vouches for it through the links between them.

    What this cannot see is an entry removed from around it: `verify_chain` walks for that.
    """
    if entry_hash(entry) != entry.entry_hash:
        return "its content does not match its hash (edited)"
    following = session.get(AuditEntry, entry.seq + 1)
    if following is not None and following.prev_hash != entry.entry_hash:
        return f"the entry after it ({following.seq}) does not link to it"
    if entry.service_signature is not None:
        return signature_problem(entry, trusted)
    first_signed = session.scalar(
        select(AuditEntry)
        .where(AuditEntry.service_signature.is_not(None))
        .order_by(AuditEntry.seq)
        .limit(1)
    )
    if first_signed is None:
        return "it has no service signature and no signed entry vouches for it"
    if first_signed.seq < entry.seq:
        return UNSIGNED_AFTER_SIGNED
    previous_hash, expected_seq = entry.entry_hash, entry.seq + 1
    between = select(AuditEntry).where(
        AuditEntry.seq > entry.seq, AuditEntry.seq <= first_signed.seq
    )
    for later in session.scalars(between.order_by(AuditEntry.seq)):
        if (
            later.seq != expected_seq
            or later.prev_hash != previous_hash
            or entry_hash(later) != later.entry_hash
        ):
            return (
                f"it has no service signature and the chain from it to the first signed entry "
                f"({first_signed.seq}) is broken at entry {expected_seq}"
            )
        previous_hash, expected_seq = later.entry_hash, expected_seq + 1
    problem = signature_problem(first_signed, trusted)
    if problem is not None:
        return (
            f"it has no service signature and the first signed entry ({first_signed.seq}), "
            f"which would vouch for it, fails: {problem}"
        )
    return None


def chain_checkpoints(
    session: Session, key_dir: Path | None = None
) -> list[checkpoints.Checkpoint]:
    """The signed checkpoints of this store's chain kept in `key_dir` (default: the settings')."""
    first = session.get(AuditEntry, 1)
    if first is None:
        return []
    return checkpoints.read_checkpoints(key_dir or keys.configured_key_dir(), first.entry_hash)


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
