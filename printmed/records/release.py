"""Release of a batch by a pharmacist: role, passing QC, intact record, four eyes, signature.

The releasing pharmacist must have performed none of the batch's manufacturing steps: entering
the prescription, verifying, queueing, weighing, or signing as performer or checker.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from printmed.audit import entries_for, lock_chain
from printmed.auth.rules import Action, require
from printmed.auth.users import NotPermitted
from printmed.jobs.service import column_value, get_batch, record_change
from printmed.jobs.states import BatchState, NotScreened
from printmed.records.errors import QcNotPassed, RecordNotIntact
from printmed.records.integrity import verify_records
from printmed.records.reconciliation import check_reconciled
from printmed.records.signatures import SCREENED, Signer, release_signature, signatures_of
from printmed.store.models import Batch, Signature, User

MANUFACTURING_ACTIONS = frozenset(
    {
        "job.create",
        "job.verify",
        "job.queue",
        "record.weigh",
        "record.weigh.correct",
        "record.units.reject",
    }
)
MANUFACTURING_MEANINGS = frozenset({"performed", "checked"})


def manufacturers(session: Session, job: Batch) -> set[str]:
    """Usernames of everyone who did a manufacturing step of the batch."""
    actors = {
        e.actor for e in entries_for(session, job.batch_number) if e.action in MANUFACTURING_ACTIONS
    }
    signers = {
        s.username
        for s in signatures_of(session, job.batch_number)
        if s.meaning in MANUFACTURING_MEANINGS
    }
    return actors | signers


def check_releasable(session: Session, job: Batch, user: User) -> None:
    """Every condition of release, in the order a pharmacist would want to hear of them."""
    require(user, Action.RELEASE)
    if job.state != BatchState.WEIGHED:
        raise QcNotPassed("state", job.state, f"is not weighed; {job.batch_number} has no QC")
    # screening is not manufacturing: the screening pharmacist may release (not a maker) but
    # a batch made before any pharmacist screened it is not released
    if not any(s.meaning == SCREENED for s in signatures_of(session, job.batch_number)):
        raise NotScreened(job.batch_number, job.state, "released")
    qc = column_value(job, "qc_json") or {}
    if not qc.get("passed"):
        failed = [s for s in qc.get("steps") or [qc] if not s.get("passed")] or [qc]
        why = "; ".join(
            (f"step {s['step']}: " if "step" in s else "")
            + f"mass uniformity passed={(s.get('mass_uniformity') or {}).get('passed')}, "
            f"AV={(s.get('acceptance_value') or {}).get('value')}"
            for s in failed
        )
        raise QcNotPassed("qc", "failed", f"for {job.batch_number} ({why})")
    check_reconciled(session, job)  # every planned unit released or rejected with a reason
    report = verify_records(session, job.batch_number)
    if not report.intact:
        where = (
            f"entry {report.chain.first_broken_seq}: {report.chain.problem}"
            if not report.chain.intact
            else "; ".join(report.problems)
        )
        raise RecordNotIntact("audit trail", "broken", f"at {where}; release refused")
    if user.username in manufacturers(session, job):
        raise NotPermitted(
            user.username,
            "release " + job.batch_number,
            "they performed a manufacturing step of this batch (four eyes)",
        )


def release(session: Session, batch_number: str, signer: Signer) -> Signature:
    """Release by `signer`, a pharmacist who has just re-entered their password (through the
    sign-in defence: `signatures.admit_signer`, in a transaction before this one); returns the
    'released' signature, the only one there is of that meaning."""
    lock_chain(session)  # before the job's row, as every audited transaction does
    job = get_batch(session, batch_number, for_update=True)
    check_releasable(session, job, signer.user)
    signature = release_signature(session, job, signer)
    record_change(
        session,
        job,
        signer.username,
        "record.release",
        {"state": BatchState.RELEASED.value},
        reason=f"released by {signer.full_name} (signature {signature.id})",
    )
    return signature
