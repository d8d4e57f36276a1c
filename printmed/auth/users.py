"""Users and roles: technicians make batches, pharmacists release them, admins manage accounts.

Passwords are hashed with argon2id; the first start creates an admin with a random password
shown once. An admin manages users and configuration but can change no batch record.
Each user has an Ed25519 signing key sealed under their password (printmed.keys) and certified
by the service key: a password change reseals it, a reset issues a new one (old ones are kept).
An account is what the signed trail made of it (`account_problem`): a row inserted or changed
beside the service signs in to nothing and is certified no key.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import audit, keys
from printmed.auth.rules import ROLES, Action, NotPermitted, require
from printmed.errors import InputError
from printmed.store.models import AuditEntry, User, UserKey

MIN_PASSWORD_CHARS = 10
FIRST_ADMIN = "admin"
SYSTEM_ACTOR = "system"
USER_KEY_PURPOSE = "user-key"

_hasher = PasswordHasher()


class SigningKeyMissing(InputError):
    """The trail issued the user a signing key that the store no longer holds as current.

    A new key is not made at sign-in then: whoever can write the database could otherwise have
    the service certify a key for an account whose password hash they replaced."""

    def __init__(self, username: str) -> None:
        super().__init__(
            "signing key",
            username,
            "is missing from the store although the audit trail issued one; an admin must "
            "reset the password (which issues a new key) and look into the store",
        )


class AuthenticationFailed(InputError):
    """Unknown user, inactive account or wrong password (which one is not told)."""

    def __init__(self, username: str) -> None:
        super().__init__("password", "(hidden)", f"does not match an active user {username!r}")


class AccountNotAsRecorded(AuthenticationFailed):
    """The user row is not the account the signed audit trail made (inserted, or its role,
    name or active state changed, beside the service): it signs in to nothing and no key is
    certified for it. Told only to whoever gave the account's right password."""

    def __init__(self, username: str, problem: str) -> None:
        self.problem = problem
        InputError.__init__(
            self, "account", username, f"{problem}; an admin must look into the store"
        )


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
    check_as_recorded(session, user)
    if current_key(session, user) is None and not had_a_key(session, user):
        # An account made before signing keys gets its key pair at its first sign-in (never one
        # whose key went missing from the store: see SigningKeyMissing).
        issue_key(session, user, password, actor=user.username, reason="first sign-in with keys")
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
    actor = by.username if by else SYSTEM_ACTOR
    audit.append(
        session,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=username,
        new=_public(user),
        reason="account created",
    )
    issue_key(session, user, password, actor=actor, reason="account created")
    return user


def set_password(
    session: Session,
    by: User,
    username: str,
    password: str,
    reason: str,
    *,
    current_password: str | None = None,
) -> None:
    """An admin sets a password, or a user changes their own.

    A user who gives their current password keeps their signing key, resealed under the new
    one; otherwise (an admin's reset, or no current password) a new key pair is issued and the
    old one retired: it opens no more, and the signatures it made stay verifiable.
    """
    if by.username != username:
        require(by, Action.MANAGE_USERS)
    _check_password_strength(password)
    user = get_user(session, username)
    key = current_key(session, user)
    own = by.username == username and current_password is not None
    if own and not check_password(user, current_password or ""):
        raise AuthenticationFailed(username)
    resealing = own and key is not None
    audit.set_audited(
        session,
        user,
        "password_hash",
        hash_password(password),
        actor=by.username,
        action="user.password",
        entity="user",
        entity_id=username,
        reason=reason,
        shown=(None, "(changed)"),
    )
    if resealing and key is not None and current_password is not None:
        _seal_into(key, keys.seal(unseal_key(key, current_password), password, username))
    else:
        issue_key(session, user, password, actor=by.username, reason=f"password set: {reason}")


def certificate_text(key: UserKey) -> str:
    """What the service key certifies of a signer's key: whose it is, and since when."""
    return audit.canonical_json(
        {
            "user_id": key.user_id,
            "username": key.username,
            "public_key": key.public_key,
            "created_at": key.created_at,
        }
    )


def current_key(session: Session, user: User) -> UserKey | None:
    """The user's signing key in use (None for an account made before signing keys)."""
    query = select(UserKey).where(UserKey.user_id == user.id, UserKey.retired_at.is_(None))
    return session.scalar(query.order_by(UserKey.id.desc()).limit(1))


