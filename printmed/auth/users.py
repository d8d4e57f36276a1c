"""Users and roles: technicians make batches, pharmacists release them, admins manage accounts.

Passwords are hashed with argon2id; the first start creates an admin with a random password
shown once. An admin manages users and configuration but can change no batch record.
"""

from __future__ import annotations

import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import ROLES, Action, NotPermitted, require
from printmed.errors import InputError
from printmed.store.models import User

MIN_PASSWORD_CHARS = 10
FIRST_ADMIN = "admin"
SYSTEM_ACTOR = "system"

_hasher = PasswordHasher()


class AuthenticationFailed(InputError):
    """Unknown user, inactive account or wrong password (which one is not told)."""

    def __init__(self, username: str) -> None:
        super().__init__("password", "(hidden)", f"does not match an active user {username!r}")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user `username` whose password is `password`, or AuthenticationFailed."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password(user, password):
        raise AuthenticationFailed(username)
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InputError("username", username, "is not a user")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def create_user(
    session: Session, by: User | None, *, username: str, full_name: str, role: str, password: str
) -> User:
    """A new account, created by an admin (or by the system for the first admin)."""
    if by is not None:
        require(by, Action.MANAGE_USERS)
    _check_new_user(session, username, full_name, role, password)
    user = User(
        username=username,
        full_name=full_name.strip(),
        role=role,
        password_hash=hash_password(password),
        active=True,
        created_at=audit.utc_now(),
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        actor=by.username if by else SYSTEM_ACTOR,
        action="user.create",
        entity="user",
        entity_id=username,
        new=_public(user),
        reason="account created",
    )
    return user


def set_password(session: Session, by: User, username: str, password: str, reason: str) -> None:
    """An admin sets a password, or a user changes their own."""
    if by.username != username:
        require(by, Action.MANAGE_USERS)
    _check_password_strength(password)
    audit.set_audited(
        session,
        get_user(session, username),
        "password_hash",
        hash_password(password),
        actor=by.username,
        action="user.password",
        entity="user",
        entity_id=username,
        reason=reason,
        shown=(None, "(changed)"),
    )


def set_active(session: Session, by: User, username: str, active: bool, reason: str) -> None:
    """Deactivate (or reactivate) an account; accounts are never deleted, records name them."""
    require(by, Action.MANAGE_USERS)
    user = get_user(session, username)
    if by.username == username and not active:
        raise NotPermitted(by.username, "deactivate", "an admin cannot lock themselves out")
    audit.set_audited(
        session,
        user,
        "active",
        active,
        actor=by.username,
        action="user.active",
        entity="user",
        entity_id=username,
        reason=reason,
    )


def ensure_first_admin(session: Session) -> str | None:
    """On a store without users, create `admin` with a random password and return it once."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(15)
    create_user(
        session,
        None,
        username=FIRST_ADMIN,
        full_name="First administrator",
        role="admin",
        password=password,
    )
    return password


def _public(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "active": user.active,
    }


def _check_new_user(
    session: Session, username: str, full_name: str, role: str, password: str
) -> None:
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise InputError("username", username, "is not 1-64 letters, digits, '.', '-' or '_'")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise InputError("username", username, "is taken")
    if not full_name.strip() or len(full_name) > 200:
        raise InputError("full_name", full_name, "is empty or too long (printed on signatures)")
    if role not in ROLES:
        raise InputError("role", role, f"is not one of {', '.join(ROLES)}")
    _check_password_strength(password)


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(
            "password",
            f"({len(password)} characters)",
            f"is shorter than {MIN_PASSWORD_CHARS} characters",
        )
