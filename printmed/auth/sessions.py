"""Staff sign-in: username and password (argon2, printmed.auth.users) open a server-side session.

A session is a random token given once (cookie for the pages, bearer token for API use); it ends
at logout or after `session_idle_minutes` without a request. The pages and the API sign in with
`sign_in` (through the sign-in defence, printmed.auth.lockout); `login` alone checks nothing
beyond the password and records no attempt (seeding a store, tests).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth import lockout
from printmed.auth.users import authenticate
from printmed.settings import SignInPolicy
from printmed.store import Store
from printmed.store.models import StaffSession, User

COOKIE_NAME = "printmed_session"
SESSION_KINDS = ("cookie", "bearer")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def login(
    session: Session, username: str, password: str, *, kind: str = "cookie"
) -> tuple[User, str]:
    """The user and a new session token; AuthenticationFailed for a wrong name or password."""
    if kind not in SESSION_KINDS:
        raise ValueError(f"session kind {kind!r} is not one of {SESSION_KINDS}")
    user = authenticate(session, username, password)
    token = secrets.token_urlsafe(32)
    now = audit.utc_now()
    session.add(
        StaffSession(
            token_sha256=token_sha256(token),
            user_id=user.id,
            kind=kind,
            created_at=now,
            last_seen_at=now,
            ended_at=None,
        )
    )
    session.flush()
    return user, token


def sign_in(
    store: Store,
    policy: SignInPolicy,
    attempt: lockout.Attempt,
    password: str,
    *,
    kind: str,
    clock: lockout.Clock = lockout.utc_clock,
) -> tuple[User, str]:
    """`login` through the sign-in defence, committed: the user (detached) and a new session
    token; SignInThrottled, AccountLocked or AuthenticationFailed otherwise (the attempt is
    recorded either way)."""

    def check(session: Session) -> tuple[User, str]:
        return login(session, attempt.username, password, kind=kind)

    return lockout.admit(store, policy, attempt, check, clock=clock)


def logout(session: Session, token: str) -> bool:
    """End the session of `token`; False if it was unknown or already ended."""
    row = session.get(StaffSession, token_sha256(token))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = audit.utc_now()
    return True


def user_for_token(
    session: Session, token: str, idle_minutes: float, *, kind: str | None = None
) -> User | None:
    """The active user of a live session (its idle clock restarts), or None.

    A session idle for longer than `idle_minutes` is ended here and gives None.
    """
    row = session.get(StaffSession, token_sha256(token))
    if row is None or row.ended_at is not None or (kind is not None and row.kind != kind):
        return None
    now = dt.datetime.now(dt.UTC)
    idle = now - dt.datetime.fromisoformat(row.last_seen_at)
    if idle > dt.timedelta(minutes=idle_minutes):
        row.ended_at = now.isoformat(timespec="microseconds")
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_seen_at = now.isoformat(timespec="microseconds")
    return user