def had_a_key(session: Session, user: User) -> bool:
    """Whether the audit trail ever issued `user` a signing key."""
    query = select(AuditEntry.seq).where(
        AuditEntry.action == "user.key.issue", AuditEntry.entity_id == user.username
    )
    return session.scalar(query.limit(1)) is not None


def issue_key(session: Session, user: User, password: str, *, actor: str, reason: str) -> UserKey:
    """A new key pair for `user`, sealed under `password` and certified by the service key;
    any key in use is retired (kept, so that what it signed stays verifiable). Only for an
    account that is what the trail made it (AccountNotAsRecorded otherwise)."""
    check_as_recorded(session, user)
    now = audit.utc_now()
    for old in session.scalars(
        select(UserKey).where(UserKey.user_id == user.id, UserKey.retired_at.is_(None))
    ):
        old.retired_at = now
    service_key = keys.service_key()
    key = UserKey(
        user_id=user.id,
        username=user.username,
        created_at=now,
        service_key_id=service_key.key_id,
    )
    _seal_into(key, keys.seal(Ed25519PrivateKey.generate(), password, user.username))
    key.certificate = service_key.sign(USER_KEY_PURPOSE, certificate_text(key))
    session.add(key)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="user.key.issue",
        entity="user",
        entity_id=user.username,
        new={
            "user_key_id": key.id,
            "public_key": key.public_key,
            "certified_by": key.service_key_id,
        },
        reason=reason,
    )
    return key


# What the trail records of an account: `user.create` all of it, and each later change one
# column (set with audit.set_audited under these actions).
RECORDED_ACCOUNT = ("username", "full_name", "role", "active")
ACCOUNT_CHANGES = {"user.active": "active", "user.role": "role", "user.full_name": "full_name"}


def account_problem(
    session: Session, user: User, trusted: keys.TrustedKeys | None = None
) -> str | None:
    """Why the row of `user` is not the account the trail made (None when it is): its
    username, full name, role and active state replayed from its `user.create` entry and the
    later changes of them, each entry as the service signed it (`audit.entry_problem`, against
    `trusted`, default the settings' trusted keys)."""
    trusted = trusted or keys.trusted_keys()
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.entity == "user",
            AuditEntry.entity_id == user.username,
            AuditEntry.action.in_(["user.create", *ACCOUNT_CHANGES]),
        )
        .order_by(AuditEntry.seq)
    ).all()
    if not entries or entries[0].action != "user.create":
        return "has no user.create entry in the audit trail (a row the service never made)"
    recorded: dict[str, Any] = {}
    for entry in entries:
        problem = audit.entry_problem(session, entry, trusted)
        if problem is not None:
            return f"its audit entry {entry.seq} ({entry.action}) is not the service's: {problem}"
        new = json.loads(entry.new_json)
        if entry.action != "user.create":
            recorded[ACCOUNT_CHANGES[entry.action]] = new
        elif recorded:
            return f"is created a second time in the audit trail (entry {entry.seq})"
        else:
            recorded = {column: new.get(column) for column in RECORDED_ACCOUNT}
    for column in RECORDED_ACCOUNT:
        if getattr(user, column) != recorded[column]:
            return (
                f"{column} is {getattr(user, column)!r} in the table but "
                f"{recorded[column]!r} in the audit trail"
            )
    return None


def check_as_recorded(session: Session, user: User) -> None:
    """AccountNotAsRecorded unless `account_problem` finds nothing wrong with `user`."""
    problem = account_problem(session, user)
    if problem is not None:
        raise AccountNotAsRecorded(user.username, problem)


def unseal_key(key: UserKey, password: str) -> Ed25519PrivateKey:
    """The private signing key, which only the owner's password opens (WrongKeyPassword)."""
    sealed = keys.SealedKey(
        key.public_key, key.sealed_private_key, key.kdf_salt, key.kdf_n, key.kdf_r, key.kdf_p
    )
    return keys.unseal(sealed, password, key.username)


def _seal_into(key: UserKey, sealed: keys.SealedKey) -> None:
    key.public_key = sealed.public_hex
    key.sealed_private_key = sealed.sealed_hex
    key.kdf_salt = sealed.salt_hex
    key.kdf_n, key.kdf_r, key.kdf_p = sealed.n, sealed.r, sealed.p


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
