"""The sign-in defence: growing delays per address and per account, account locks that only an
admin lifts, and a record of every attempt (the attempts table and the audit trail).

`admit` is the one function every way in (the pages, the API's staff token, the OAuth token
endpoint, the password an e-signature re-asks, the command line) calls: it decides whether an
attempt may proceed, runs the caller's password check if so, and records the outcome in one
transaction that commits whatever the outcome. The numbers are `settings.SignInPolicy`; time
comes from a clock the caller passes, never from sleeping.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import ColumnElement, distinct, exists, func, select
from sqlalchemy.orm import Session, aliased

from printmed import audit
from printmed.auth.clients import ClientRefused
from printmed.auth.principal import CLIENT_PREFIX
from printmed.auth.rules import Action, require
from printmed.auth.users import AuthenticationFailed, get_user
from printmed.errors import InputError
from printmed.settings import SignInPolicy
from printmed.store import Store
from printmed.store.models import ApiClient, AuditEntry, SignInAttempt, User

T = TypeVar("T")
Clock = Callable[[], dt.datetime]

# token: the OAuth client-credentials endpoint; cli: the `printmed` command on the server
CHANNELS = ("page", "api", "token", "cli")
# Recorded, and a locked account refused, but never made to wait: whoever runs the command holds
# the database file (and its password hashes) already, and it is the admin's way back in.
UNTHROTTLED_CHANNELS = frozenset({"cli"})
SIGN_IN = "sign-in"
E_SIGNATURE = "e-signature"  # the password re-entered to sign or release a batch
PURPOSES = (SIGN_IN, E_SIGNATURE)
# who the trail names for an attempt that did not sign anyone in
SIGN_IN_ACTOR = "sign-in"
USERNAME_CHARS = 128  # the attempts table keeps the name as typed, up to this long
MAX_BURST_NAMES = 20


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    WRONG_PASSWORD = "wrong_password"
    UNKNOWN_USER = "unknown_user"
    INACTIVE = "inactive"
    THROTTLED = "throttled"
    LOCKED = "locked"


# What slows an address: every refused check, and guessing at a locked account. A throttled
# attempt checked nothing, so it does not lengthen the wait it was refused for.
ADDRESS_FAILURES = (
    Outcome.WRONG_PASSWORD,
    Outcome.UNKNOWN_USER,
    Outcome.INACTIVE,
    Outcome.LOCKED,
)
# What slows (and may lock) an account, by the name as typed: an unknown name is slowed exactly
# as a real one, so the answers do not tell which names exist.
ACCOUNT_FAILURES = (Outcome.WRONG_PASSWORD, Outcome.UNKNOWN_USER, Outcome.INACTIVE)
REASONS = {
    Outcome.ACCEPTED: "signed in",
    Outcome.WRONG_PASSWORD: "wrong password",
    Outcome.UNKNOWN_USER: "no such account",
    Outcome.INACTIVE: "account deactivated",
    Outcome.THROTTLED: "refused unchecked: too many recent failures",
    Outcome.LOCKED: "refused unchecked: account locked",
}


def utc_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(moment: dt.datetime) -> str:
    """A time as the ISO-8601 UTC text every stored time uses (it sorts as it compares)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Attempt:
    """Who tried to sign in: the name as typed (a client: `client:<id>`), from where, how, and
    what for (a sign-in, or the password an e-signature asks again: both count alike)."""

    username: str
    address: str
    channel: str
    purpose: str = SIGN_IN

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel {self.channel!r} is not one of {CHANNELS}")
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose {self.purpose!r} is not one of {PURPOSES}")


class SignInThrottled(InputError):
    """Too many recent failures from this address (field "address") or against this account
    (field "username"): refused without checking the password until `retry_after_s` passes."""

    def __init__(self, field: str, value: str, failures: int, retry_after_s: int) -> None:
        self.failures = failures
        self.retry_after_s = retry_after_s
        super().__init__(
            field,
            value,
            f"has {failures} failed sign-ins recently; try again in {retry_after_s} s",
        )


class AccountLocked(InputError):
    """A locked account: refused without checking the password until an admin unlocks it."""

    def __init__(self, username: str, locked_at: str) -> None:
        self.locked_at = locked_at
        super().__init__(
            "username",
            username,
            "is locked after repeated failed sign-ins; an admin must unlock it",
        )


