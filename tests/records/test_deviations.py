"""Deviations are recorded with a reason, shown in the record, and closed with the record."""

from __future__ import annotations

import pytest

from printmed.errors import InputError
from printmed.jobs import service
from printmed.records.batch_record import load_record
from printmed.records.deviations import record_deviation
from printmed.records.integrity import verify_records
from printmed.store import Store
from tests.records.builders import add_users, printed_job


def test_a_deviation_is_in_the_record_with_who_what_and_why(store: Store) -> None:
    users = add_users(store, "tech")
    batch = printed_job(store, users["tech"])
    with store.session() as session:
        record_deviation(
            session,
            service.get_batch(session, batch),
            users["tech"],
            "unit 4 lifted from the bed",
            "discarded; 9 units supplied",
        )
    with store.session() as session:
        record = load_record(session, batch)
        assert verify_records(session).intact
    (deviation,) = record.deviations
    assert deviation["actor"] == "tech"
    assert deviation["description"] == "unit 4 lifted from the bed"
    assert deviation["reason"] == "discarded; 9 units supplied"
    assert deviation["state"] == "printed"


def test_a_deviation_needs_a_description_and_a_reason(store: Store) -> None:
    users = add_users(store, "tech")
    batch = printed_job(store, users["tech"])
    with pytest.raises(InputError, match="description"), store.session() as session:
        record_deviation(session, service.get_batch(session, batch), users["tech"], " ", "x")
    with pytest.raises(InputError, match="reason"), store.session() as session:
        record_deviation(session, service.get_batch(session, batch), users["tech"], "x", "")


def test_a_closed_record_takes_no_deviation(store: Store) -> None:
    users = add_users(store, "tech")
    batch = printed_job(store, users["tech"])
    with store.session() as session:
        service.reject(session, service.get_batch(session, batch), users["tech"], "unit lost")
    with pytest.raises(InputError, match="is rejected"), store.session() as session:
        record_deviation(session, service.get_batch(session, batch), users["tech"], "x", "y")
