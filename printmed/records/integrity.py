"""Is the record whole? The chain, the job rows against the trail, the G-code, the signatures,
the master-file versions each batch was made with, the staff accounts.

The trail is the truth: replaying a batch's entries must give exactly the job's row, the stored
G-code must hash to the recorded SHA-256, and every signature must match what it signed, carry
its signer's digital signature, and that signer's key must be certified by a trusted service key.
Each master-file version a batch pins must still hash to what the batch recorded, and each user
row must be the account its signed `user.*` entries made (auth.users.account_problem).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit, catalog, keys
from printmed.auth.users import USER_KEY_PURPOSE, account_problem, certificate_text
from printmed.jobs.service import snapshot
from printmed.store.models import AuditEntry, Batch, Signature, StoredGcode, User, UserKey

SIGNATURE_PURPOSE = "e-signature"


def replay(session: Session, batch_number: str, through_seq: int | None = None) -> dict[str, Any]:
    """The job's recorded columns as the trail sets them, up to entry `through_seq`."""
    query = select(AuditEntry).where(
        AuditEntry.batch_number == batch_number, AuditEntry.entity == "job"
    )
    if through_seq is not None:
        query = query.where(AuditEntry.seq <= through_seq)
    fields: dict[str, Any] = {}
    for entry in session.scalars(query.order_by(AuditEntry.seq)):
        fields.update(json.loads(entry.new_json))
    return fields


def record_hash(session: Session, batch_number: str, through_seq: int) -> str:
    """SHA-256 of the batch's record as of trail entry `through_seq` (its hash included)."""
    head = session.get(AuditEntry, through_seq)
    head_hash = head.entry_hash if head is not None else audit.GENESIS_HASH
    return audit.sha256_text(
        audit.canonical_json(
            {
                "batch_number": batch_number,
                "through_seq": through_seq,
                "through_hash": head_hash,
                "record": replay(session, batch_number, through_seq),
            }
        )
    )


def signature_hash(signature: Signature) -> str:
    return audit.sha256_text(
        audit.canonical_json(
            {
                "batch_number": signature.batch_number,
                "username": signature.username,
                "printed_name": signature.printed_name,
                "meaning": signature.meaning,
                "signed_at": signature.signed_at,
                "through_seq": signature.through_seq,
                "record_hash": signature.record_hash,
            }
        )
    )


def digital_signature_problem(
    session: Session, signature: Signature, trusted: keys.TrustedKeys
) -> str | None:
    """Why `signature` is not its signer's own (None when it is): its key must be certified by
    a trusted service key as this signer's, and must have signed its signature hash."""
    if signature.user_key_id is None or signature.digital_signature is None:
        return "carries no digital signature"
    key = session.get(UserKey, signature.user_key_id)
    if key is None:
        return f"names signing key {signature.user_key_id}, which is not in the store"
    if key.username != signature.username or key.user_id != signature.user_id:
        return f"was made with the key of {key.username!r}, not of {signature.username!r}"
    if not trusted.verifies(
        key.service_key_id, USER_KEY_PURPOSE, certificate_text(key), key.certificate
    ):
        return f"was made with key {key.id}, which no trusted service key certified"
    if not keys.verifies(
        keys.public_from_hex(key.public_key),
        SIGNATURE_PURPOSE,
        signature.signature_hash,
        signature.digital_signature,
    ):
        return f"does not verify against {signature.username}'s certified key {key.id}"
    return None