def delay_s(policy: SignInPolicy, failures: int, free: int) -> int:
    """The wait after the latest of `failures`: none within `free`, then the first delay,
    doubling with each further failure, never above the maximum."""
    if failures < free:
        return 0
    doublings = min(failures - free, 32)  # 2**32 s is past any maximum; keeps the number small
    return min(policy.max_delay_s, policy.first_delay_s * 2**doublings)


def admit(
    store: Store,
    policy: SignInPolicy,
    attempt: Attempt,
    check: Callable[[Session], T],
    *,
    clock: Clock = utc_clock,
) -> T:
    """What `check` returns if the attempt may proceed and the check accepts it.

    Refused, in this order and without running `check`: SignInThrottled for an address in its
    wait, AccountLocked for a locked account, SignInThrottled for an account in its wait (staff
    only; the command line never waits). Otherwise `check(session)` runs (it raises
    AuthenticationFailed or ClientRefused to refuse) and a staff account that has now failed
    often enough from enough addresses locks. The attempt, its outcome and any lock are
    recorded and committed before a refusal is raised.
    """
    staff = attempt.channel != "token"
    waits = attempt.channel not in UNTHROTTLED_CHANNELS
    refusal: Exception | None = None
    result: T | None = None
    with store.session() as session:
        account = _account(session, attempt, staff)
        now = clock()  # once the transaction holds its lock: the attempts before it are all in
        wait = _address_wait(session, policy, attempt.address, now) if waits else None
        if wait is not None:
            outcome, refusal = Outcome.THROTTLED, SignInThrottled("address", attempt.address, *wait)
        elif isinstance(account, User) and account.locked_at is not None:
            outcome, refusal = Outcome.LOCKED, AccountLocked(attempt.username, account.locked_at)
        elif staff and waits and (wait := _account_wait(session, policy, attempt.username, now)):
            outcome, refusal = (
                Outcome.THROTTLED,
                SignInThrottled("username", attempt.username, *wait),
            )
        else:
            try:
                result = check(session)
                outcome = Outcome.ACCEPTED
            except (AuthenticationFailed, ClientRefused) as exc:
                outcome, refusal = _failure(account), exc
        _record(session, attempt, outcome, now, refusal)
        if isinstance(account, User) and outcome is Outcome.WRONG_PASSWORD:
            _lock_if_due(session, policy, account, now)  # a deactivated one needs no lock
    if refusal is not None:
        raise refusal
    return result  # type: ignore[return-value]  # set whenever nothing was refused


def unlock(
    session: Session, by: User, username: str, reason: str, *, clock: Clock = utc_clock
) -> User:
    """Lift the lock of `username` (admins, with a reason); its failures so far stop counting."""
    require(by, Action.MANAGE_USERS)
    reason = audit.required_reason(reason)
    user = get_user(session, username)
    if user.locked_at is None:
        raise InputError("username", username, "is not locked")
    old = {"locked_at": user.locked_at, "locked_reason": user.locked_reason}
    user.locked_at = None
    user.locked_reason = None
    audit.append(
        session,
        actor=by.username,
        action="user.unlock",
        entity="user",
        entity_id=username,
        old=old,
        # failures up to this attempt stop counting towards the account's wait and lock
        new={
            "locked_at": None,
            "unlocked_at": stamp(clock()),
            "after_attempt": _last_attempt(session, None),
        },
        reason=reason,
    )
    return user


@dataclass(frozen=True)
class LockedAccount:
    username: str
    full_name: str
    locked_at: str
    locked_reason: str


@dataclass(frozen=True)
class FailureBurst:
    """An address that failed at least `address_free_failures` times in the window."""

    address: str
    failures: int
    first_at: str
    last_at: str
    usernames: tuple[str, ...]  # the names it tried (at most MAX_BURST_NAMES)
    retry_after_s: int  # how long it must still wait (0: it may try again)


@dataclass(frozen=True)
class SignInAlerts:
    """What an admin must see: locked accounts and bursts of failures by address."""

    locked: tuple[LockedAccount, ...]
    bursts: tuple[FailureBurst, ...]

    def __bool__(self) -> bool:
        return bool(self.locked or self.bursts)


