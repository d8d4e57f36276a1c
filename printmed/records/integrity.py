"""Is the record whole? The chain, the job rows against the trail, the G-code, the signatures.

The trail is the truth: replaying a batch's entries must give exactly the job's row, the stored
G-code must hash to the recorded SHA-256, and every signature must match what it signed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.jobs.service import snapshot
from printmed.store.models import AuditEntry, Batch, Signature, StoredGcode


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


def batch_problems(session: Session, job: Batch) -> list[str]:
    """What is wrong with one batch's record (empty when whole)."""
    problems = []
    recorded = replay(session, job.batch_number)
    for column, value in snapshot(job).items():
        if recorded.get(column) != value:
            problems.append(
                f"{job.batch_number}: {column} is {value!r} in the table but "
                f"{recorded.get(column)!r} in the audit trail"
            )
    if job.gcode_sha256 is not None:
        program = session.get(StoredGcode, job.gcode_sha256)
        if program is None or audit.sha256_text(program.text) != job.gcode_sha256:
            problems.append(
                f"{job.batch_number}: stored G-code does not hash to {job.gcode_sha256}"
            )
    # Every signature row has its entry in the trail (same hash), and no entry lacks its row.
    signed_in_trail = {
        json.loads(entry.new_json).get("signature_hash")
        for entry in session.scalars(
            select(AuditEntry).where(
                AuditEntry.batch_number == job.batch_number, AuditEntry.entity == "signature"
            )
        )
    }
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
    return problems


@dataclass(frozen=True)
class IntegrityReport:
    chain: audit.ChainReport
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.chain.intact and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "chain": self.chain.to_dict(), "problems": self.problems}


def verify_records(session: Session, batch_number: str | None = None) -> IntegrityReport:
    """Walk the whole chain, then check one batch (or every batch) against it."""
    chain = audit.verify_chain(session)
    query = select(Batch).order_by(Batch.id)
    if batch_number is not None:
        query = query.where(Batch.batch_number == batch_number)
    problems = [
        problem for job in session.scalars(query) for problem in batch_problems(session, job)
    ]
    return IntegrityReport(chain, problems)