def batch_problems(
    session: Session, job: Batch, trusted: keys.TrustedKeys | None = None
) -> list[str]:
    """What is wrong with one batch's record (empty when whole)."""
    trusted = trusted or keys.trusted_keys()
    problems = []
    recorded = replay(session, job.batch_number)
    for column, value in snapshot(job).items():
        if recorded.get(column) != value:
            problems.append(
                f"{job.batch_number}: {column} is {value!r} in the table but "
                f"{recorded.get(column)!r} in the audit trail"
            )
    problems += pinned_problems(session, job)
    if job.gcode_sha256 is not None:
        program = session.get(StoredGcode, job.gcode_sha256)
        if program is None or audit.sha256_text(program.text) != job.gcode_sha256:
            problems.append(
                f"{job.batch_number}: stored G-code does not hash to {job.gcode_sha256}"
            )
    # Every signature row has its entry in the trail (same hash), and no entry lacks its row.
    # Entries from before signing keys (no service signature) may hold signatures without a
    # digital one; any later signature must carry its signer's.
    signed_in_trail: dict[str, AuditEntry] = {}
    for entry in session.scalars(
        select(AuditEntry).where(
            AuditEntry.batch_number == job.batch_number, AuditEntry.entity == "signature"
        )
    ):
        signed_in_trail[json.loads(entry.new_json).get("signature_hash")] = entry
    signatures = list(
        session.scalars(select(Signature).where(Signature.batch_number == job.batch_number))
    )
    if len(signed_in_trail) != len(signatures):
        problems.append(
            f"{job.batch_number}: {len(signatures)} signatures but {len(signed_in_trail)} "
            "signature entries in the audit trail"
        )
    for signature in signatures:
        if signature.signature_hash not in signed_in_trail:
            problems.append(f"{job.batch_number}: signature {signature.id} is not in the trail")
        if signature_hash(signature) != signature.signature_hash:
            problems.append(f"{job.batch_number}: signature {signature.id} was altered")
        elif record_hash(session, job.batch_number, signature.through_seq) != signature.record_hash:
            problems.append(
                f"{job.batch_number}: signature {signature.id} ({signature.meaning}) does not "
                "match the record it signed"
            )
        trail_entry = signed_in_trail.get(signature.signature_hash)
        legacy = trail_entry is not None and trail_entry.service_signature is None
        if legacy and signature.digital_signature is None:
            continue
        problem = digital_signature_problem(session, signature, trusted)
        if problem is not None:
            problems.append(
                f"{job.batch_number}: signature {signature.id} ({signature.meaning}) {problem}"
            )
    return problems


def pinned_problems(session: Session, job: Batch) -> list[str]:
    """Each master-file version the batch pins, as the store holds it now, must be the version
    pinned and hash to the SHA-256 the batch recorded (a rewritten `content_json` is caught)."""
    pins = json.loads(job.master_pins_json) if job.master_pins_json else {}
    found = []
    for kind, pin in sorted(pins.items()):
        try:
            catalog.pinned_versions(session, {kind: pin})
        except catalog.MasterFileRefused as exc:
            found.append(
                f"{job.batch_number}: master file {kind} {pin.get('key')} "
                f"v{pin.get('version')}: {exc.field} {exc.reason}"
            )
    return found


@dataclass(frozen=True)
class IntegrityReport:
    chain: audit.ChainReport
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.chain.intact and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "chain": self.chain.to_dict(), "problems": self.problems}


def verify_records(
    session: Session, batch_number: str | None = None, key_dir: Path | None = None
) -> IntegrityReport:
    """Walk the whole chain, then check one batch (or every batch) against it, with the trusted
    public keys and checkpoints of `key_dir` (default: the settings')."""
    chain = audit.verify_chain(session, key_dir)
    trusted = keys.trusted_keys(key_dir)
    query = select(Batch).order_by(Batch.id)
    if batch_number is not None:
        query = query.where(Batch.batch_number == batch_number)
    problems = [
        problem
        for job in session.scalars(query)
        for problem in batch_problems(session, job, trusted)
    ]
    if batch_number is None:  # the whole store: every master-file version and its approval
        from printmed.records.masterfile import problems as master_problems

        problems += master_problems(session)
        problems += account_problems(session, trusted)
    return IntegrityReport(chain, problems)


def account_problems(session: Session, trusted: keys.TrustedKeys) -> list[str]:
    """Each user row that is not the account the signed trail made, named."""
    found = []
    for user in session.scalars(select(User).order_by(User.username)):
        problem = account_problem(session, user, trusted)
        if problem is not None:
            found.append(f"user {user.username}: {problem}")
    return found
