"""A batch's states and the only transitions allowed between them.

draft → verified (passed the dose gate) → queued → printing → printed → weighed → released or
rejected; failed and interrupted end a print that did not finish; nothing else moves.
"""

from __future__ import annotations

from enum import StrEnum

from printmed.errors import InputError


class BatchState(StrEnum):
    DRAFT = "draft"
    VERIFIED = "verified"
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
    S.VERIFIED: frozenset({S.QUEUED, S.REJECTED}),
    S.QUEUED: frozenset({S.PRINTING, S.VERIFIED, S.REJECTED}),
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


def check_transition(batch_number: str, old: str, new: str) -> None:
    """Refuse `old` → `new` unless TRANSITIONS lists it."""
    if BatchState(new) not in TRANSITIONS[BatchState(old)]:
        raise IllegalTransition(batch_number, old, new)