def alerts(session: Session, policy: SignInPolicy, now: dt.datetime) -> SignInAlerts:
    """Locked accounts (oldest lock first) and the window's bursts of failures (latest first)."""
    locked = tuple(
        LockedAccount(u.username, u.full_name, u.locked_at or "", u.locked_reason or "")
        for u in session.scalars(
            select(User).where(User.locked_at.is_not(None)).order_by(User.locked_at)
        )
    )
    failed = _address_failures(policy, now)
    rows = session.execute(
        select(
            SignInAttempt.address,
            func.count(),
            func.min(SignInAttempt.at),
            func.max(SignInAttempt.at),
        )
        .where(failed)
        .group_by(SignInAttempt.address)
        .having(func.count() >= policy.address_free_failures)
        .order_by(func.max(SignInAttempt.at).desc())
    ).all()
    bursts = []
    for address, failures, first_at, last_at in rows:
        names = session.scalars(
            select(SignInAttempt.username)
            .distinct()
            .where(failed & (SignInAttempt.address == address))
            .order_by(SignInAttempt.username)
            .limit(MAX_BURST_NAMES)
        )
        wait = _wait(policy, failures, policy.address_free_failures, last_at, now)
        bursts.append(
            FailureBurst(address, failures, first_at, last_at, tuple(names), wait[1] if wait else 0)
        )
    return SignInAlerts(locked, tuple(bursts))


def _account(session: Session, attempt: Attempt, staff: bool) -> User | ApiClient | None:
    """The account the attempt names (a user's row locked until the transaction ends, so that
    two attempts at once count each other's failures before deciding on a lock)."""
    if staff:
        return session.scalar(
            select(User).where(User.username == attempt.username).with_for_update()
        )
    client_id = attempt.username.removeprefix(CLIENT_PREFIX)
    return session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def _failure(account: User | ApiClient | None) -> Outcome:
    if account is None:
        return Outcome.UNKNOWN_USER
    if not account.active:
        return Outcome.INACTIVE
    return Outcome.WRONG_PASSWORD


def _wait(
    policy: SignInPolicy, failures: int, free: int, last_at: str, now: dt.datetime
) -> tuple[int, int] | None:
    """(failures, whole seconds still to wait) if the last failure's delay has not passed."""
    until = dt.datetime.fromisoformat(last_at) + dt.timedelta(
        seconds=delay_s(policy, failures, free)
    )
    left = (until - now).total_seconds()
    return (failures, math.ceil(left)) if left > 0 else None


def _address_failures(policy: SignInPolicy, now: dt.datetime) -> ColumnElement[bool]:
    """The window's failures that count against their address: all but those of a name that
    has since signed in from the same address (a colleague's typos at a shared bench PC are
    forgiven; someone holding an account of their own clears only their own name's)."""
    since = stamp(now - dt.timedelta(minutes=policy.window_minutes))
    later = aliased(SignInAttempt)
    forgiven = exists().where(
        (later.address == SignInAttempt.address)
        & (later.username == SignInAttempt.username)
        & (later.outcome == Outcome.ACCEPTED)
        & (later.id > SignInAttempt.id)
    )
    return (SignInAttempt.at > since) & SignInAttempt.outcome.in_(ADDRESS_FAILURES) & ~forgiven


def _address_wait(
    session: Session, policy: SignInPolicy, address: str, now: dt.datetime
) -> tuple[int, int] | None:
    failures, last_at = session.execute(
        select(func.count(), func.max(SignInAttempt.at)).where(
            (SignInAttempt.address == address) & _address_failures(policy, now)
        )
    ).one()
    if failures < policy.address_free_failures:
        return None
    return _wait(policy, failures, policy.address_free_failures, last_at, now)


def _account_failures(
    session: Session, policy: SignInPolicy, username: str, now: dt.datetime
) -> tuple[int, int, str | None]:
    """(failures, distinct addresses, latest failure) against the name as typed, in the window
    and after both its last accepted sign-in and its last unlock (attempts are numbered in the
    order they were recorded, which two attempts in the same microsecond keep too)."""
    since = stamp(now - dt.timedelta(minutes=policy.window_minutes))
    after = _last_attempt(session, username, Outcome.ACCEPTED)
    counted = _count_account_failures(session, username, since, after)
    if counted[0] >= min(policy.account_free_failures, policy.lock_failures):
        # Only then is the last unlock worth finding: the trail has no index by account.
        unlocked_after = _last_unlock(session, username)
        if unlocked_after > after:
            counted = _count_account_failures(session, username, since, unlocked_after)
    return counted


