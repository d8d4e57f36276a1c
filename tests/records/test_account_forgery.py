"""A staff account is what the signed trail made it: a pharmacist row inserted with SQL, or a
role raised with SQL, signs in to nothing, is certified no signing key, and `records verify`
names the user and exits 1, on SQLite and on PostgreSQL. Accounts changed through the service
(first admin, creation, reset, deactivation and back) stay as recorded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select, text

from printmed import keys
from printmed.auth.users import (
    AccountNotAsRecorded,
    authenticate,
    ensure_first_admin,
    get_user,
    hash_password,
    set_active,
    set_password,
)
from printmed.cli import main
from printmed.records.integrity import verify_records
from printmed.records.signatures import authenticate_signer
from printmed.store import Store
from printmed.store.models import AuditEntry, UserKey
from tests.records.builders import PASSWORD, add_users
from tests.records.forgery import forge
from tests.store.conftest import any_store, postgres_url

__all__ = ["any_store", "postgres_url"]


def _keys_of(store: Store, username: str) -> list[UserKey]:
    with store.session() as session:
        return list(session.scalars(select(UserKey).where(UserKey.username == username)))


def _problems(store: Store) -> list[str]:
    with store.session() as session:
        report = verify_records(session)
    assert report.chain.intact  # the trail itself is untouched: only the table was written
    return report.problems


def test_a_pharmacist_row_inserted_with_sql_signs_in_to_nothing_and_is_named(
    any_store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_users(any_store, "boss")
    with any_store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, full_name, role, password_hash, active, created_at)"
                " VALUES ('mallory', 'Mal Lory', 'pharmacist', :hash, :active, '2026-01-01')"
            ),
            {"hash": hash_password(PASSWORD), "active": True},
        )
    with any_store.session() as session, pytest.raises(AccountNotAsRecorded) as refused:
        authenticate_signer(session, "mallory", PASSWORD, "reviewed")
    assert (refused.value.field, refused.value.value) == ("account", "mallory")
    assert refused.value.problem == (
        "has no user.create entry in the audit trail (a row the service never made)"
    )
    assert _keys_of(any_store, "mallory") == []
    named = "user mallory: has no user.create entry in the audit trail"
    assert [p for p in _problems(any_store) if p.startswith("user ")] == [
        f"{named} (a row the service never made)"
    ]
    monkeypatch.setenv("DATABASE_URL", any_store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["records", "verify"]) == 1
    assert named in capsys.readouterr().err


def test_a_role_raised_with_sql_is_refused_at_signing_and_named(any_store: Store) -> None:
    add_users(any_store, "tech")
    with any_store.engine.begin() as connection:
        connection.execute(text("UPDATE users SET role = 'pharmacist' WHERE username = 'tech'"))
    with any_store.session() as session, pytest.raises(AccountNotAsRecorded) as refused:
        authenticate_signer(session, "tech", PASSWORD, "released")
    problem = "role is 'pharmacist' in the table but 'technician' in the audit trail"
    assert refused.value.problem == problem
    assert [p for p in _problems(any_store) if p.startswith("user ")] == [f"user tech: {problem}"]


def test_a_role_raised_in_the_trail_too_without_the_service_key_is_refused_and_named(
    store: Store, tmp_path: Path
) -> None:
    """The `user.create` entry rewritten with the project's own functions (every later hash
    recomputed, re-signed with the forger's key) and the row to match."""
    add_users(store, "tech")
    with store.session() as session:
        seq = session.scalar(select(AuditEntry.seq).where(AuditEntry.action == "user.create"))
    assert seq is not None
    forge(store, seq, {"role": "pharmacist"}, tmp_path / "forger")
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE users SET role = 'pharmacist' WHERE username = 'tech'"))
    forger = keys.service_key(tmp_path / "forger").key_id
    problem = (
        f"its audit entry {seq} (user.create) is not the service's: it is signed with key "
        f"{forger}, which is not a trusted service key"
    )
    with store.session() as session, pytest.raises(AccountNotAsRecorded) as refused:
        authenticate(session, "tech", PASSWORD)
    assert refused.value.problem == problem
    with store.session() as session:
        report = verify_records(session)
    assert report.chain.first_broken_seq == seq
    assert f"user tech: {problem}" in report.problems


def test_accounts_changed_through_the_service_stay_as_recorded(store: Store) -> None:
    with store.session() as session:
        first_password = ensure_first_admin(session)
    assert first_password is not None
    users = add_users(store, "pharm")
    with store.session() as session:
        admin = get_user(session, "admin")
        set_password(session, admin, "pharm", "a reset passphrase", "forgotten")
        set_active(session, admin, "pharm", False, "left")
        set_active(session, admin, "pharm", True, "came back")
    with store.session() as session:
        assert authenticate(session, "admin", first_password).role == "admin"
        assert authenticate(session, "pharm", "a reset passphrase").id == users["pharm"].id
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == "pharm")
        ).all()
    assert [a for a in actions if a in ("user.create", "user.active", "user.password")] == [
        "user.create",
        "user.password",
        "user.active",
        "user.active",
    ]
    assert _problems(store) == []
    assert len(_keys_of(store, "pharm")) == 2  # the reset issued a new key: the row was the trail's
