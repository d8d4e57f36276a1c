"""What someone holding the database and this code, but not the key folder, can do to a record:
drop the append-only triggers, rewrite an entry, and recompute with the project's own functions
every later hash, service signature, e-signature (with a key pair they make and certify with a
service key of their own) and the job row. Used by the tests that show it is caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from printmed import audit, checkpoints, keys
from printmed.auth.users import USER_KEY_PURPOSE, certificate_text
from printmed.jobs import service
from printmed.records.integrity import SIGNATURE_PURPOSE, record_hash, replay, signature_hash
from printmed.store import Store
from printmed.store.models import AuditEntry, Batch, Signature, UserKey

APPEND_ONLY = ("audit_entries", "signatures", "gcode_programs")


def use_key_dir(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Make `folder` the key folder of everything this process does from now on."""
    monkeypatch.setenv("PRINTMED_KEY_DIR", str(folder))
    return folder


def drop_append_only_triggers(store: Store) -> None:
    """One statement per trigger, as whoever holds the database file can."""
    with store.engine.begin() as connection:
        for table in APPEND_ONLY:
            if store.dialect == "sqlite":
                for verb in ("update", "delete"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
            else:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}"))


def forge(
    store: Store,
    seq: int,
    new_values: dict[str, Any],
    forger_key_dir: Path,
    *,
    action: str | None = None,
    resign_from: int | None = None,
    resign: bool = True,
) -> None:
    """Rewrite entry `seq`'s new values (and `action`, if given), then recompute everything
    after it with the project's code and the forger's own service key (in `forger_key_dir`):
    entries from `resign_from` (default `seq`) are re-signed with it, e-signatures after `seq`
    remade, job rows replayed, and a checkpoint of the new head written there. With `resign`
    False the hashes are recomputed and every service signature is left as it was (a forger
    who does not bother with a key of their own)."""
    drop_append_only_triggers(store)
    forger_key = keys.service_key(forger_key_dir)
    resign_from = seq if resign_from is None else resign_from
    with store.session() as session:
        for user_key in session.scalars(select(UserKey)):
            if resign_from == 1:  # a forger re-signing everything re-certifies every key too
                user_key.service_key_id = forger_key.key_id
                user_key.certificate = forger_key.sign(USER_KEY_PURPOSE, certificate_text(user_key))
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.seq >= resign_from).order_by(AuditEntry.seq)
        ).all()
        previous = session.get(AuditEntry, resign_from - 1)
        previous_hash = previous.entry_hash if previous is not None else audit.GENESIS_HASH
        batches: set[str] = set()
        for entry in entries:
            if entry.seq == seq:
                entry.new_json = audit.canonical_json({**json.loads(entry.new_json), **new_values})
                entry.action = action or entry.action
            if entry.entity == "signature" and entry.seq > seq:
                _resign(session, entry, forger_key)
            if entry.batch_number is not None:
                batches.add(entry.batch_number)
            entry.prev_hash = previous_hash
            entry.entry_hash = audit.entry_hash(entry)
            if resign:
                entry.key_id = forger_key.key_id
                entry.service_signature = forger_key.sign(audit.ENTRY_PURPOSE, entry.entry_hash)
            session.flush()
            previous_hash = entry.entry_hash
        for batch_number in sorted(batches):
            _rewrite_job_row(session, batch_number)
        first = session.get(AuditEntry, 1)
        head = entries[-1]
        assert first is not None
        chain_id, head_seq, head_hash = first.entry_hash, head.seq, head.entry_hash
    checkpoints.write_checkpoints(
        forger_key_dir,
        [checkpoints.make_checkpoint(forger_key, chain_id, head_seq, head_hash, audit.utc_now())],
    )


def _resign(session: Any, entry: AuditEntry, forger_key: keys.ServiceKey) -> None:
    """The e-signature of `entry` over the rewritten record, with a key pair the forger makes
    for the signer and certifies with their own service key (the signer's sealed key would need
    the signer's password)."""
    signature = session.get(Signature, int(entry.entity_id))
    signature.record_hash = record_hash(session, signature.batch_number, signature.through_seq)
    signature.signature_hash = signature_hash(signature)
    user_key, private = forged_user_key(session, signature.user_id, signature.username, forger_key)
    signature.user_key_id = user_key.id
    signature.digital_signature = private.sign(
        keys.signed_text(SIGNATURE_PURPOSE, signature.signature_hash)
    ).hex()
    values = json.loads(entry.new_json)
    values.update(
        record_hash=signature.record_hash,
        signature_hash=signature.signature_hash,
        user_key_id=signature.user_key_id,
        digital_signature=signature.digital_signature,
    )
    entry.new_json = audit.canonical_json(values)


def forged_user_key(
    session: Any, user_id: int, username: str, forger_key: keys.ServiceKey
) -> tuple[UserKey, Ed25519PrivateKey]:
    """A key pair for `username` stored as the project stores one, certified by `forger_key`."""
    private = Ed25519PrivateKey.generate()
    sealed = keys.seal(private, "forger's own password", username)
    user_key = UserKey(
        user_id=user_id,
        username=username,
        public_key=sealed.public_hex,
        sealed_private_key=sealed.sealed_hex,
        kdf_salt=sealed.salt_hex,
        kdf_n=sealed.n,
        kdf_r=sealed.r,
        kdf_p=sealed.p,
        created_at=audit.utc_now(),
        service_key_id=forger_key.key_id,
    )
    user_key.certificate = forger_key.sign(USER_KEY_PURPOSE, certificate_text(user_key))
    session.add(user_key)
    session.flush()
    return user_key, private


def _rewrite_job_row(session: Any, batch_number: str) -> None:
    job = session.scalar(select(Batch).where(Batch.batch_number == batch_number))
    for column, value in replay(session, batch_number).items():
        stored = (
            audit.canonical_json(value)
            if column in service.JSON_COLUMNS and value is not None
            else value
        )
        setattr(job, column, stored)
    session.flush()


def unsigned_entry(
    seq: int,
    prev_hash: str,
    *,
    action: str,
    entity: str,
    entity_id: str,
    new: Any,
    reason: str = "account created",
) -> AuditEntry:
    """An entry with its hash and link right and no service signature: what the code before
    signing keys wrote, and what whoever writes the database can add."""
    entry = AuditEntry(
        seq=seq,
        at=audit.utc_now(),
        actor="system",
        action=action,
        entity=entity,
        entity_id=entity_id,
        batch_number=None,
        old_json="null",
        new_json=audit.canonical_json(new),
        reason=reason,
        prev_hash=prev_hash,
    )
    entry.entry_hash = audit.entry_hash(entry)
    return entry
