"""Only the transitions of the job's life are allowed, and each one is an audit entry."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printmed.audit import entries_for
from printmed.auth.users import NotPermitted
from printmed.jobs import service
from printmed.jobs.states import TRANSITIONS, BatchState, IllegalTransition, check_transition
from printmed.store import Store
from tests.records.builders import add_users, draft_job, queued_job, verified_job

HAPPY_PATH = [
    "draft",
    "verified",
    "screened",
    "queued",
    "printing",
    "printed",
    "weighed",
    "released",
]


def test_happy_path_is_a_chain_of_legal_transitions() -> None:
    for old, new in itertools.pairwise(HAPPY_PATH):
        check_transition("PM-TEST", old, new)


@given(st.sampled_from(list(BatchState)), st.sampled_from(list(BatchState)))
def test_a_transition_is_allowed_exactly_when_listed(old: BatchState, new: BatchState) -> None:
    if new in TRANSITIONS[old]:
        check_transition("PM-TEST", old, new)
    else:
        with pytest.raises(IllegalTransition) as refused:
            check_transition("PM-TEST", old, new)
        assert refused.value.field == "state"
        assert refused.value.value == new


def test_released_and_rejected_are_final() -> None:
    assert TRANSITIONS[BatchState.RELEASED] == frozenset()
    assert TRANSITIONS[BatchState.REJECTED] == frozenset()


def test_printing_cannot_be_resumed_from_interrupted() -> None:
    with pytest.raises(IllegalTransition, match="cannot follow interrupted"):
        check_transition("PM-TEST", "interrupted", "printing")


def test_each_state_change_is_an_audit_entry_with_old_and_new(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"])
    with store.session() as session:
        entries = entries_for(session, batch)
    assert [e.action for e in entries] == [
        "job.create",
        "job.verify",
        "record.sign.screened",
        "record.screen",
        "job.queue",
    ]
    assert [e.actor for e in entries] == ["tech", "tech", "screener", "screener", "tech"]
    assert entries[3].old_json == '{"state":"verified"}'
    assert entries[4].old_json == '{"state":"screened"}'
    assert entries[4].new_json == '{"state":"queued"}'


def test_a_draft_cannot_be_queued_before_the_dose_gate(store: Store) -> None:
    users = add_users(store, "tech")
    batch = draft_job(store, users["tech"])
    with pytest.raises(IllegalTransition, match="cannot follow draft"), store.session() as session:
        service.queue(session, service.get_batch(session, batch), users["tech"])
    with store.session() as session:
        assert service.get_batch(session, batch).state == "draft"
        assert [e.action for e in entries_for(session, batch)] == ["job.create"]


def test_an_admin_cannot_enter_or_change_a_record(store: Store) -> None:
    users = add_users(store, "tech", "boss")
    batch = verified_job(store, users["tech"])
    with pytest.raises(NotPermitted, match="role admin"), store.session() as session:
        service.queue(session, service.get_batch(session, batch), users["boss"])


def test_batch_numbers_count_up_within_the_day(store: Store) -> None:
    users = add_users(store, "tech")
    first = verified_job(store, users["tech"])
    second = verified_job(store, users["tech"])
    assert first.endswith("-0001") and second.endswith("-0002")
    assert first[:-5] == second[:-5]
