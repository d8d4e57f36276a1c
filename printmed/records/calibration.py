"""Approving (or declining) a proposed calibration factor: a pharmacist other than the one who
proposed it, with their password (through the sign-in defence) and a reason; the approval is
signed with the approver's own key. From then on new batches of the lot on that printer and
profile are designed with the factor (`jobs.calibration.factor_for`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, NotPermitted, require
from printmed.errors import InputError
from printmed.jobs import calibration
from printmed.records.signatures import Signer
from printmed.store.models import LotCalibration, User

APPROVAL_PURPOSE = "lot-calibration"
APPROVAL_MEANING = "reviewed"  # the signature meaning the password is asked for


def approval_sha256(row: LotCalibration) -> str:
    """What the approver signs: the calibration, its fit, who approves, when and why."""
    return audit.sha256_text(
        audit.canonical_json(
            {
                "id": row.id,
                "lot": row.lot,
                "printer": row.printer,
                "profile_id": row.profile_id,
                "factor_before": row.factor_before,
                "factor": row.factor,
                "fit_sha256": audit.sha256_text(row.fit_json),
                "proposed_by": row.proposed_by,
                "decided_by": row.decided_by,
                "decided_at": row.decided_at,
                "reason": row.reason,
            }
        )
    )


def _decidable(row: LotCalibration, user: User, verb: str) -> None:
    if row.status != calibration.PROPOSED:
        raise InputError("calibration", row.id, f"is {row.status}; only a proposal is {verb}")
    if user.username == row.proposed_by:
        raise NotPermitted(
            user.username,
            f"{verb[:-1]} calibration {row.id}",
            "they proposed it (four eyes: a second pharmacist decides)",
        )


def approve(session: Session, calibration_id: int, signer: Signer, reason: str) -> LotCalibration:
    """Approve with the signer's key (their password was checked by `admit_signer` in a
    transaction before this one); the calibration it replaces is superseded."""
    require(signer.user, Action.APPROVE_CALIBRATION)
    reason = audit.required_reason(reason)
    row = calibration.get(session, calibration_id, for_update=True)
    _decidable(row, signer.user, "approved")
    in_force = calibration.approved(session, row.lot, row.printer, row.profile_id)
    if in_force is not None:
        in_force.status = calibration.SUPERSEDED
    row.status = calibration.APPROVED
    row.decided_by = signer.username
    row.decided_at = audit.utc_now()
    row.reason = reason
    row.approval_sha256 = approval_sha256(row)
    row.approval_key_id = signer.key.id
    row.approval_signature = signer.signed(APPROVAL_PURPOSE, row.approval_sha256)
    session.flush()
    audit.append(
        session,
        actor=signer.username,
        action="calibration.approve",
        entity="calibration",
        entity_id=row.id,
        old={"factor": row.factor_before, "status": calibration.PROPOSED},
        new={
            "factor": row.factor,
            "status": calibration.APPROVED,
            "lot": row.lot,
            "printer": row.printer,
            "profile_id": row.profile_id,
            "approval_sha256": row.approval_sha256,
            "approval_signature": row.approval_signature,
            "user_key_id": row.approval_key_id,
        },
        reason=reason,
    )
    return row


def decline(session: Session, calibration_id: int, user: User, reason: str) -> LotCalibration:
    """Decline a proposal with a reason; the factor in use stays."""
    require(user, Action.APPROVE_CALIBRATION)
    reason = audit.required_reason(reason)
    row = calibration.get(session, calibration_id, for_update=True)
    _decidable(row, user, "declined")
    row.status = calibration.DECLINED
    row.decided_by = user.username
    row.decided_at = audit.utc_now()
    row.reason = reason
    audit.append(
        session,
        actor=user.username,
        action="calibration.decline",
        entity="calibration",
        entity_id=row.id,
        old={"status": calibration.PROPOSED},
        new={"status": calibration.DECLINED, "factor": row.factor},
        reason=reason,
    )
    return row
