"""A batch's states and the only transitions allowed between them.

draft → verified (passed the dose gate) → screened (a pharmacist's clinical check) → queued →
printing → printed → weighed → released or rejected; failed and interrupted end a print that did
not finish; nothing else moves. A pharmacist may instead return a verified batch with a reason:
`returned` waits for the technician, who re-enters the prescription as a new batch and rejects
this one (its G-code and targets are fixed by its one verification, which the worker checks).
"""

from __future__ import annotations

from enum import StrEnum

from printmed.errors import InputError


class BatchState(StrEnum):
    DRAFT = "draft"
    VERIFIED = "verified"
    SCREENED = "screened"
    RETURNED = "returned"
    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    WEIGHED = "weighed"
    RELEASED = "released"
    REJECTED = "rejected"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


S = BatchState
TRANSITIONS: dict[BatchState, frozenset[BatchState]] = {
    S.DRAFT: frozenset({S.VERIFIED, S.REJECTED}),
    S.VERIFIED: frozenset({S.SCREENED, S.RETURNED, S.REJECTED}),
    S.SCREENED: frozenset({S.QUEUED, S.REJECTED}),
    S.RETURNED: frozenset({S.REJECTED}),
    # taken off the queue, a batch is still screened: the check was of the order, not the queue
    S.QUEUED: frozenset({S.PRINTING, S.SCREENED, S.REJECTED}),
    S.PRINTING: frozenset({S.PRINTED, S.FAILED, S.INTERRUPTED}),
    S.PRINTED: frozenset({S.WEIGHED, S.REJECTED}),
    # A weighed batch may be weighed again (a correction) before it is released or rejected.
    S.WEIGHED: frozenset({S.WEIGHED, S.RELEASED, S.REJECTED}),
    S.FAILED: frozenset({S.REJECTED}),
    S.INTERRUPTED: frozenset({S.REJECTED}),
    S.RELEASED: frozenset(),
    S.REJECTED: frozenset(),
}
FINAL_STATES = frozenset(state for state, onward in TRANSITIONS.items() if not onward)


class IllegalTransition(InputError):
    """A move between states that the job's life does not allow."""

    def __init__(self, batch_number: str, old: str, new: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(BatchState(old), ()))) or "nothing (final)"
        super().__init__(
            "state", new, f"cannot follow {old} for {batch_number} (allowed: {allowed})"
        )


class NotScreened(IllegalTransition):
    """Queueing (or release) asked of a batch no pharmacist has clinically screened."""

    def __init__(self, batch_number: str, state: str, step: str = "queued") -> None:
        InputError.__init__(
            self,
            "state",
            state,
            f"is not screened: no pharmacist has screened {batch_number} (a 'screened' "
            f"signature), so it is not {step}",
        )


def check_transition(batch_number: str, old: str, new: str) -> None:
    """Refuse `old` → `new` unless TRANSITIONS lists it."""
    if BatchState(new) not in TRANSITIONS[BatchState(old)]:
        raise IllegalTransition(batch_number, old, new)
