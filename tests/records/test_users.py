"""Users: argon2 hashes, roles, an admin who manages accounts but no record, audited changes."""

from __future__ import annotations

import pytest

from printmed.audit import verify_chain
from printmed.auth.users import (
    AuthenticationFailed,
    NotPermitted,
    authenticate,
    create_user,
    ensure_first_admin,
    set_active,
    set_password,
)
from printmed.errors import InputError
from printmed.store import Store
from printmed.store.models import AuditEntry
from tests.records.builders import PASSWORD, add_users


def test_passwords_are_stored_as_argon2id_hashes(store: Store) -> None:
    users = add_users(store, "tech")
    assert users["tech"].password_hash.startswith("$argon2id$")
    assert PASSWORD not in users["tech"].password_hash


def test_authentication_needs_the_right_password_and_an_active_account(store: Store) -> None:
    users = add_users(store, "tech", "boss")
    with store.session() as session:
        assert authenticate(session, "tech", PASSWORD).username == "tech"
        with pytest.raises(AuthenticationFailed):
            authenticate(session, "tech", PASSWORD + "x")
        with pytest.raises(AuthenticationFailed):
            authenticate(session, "nobody", PASSWORD)
        set_active(session, users["boss"], "tech", False, "left the pharmacy")
        with pytest.raises(AuthenticationFailed):
            authenticate(session, "tech", PASSWORD)


def test_first_admin_is_created_once_with_a_random_password(store: Store) -> None:
    with store.session() as session:
        password = ensure_first_admin(session)
        assert password is not None and len(password) >= 20
        assert ensure_first_admin(session) is None
        assert authenticate(session, "admin", password).role == "admin"


def test_only_an_admin_creates_accounts(store: Store) -> None:
    users = add_users(store, "tech")
    with pytest.raises(NotPermitted, match="may not manage users"), store.session() as session:
        create_user(
            session, users["tech"], username="x", full_name="X", role="admin", password=PASSWORD
        )


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("role", {"role": "superuser"}),
        ("password", {"password": "short"}),
        ("username", {"username": "tech"}),
        ("username", {"username": "has space"}),
        ("full_name", {"full_name": " "}),
    ],
)
def test_bad_account_details_are_refused_naming_the_field(
    store: Store, field: str, kwargs: dict[str, str]
) -> None:
    users = add_users(store, "tech", "boss")
    details = {
        "username": "new",
        "full_name": "New User",
        "role": "technician",
        "password": PASSWORD,
        **kwargs,
    }
    with pytest.raises(InputError) as refused, store.session() as session:
        create_user(session, users["boss"], **details)
    assert refused.value.field == field


def test_account_changes_are_audited_without_the_password(store: Store) -> None:
    users = add_users(store, "tech", "boss")
    with store.session() as session:
        set_password(session, users["boss"], "tech", "a new long password", "forgotten")
        entry = (
            session.query(AuditEntry)
            .filter(AuditEntry.action == "user.password")
            .order_by(AuditEntry.seq.desc())
            .first()
        )
        assert entry is not None
        assert (entry.actor, entry.reason) == ("boss", "forgotten")
        assert "a new long password" not in entry.new_json
        assert verify_chain(session).intact


def test_a_technician_cannot_set_another_users_password(store: Store) -> None:
    users = add_users(store, "tech", "tech2")
    with pytest.raises(NotPermitted), store.session() as session:
        set_password(session, users["tech"], "tech2", "a new long password", "why not")