def _last_attempt(session: Session, username: str | None, outcome: Outcome | None = None) -> int:
    """The number of the latest attempt (of `username`, with `outcome`), 0 if none."""
    query = select(func.max(SignInAttempt.id))
    if username is not None:
        query = query.where(SignInAttempt.username == username)
    if outcome is not None:
        query = query.where(SignInAttempt.outcome == outcome)
    return session.scalar(query) or 0


def _count_account_failures(
    session: Session, username: str, since: str, after: int
) -> tuple[int, int, str | None]:
    failures, addresses, last_at = session.execute(
        select(
            func.count(), func.count(distinct(SignInAttempt.address)), func.max(SignInAttempt.at)
        ).where(
            (SignInAttempt.username == username)
            & (SignInAttempt.at > since)
            & (SignInAttempt.id > after)
            & SignInAttempt.outcome.in_(ACCOUNT_FAILURES)
        )
    ).one()
    return int(failures), int(addresses), last_at


def _last_unlock(session: Session, username: str) -> int:
    """The number of the latest attempt before the account's last unlock (0: never unlocked)."""
    new_json = session.scalar(
        select(AuditEntry.new_json)
        .where(
            (AuditEntry.entity == "user")
            & (AuditEntry.entity_id == username)
            & (AuditEntry.action == "user.unlock")
        )
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return int(json.loads(new_json).get("after_attempt", 0)) if new_json else 0


def _account_wait(
    session: Session, policy: SignInPolicy, username: str, now: dt.datetime
) -> tuple[int, int] | None:
    failures, _, last_at = _account_failures(session, policy, username, now)
    if failures < policy.account_free_failures or last_at is None:
        return None
    return _wait(policy, failures, policy.account_free_failures, last_at, now)


def _lock_if_due(session: Session, policy: SignInPolicy, user: User, now: dt.datetime) -> None:
    """Lock `user` after `lock_failures` failures from `lock_addresses` addresses, unless
    `max_locked` accounts are locked already (then it stays at its growing delay, and the trail
    says the lock was withheld): one address is slowed, not allowed to lock anyone out, and
    many cannot lock out the whole pharmacy."""
    failures, addresses, _ = _account_failures(session, policy, user.username, now)
    if failures < policy.lock_failures or addresses < policy.lock_addresses:
        return
    reason = f"{failures} failed sign-ins from {addresses} addresses"
    locked_now = (
        session.scalar(select(func.count()).select_from(User).where(User.locked_at.is_not(None)))
        or 0
    )
    new: dict[str, str | int | None]
    if locked_now >= policy.max_locked:
        action, old = "user.lock_withheld", None
        new = {"locked_accounts": locked_now, "max_locked": policy.max_locked}
        reason += f"; {locked_now} accounts are locked already"
    else:
        user.locked_at, user.locked_reason = stamp(now), reason
        action, old = "user.lock", {"locked_at": None}
        new = {"locked_at": user.locked_at, "locked_reason": reason}
    audit.append(
        session,
        actor=SIGN_IN_ACTOR,
        action=action,
        entity="user",
        entity_id=user.username,
        old=old,
        new=new,
        reason=reason,
    )


def _record(
    session: Session,
    attempt: Attempt,
    outcome: Outcome,
    now: dt.datetime,
    refusal: Exception | None,
) -> None:
    username = attempt.username[:USERNAME_CHARS]
    session.add(
        SignInAttempt(
            at=stamp(now),
            username=username,
            address=attempt.address[:64],
            channel=attempt.channel,
            outcome=outcome.value,
        )
    )
    details: dict[str, str | int] = {
        "username": username,
        "address": attempt.address,
        "channel": attempt.channel,
        "outcome": outcome.value,
    }
    if isinstance(refusal, SignInThrottled):
        details["retry_after_s"] = refusal.retry_after_s
    reason = REASONS[outcome]
    if attempt.purpose != SIGN_IN:
        details["purpose"] = attempt.purpose
        reason = ("password re-entered" if outcome is Outcome.ACCEPTED else reason) + (
            f" (for an {attempt.purpose})"
        )
    audit.append(
        session,
        actor=username if outcome is Outcome.ACCEPTED else SIGN_IN_ACTOR,
        action=f"sign_in.{outcome.value}",
        entity="sign_in",
        entity_id=username[:64],
        new=details,
        reason=reason,
    )
    session.flush()
