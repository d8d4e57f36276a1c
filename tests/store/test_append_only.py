"""The audit trail, signatures and G-code programs refuse UPDATE and DELETE in the database
itself, and a row edited behind the triggers' back is found by `verify_records`."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from printmed.audit import entry_hash
from printmed.records.integrity import verify_records
from printmed.store import Store
from printmed.store.models import AuditEntry
from tests.records.builders import add_users, queued_job


def _drop_trigger(store: Store, table: str, verb: str) -> None:
    """Remove the trigger that refuses `verb` (UPDATE or DELETE) on `table`, as a forger would."""
    with store.engine.begin() as connection:
        if store.dialect == "sqlite":
            connection.execute(text(f"DROP TRIGGER {table}_no_{verb.lower()}"))
        else:
            connection.execute(text(f"DROP TRIGGER {table}_no_change ON {table}"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET reason = 'nothing happened' WHERE seq = 2",
        "DELETE FROM audit_entries WHERE seq = 2",
        "UPDATE gcode_programs SET text = 'G1 E999'",
        "DELETE FROM gcode_programs",
    ],
)
def test_database_refuses_to_change_append_only_rows(any_store: Store, statement: str) -> None:
    users = add_users(any_store, "tech")
    queued_job(any_store, users["tech"])
    with pytest.raises(DBAPIError, match="append-only"), any_store.engine.begin() as connection:
        connection.execute(text(statement))
    with any_store.session() as session:
        assert verify_records(session).intact


def test_edited_audit_entry_is_named_as_the_first_broken_link(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    queued_job(any_store, users["tech"])
    with any_store.session() as session:
        assert verify_records(session).intact
    _drop_trigger(any_store, "audit_entries", "UPDATE")
    with any_store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET actor = 'pharm' WHERE seq = 3"))
    with any_store.session() as session:
        report = verify_records(session)
    assert not report.intact
    assert report.chain.first_broken_seq == 3
    assert report.chain.problem == "its content does not match its hash (edited)"


def test_edit_with_recomputed_hash_is_named_by_its_service_signature(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    queued_job(any_store, users["tech"])
    _drop_trigger(any_store, "audit_entries", "UPDATE")
    with any_store.session() as session:
        # A forger who also recomputes the edited entry's own hash cannot re-sign it.
        forged = session.get(AuditEntry, 2)
        assert forged is not None
        session.expunge(forged)
        forged.reason = "entered by someone else"
        forged_hash = entry_hash(forged)
    with any_store.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET reason = :r, entry_hash = :h WHERE seq = 2"),
            {"r": "entered by someone else", "h": forged_hash},
        )
    with any_store.session() as session:
        report = verify_records(session)
    assert report.chain.first_broken_seq == 2
    assert report.chain.problem == (
        "its service signature does not match (rewritten without the service key)"
    )


def test_deleted_audit_entry_is_named_as_missing(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    queued_job(any_store, users["tech"])
    _drop_trigger(any_store, "audit_entries", "DELETE")
    with any_store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    with any_store.session() as session:
        report = verify_records(session)
    assert report.chain.first_broken_seq == 3
    assert report.chain.problem == "entry 3 is missing (next is 4)"


def test_job_row_edited_outside_the_service_disagrees_with_the_trail(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"])
    with any_store.engine.begin() as connection:
        connection.execute(text("UPDATE jobs SET printer = 'other-printer'"))
    with any_store.session() as session:
        report = verify_records(session, batch)
    assert report.chain.intact
    assert report.problems == [
        f"{batch}: printer is 'other-printer' in the table but 'sim-1' in the audit trail"
    ]
