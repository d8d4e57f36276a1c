"""Electronic signatures: the signer re-enters a password, which opens their own Ed25519 key; the
signature holds the printed name, the time, the meaning and the hash of the record as signed,
signed with that key, so it can neither move to another record nor be made without the password.

The password is checked through the sign-in defence (`admit_signer`): a session left open cannot
be used to guess its owner's password at the signing prompt, and a locked account signs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit, keys
from printmed.auth import lockout
from printmed.auth.rules import Action, require
from printmed.auth.users import (
    AuthenticationFailed,
    SigningKeyMissing,
    authenticate,
    current_key,
    unseal_key,
)
from printmed.errors import InputError
from printmed.records.integrity import SIGNATURE_PURPOSE, record_hash, signature_hash
from printmed.settings import SignInPolicy
from printmed.store import Store
from printmed.store.models import AuditEntry, Batch, Signature, User, UserKey

MEANINGS = ("performed", "checked", "reviewed", "screened", "released")
RELEASED = "released"
SCREENED = "screened"
# what `sign` gives; released and screened come only from releasing and screening the batch
SIGNABLE = tuple(m for m in MEANINGS if m not in (RELEASED, SCREENED))


class ReleasedOnlyByRelease(InputError):
    """A 'released' signature asked of anything but `release()`, which checks four eyes and QC."""

    def __init__(self) -> None:
        super().__init__("meaning", RELEASED, "is given only by releasing the batch")


@dataclass(frozen=True)
class Signer:
    """A re-authenticated user holding their opened signing key for one signature."""

    user: User
    key: UserKey
    private_key: Ed25519PrivateKey

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def full_name(self) -> str:
        return self.user.full_name

    def signed(self, purpose: str, sha256: str) -> str:
        """The Ed25519 signature (hex) of `sha256` for `purpose` with this signer's key, its
        id `key.id` (a release, a screening, an approval of a calibration or master version)."""
        return self.private_key.sign(keys.signed_text(purpose, sha256)).hex()


def admit_signer(
    store: Store,
    policy: SignInPolicy,
    username: str,
    password: str,
    meaning: str,
    *,
    address: str,
    channel: str,
    clock: lockout.Clock = lockout.utc_clock,
) -> Signer:
    """`authenticate_signer` through the sign-in defence, in a transaction of its own that is
    committed whatever the outcome (the attempt is recorded, a key issued at a pre-keys
    account's first check is kept); sign or release with the Signer in the next transaction.

    SignInThrottled or AccountLocked without the password checked, AuthenticationFailed for a
    wrong one; a meaning that does not exist is refused before anything is counted.
    """
    _check_meaning(meaning)
    attempt = lockout.Attempt(username, address, channel, purpose=lockout.E_SIGNATURE)
    return lockout.admit(
        store,
        policy,
        attempt,
        lambda session: authenticate_signer(session, username, password, meaning),
        clock=clock,
    )


def authenticate_signer(session: Session, username: str, password: str, meaning: str) -> Signer:
    """The signer, after their password, with their key opened by it; admins sign nothing.
    Neither throttled nor recorded: callers that take a password from a person use
    `admit_signer`."""
    _check_meaning(meaning)
    user = authenticate(session, username, password)
    require(user, Action.SIGN)
    key = current_key(session, user)
    if key is None:  # authenticate() issued one unless the trail had issued one before
        raise SigningKeyMissing(username)
    return Signer(user, key, unseal_key(key, password))


def sign(session: Session, job: Batch, signer: Signer, meaning: str) -> Signature:
    """Sign the batch's record as it stands now, with any meaning but 'released' (release()
    alone makes that one, after its checks)."""
    if meaning == RELEASED:
        raise ReleasedOnlyByRelease()
    if meaning == SCREENED:
        raise InputError("meaning", SCREENED, "is given only by screening the batch")
    return _signature(session, job, signer, meaning)


def _check_meaning(meaning: str) -> None:
    if meaning not in MEANINGS:
        raise InputError("meaning", meaning, f"is not one of {', '.join(MEANINGS)}")


def _check_still_may_sign(session: Session, signer: Signer) -> None:
    """The signer's account as it is now, in the signing transaction: one deactivated or locked
    since the password was checked (a transaction earlier) signs nothing."""
    user = session.get(User, signer.user.id)
    if user is None or not user.active:
        raise AuthenticationFailed(signer.username)
    if user.locked_at is not None:
        raise lockout.AccountLocked(signer.username, user.locked_at)


def _signature(session: Session, job: Batch, signer: Signer, meaning: str) -> Signature:
    _check_meaning(meaning)
    _check_still_may_sign(session, signer)
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
        user_id=signer.user.id,
        username=signer.username,
        printed_name=signer.full_name,
        meaning=meaning,
        signed_at=audit.utc_now(),
        through_seq=through_seq,
        record_hash=record_hash(session, job.batch_number, through_seq),
        user_key_id=signer.key.id,
    )
    signature.signature_hash = signature_hash(signature)
    signature.digital_signature = signer.signed(SIGNATURE_PURPOSE, signature.signature_hash)
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
            "user_key_id": signature.user_key_id,
            "digital_signature": signature.digital_signature,
        },
        reason=f"electronic signature: {meaning}",
    )
    return signature


def release_signature(session: Session, job: Batch, signer: Signer) -> Signature:
    """The 'released' signature: for `release()` only, which has checked everything first."""
    return _signature(session, job, signer, RELEASED)


def screening_signature(session: Session, job: Batch, signer: Signer) -> Signature:
    """The 'screened' signature: for `records.screening.screen()` only, after its checks."""
    return _signature(session, job, signer, SCREENED)


def signatures_of(session: Session, batch_number: str) -> list[Signature]:
    query = select(Signature).where(Signature.batch_number == batch_number)
    return list(session.scalars(query.order_by(Signature.id)))
