"""Electronic signatures: the signer re-enters a password; the signature holds the printed name,
the time, the meaning and the hash of the record as signed, so it cannot move to another record.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.auth.users import authenticate
from printmed.errors import InputError
from printmed.records.integrity import record_hash, signature_hash
from printmed.store.models import AuditEntry, Batch, Signature, User

MEANINGS = ("performed", "checked", "reviewed", "released")


def authenticate_signer(session: Session, username: str, password: str, meaning: str) -> User:
    """The signer, after their password; admins sign nothing (they cannot change records)."""
    if meaning not in MEANINGS:
        raise InputError("meaning", meaning, f"is not one of {', '.join(MEANINGS)}")
    user = authenticate(session, username, password)
    require(user, Action.SIGN)
    return user


def sign(session: Session, job: Batch, signer: User, meaning: str) -> Signature:
    """Sign the batch's record as it stands now (`signer` already re-authenticated)."""
    if meaning not in MEANINGS:
        raise InputError("meaning", meaning, f"is not one of {', '.join(MEANINGS)}")
    through_seq = session.scalar(
        select(AuditEntry.seq)
        .where(AuditEntry.batch_number == job.batch_number)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    if through_seq is None:
        raise InputError("batch", job.batch_number, "has no record to sign")
    signature = Signature(
        batch_number=job.batch_number,
        user_id=signer.id,
        username=signer.username,
        printed_name=signer.full_name,
        meaning=meaning,
        signed_at=audit.utc_now(),
        through_seq=through_seq,
        record_hash=record_hash(session, job.batch_number, through_seq),
    )
    signature.signature_hash = signature_hash(signature)
    session.add(signature)
    session.flush()
    audit.append(
        session,
        actor=signer.username,
        action=f"record.sign.{meaning}",
        entity="signature",
        entity_id=signature.id,
        batch_number=job.batch_number,
        new={
            "printed_name": signature.printed_name,
            "meaning": meaning,
            "signed_at": signature.signed_at,
            "through_seq": through_seq,
            "record_hash": signature.record_hash,
            "signature_hash": signature.signature_hash,
        },
        reason=f"electronic signature: {meaning}",
    )
    return signature


def signatures_of(session: Session, batch_number: str) -> list[Signature]:
    query = select(Signature).where(Signature.batch_number == batch_number)
    return list(session.scalars(query.order_by(Signature.id)))
