"""The sign-in defence as a specification: growing delays per address and per account, locks that
need failures from several addresses and an admin to lift, a cap on how many accounts an attack
can lock, and every attempt recorded. Time is a clock the tests move; nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from printmed.auth import clients, lockout
from printmed.auth.lockout import AccountLocked, Attempt, SignInThrottled, delay_s
from printmed.auth.rules import NotPermitted
from printmed.auth.sessions import sign_in
from printmed.auth.users import AuthenticationFailed, create_user, get_user, set_active
from printmed.cli import main
from printmed.errors import InputError
from printmed.settings import SignInPolicy
from printmed.store import Store, open_store
from printmed.store.models import AuditEntry, SignInAttempt
from tests.moving_clock import MovingClock as Clock
from tests.store.conftest import fresh_postgres_database, postgres_url

__all__ = ["postgres_url"]  # the session's PostgreSQL server, a fixture

PASSWORD = "correct horse battery"
POLICY = SignInPolicy()  # the defaults the README states
WRONG = "not the password"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with an admin, two pharmacists, a technician, a deactivated technician and a
    prescribing system, made once (argon2 is slow on purpose); each test gets a copy."""
    folder = tmp_path_factory.mktemp("lockout-seed")
    store = open_store(f"sqlite:///{folder / 'seed.sqlite'}")
    with store.session() as session:
        admin = create_user(
            session, None, username="alma", full_name="Alma", role="admin", password=PASSWORD
        )
        for name, role in (
            ("phil", "pharmacist"),
            ("paul", "pharmacist"),
            ("tess", "technician"),
            ("gone", "technician"),
        ):
            create_user(
                session, admin, username=name, full_name=name.title(), role=role, password=PASSWORD
            )
        set_active(session, admin, "gone", False, "left the pharmacy")
        _, secret = clients.register_client(
            session, admin, client_id="epma", name="Ward ePMA", scopes=(clients.SCOPE_ORDER_WRITE,)
        )
    store.dispose()
    return folder / "seed.sqlite", secret


@pytest.fixture
def store(tmp_path: Path, seed: tuple[Path, str]) -> Iterator[Store]:
    copy = tmp_path / "printmed.sqlite"
    copy.write_bytes(seed[0].read_bytes())
    opened = open_store(f"sqlite:///{copy}")
    yield opened
    opened.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))


def try_sign_in(
    store: Store,
    clock: Clock,
    username: str,
    password: str = WRONG,
    address: str = "10.1.1.1",
    policy: SignInPolicy = POLICY,
    channel: str = "page",
) -> str:
    """The outcome as the caller sees it: "accepted", or the name of the refusal."""
    try:
        sign_in(
            store, policy, Attempt(username, address, channel), password, kind="cookie", clock=clock
        )
    except (SignInThrottled, AccountLocked, AuthenticationFailed) as exc:
        return type(exc).__name__
    return "accepted"


def wait_of(store: Store, clock: Clock, username: str, address: str, **kw: object) -> int:
    """The Retry-After of an attempt that must be throttled."""
    with pytest.raises(SignInThrottled) as refused:
        sign_in(store, POLICY, Attempt(username, address, "api"), WRONG, kind="bearer", clock=clock)
    return refused.value.retry_after_s


def outcomes(store: Store) -> list[tuple[str, str, str]]:
    with store.read_session() as session:
        rows = session.scalars(select(SignInAttempt).order_by(SignInAttempt.id))
        return [(r.username, r.address, r.outcome) for r in rows]


def trail(store: Store, prefix: str = "") -> list[AuditEntry]:
    with store.read_session() as session:
        return [
            e
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            if e.action.startswith(prefix)
        ]


def locked_at(store: Store, username: str) -> str | None:
    with store.read_session() as session:
        return get_user(session, username).locked_at


def fail_until_locked_or(
    store: Store, clock: Clock, username: str, addresses: list[str], failures: int
) -> None:
    """`failures` wrong passwords for `username` (fewer if it locks), taking turns over
    `addresses`, each made as soon as the defence allows it (the clock moves on by the wait it
    names)."""
    made = 0
    while made < failures:
        address = addresses[made % len(addresses)]
        try:
            sign_in(
                store, POLICY, Attempt(username, address, "page"), WRONG, kind="cookie", clock=clock
            )
        except SignInThrottled as exc:
            clock.advance(exc.retry_after_s)
            continue
        except AuthenticationFailed:
            made += 1
        except AccountLocked:
            return


@given(
    st.integers(1, 10),
    st.integers(1, 60),
    st.integers(1, 3600),
    st.integers(0, 200),
)
def test_the_wait_grows_with_each_failure_and_never_passes_the_maximum(
    free: int, first_s: int, max_s: int, failures: int
) -> None:
    policy = SignInPolicy(first_delay_s=first_s, max_delay_s=max_s)
    waits = [delay_s(policy, n, free) for n in range(failures + 2)]
    assert waits[:free] == [0] * min(free, len(waits))
    assert waits == sorted(waits)
    assert max(waits) <= max_s
    for n, wait in enumerate(waits[free:], start=free):
        assert wait == min(max_s, first_s * 2 ** (n - free))


def test_an_address_fails_five_times_free_then_waits_a_doubling_delay(
    store: Store, clock: Clock
) -> None:
    # a different name each time: the account's own count never comes into it
    for n in range(5):
        assert try_sign_in(store, clock, f"guess{n}") == "AuthenticationFailed"
    waits = []
    for n in range(5, 10):
        wait = wait_of(store, clock, f"guess{n}", "10.1.1.1")
        waits.append(wait)
        clock.advance(wait - 0.5)
        assert wait_of(store, clock, f"guess{n}", "10.1.1.1") == 1  # not yet: half a second left
        clock.advance(0.5)
        assert try_sign_in(store, clock, f"guess{n}") == "AuthenticationFailed"
    assert waits == [1, 2, 4, 8, 16]


def test_a_waiting_address_is_refused_even_the_right_password(store: Store, clock: Clock) -> None:
    for n in range(5):
        try_sign_in(store, clock, f"guess{n}")
    with pytest.raises(SignInThrottled) as refused:
        sign_in(
            store, POLICY, Attempt("phil", "10.1.1.1", "page"), PASSWORD, kind="cookie", clock=clock
        )
    assert (refused.value.field, refused.value.value) == ("address", "10.1.1.1")
    assert refused.value.failures == 5
    # another address is not held up by this one
    assert try_sign_in(store, clock, "phil", PASSWORD, address="10.2.2.2") == "accepted"


def test_an_account_waits_after_three_failures_from_anywhere(store: Store, clock: Clock) -> None:
    for n in range(3):
        assert try_sign_in(store, clock, "phil", address=f"10.0.0.{n}") == "AuthenticationFailed"
    with pytest.raises(SignInThrottled) as refused:
        sign_in(
            store, POLICY, Attempt("phil", "10.0.0.9", "api"), PASSWORD, kind="bearer", clock=clock
        )
    assert (refused.value.field, refused.value.value, refused.value.retry_after_s) == (
        "username",
        "phil",
        1,
    )
    clock.advance(1)
    assert try_sign_in(store, clock, "phil", PASSWORD, address="10.0.0.9") == "accepted"


def test_an_unknown_name_is_slowed_exactly_as_a_real_one(store: Store, clock: Clock) -> None:
    for name in ("phil", "nobody"):
        for n in range(3):
            try_sign_in(store, clock, name, address=f"10.0.{len(name)}.{n}")
        assert wait_of(store, clock, name, "10.9.9.9") == 1


def test_a_sign_in_clears_its_account_count_and_forgives_only_its_own_names_failures(
    store: Store, clock: Clock
) -> None:
    for n in range(2):
        try_sign_in(store, clock, f"guess{n}")
    for _ in range(2):
        try_sign_in(store, clock, "tess")
    assert try_sign_in(store, clock, "tess", PASSWORD) == "accepted"
    # tess's two typos are forgiven, the two guesses at other names are not: three more
    # failures are free (not one), then the address waits; someone who holds an account of
    # their own cannot clear their guessing by signing in
    for name in ("guess2", "guess3", "tess"):
        assert try_sign_in(store, clock, name) == "AuthenticationFailed"
    assert wait_of(store, clock, "anyone", "10.1.1.1") == 1


def test_failures_older_than_the_window_are_forgotten(store: Store, clock: Clock) -> None:
    for n in range(5):
        try_sign_in(store, clock, f"guess{n}")
    assert wait_of(store, clock, "phil", "10.1.1.1") == 1
    clock.advance(POLICY.window_minutes * 60 + 1)
    assert try_sign_in(store, clock, "phil", PASSWORD) == "accepted"


def test_twenty_failures_from_one_address_slow_the_account_but_never_lock_it(
    store: Store, clock: Clock
) -> None:
    start = clock.now
    fail_until_locked_or(store, clock, "phil", ["10.6.6.6"], 20)
    assert locked_at(store, "phil") is None
    # twenty guesses took the attacker two hours, not seconds: after 3 free ones, each waited
    # twice the one before (1 s ... 512 s), then the 15-minute maximum
    assert (clock.now - start).total_seconds() == sum(min(900, 2**n) for n in range(17))
    with pytest.raises(SignInThrottled):
        sign_in(
            store, POLICY, Attempt("phil", "10.6.6.6", "page"), PASSWORD, kind="cookie", clock=clock
        )


def test_ten_failures_from_two_addresses_lock_the_account_against_the_right_password(
    store: Store, clock: Clock
) -> None:
    fail_until_locked_or(store, clock, "phil", ["10.1.1.1", "10.2.2.2"], 10)
    assert locked_at(store, "phil") == lockout.stamp(clock.now)
    clock.advance(POLICY.window_minutes * 60 * 24)  # a lock does not wear off
    with pytest.raises(AccountLocked) as refused:
        sign_in(
            store, POLICY, Attempt("phil", "10.3.3.3", "page"), PASSWORD, kind="cookie", clock=clock
        )
    assert (refused.value.field, refused.value.value) == ("username", "phil")
    [lock] = trail(store, "user.lock")
    assert (lock.actor, lock.entity, lock.entity_id, lock.batch_number) == (
        "sign-in",
        "user",
        "phil",
        None,
    )
    assert json.loads(lock.new_json)["locked_reason"] == "10 failed sign-ins from 2 addresses"


def test_an_admin_unlocks_with_a_reason_and_old_failures_stop_counting(
    store: Store, clock: Clock
) -> None:
    fail_until_locked_or(store, clock, "phil", ["10.1.1.1", "10.2.2.2"], 10)
    with store.session() as session:
        with pytest.raises(NotPermitted):
            lockout.unlock(session, get_user(session, "tess"), "phil", "asked", clock=clock)
        with pytest.raises(InputError) as blank:
            lockout.unlock(session, get_user(session, "alma"), "phil", "  ", clock=clock)
        assert (blank.value.field, blank.value.value) == ("reason", "  ")
        with pytest.raises(InputError) as not_locked:
            lockout.unlock(session, get_user(session, "alma"), "tess", "why", clock=clock)
        assert (not_locked.value.field, not_locked.value.value) == ("username", "tess")
    clock.advance(60)
    with store.session() as session:
        lockout.unlock(session, get_user(session, "alma"), "phil", "phoned Phil", clock=clock)
    assert locked_at(store, "phil") is None
    [unlock] = trail(store, "user.unlock")
    assert (unlock.actor, unlock.reason) == ("alma", "phoned Phil")
    # one typo after the unlock neither locks again nor makes Phil wait
    assert try_sign_in(store, clock, "phil", address="10.3.3.3") == "AuthenticationFailed"
    assert locked_at(store, "phil") is None
    assert try_sign_in(store, clock, "phil", PASSWORD, address="10.3.3.3") == "accepted"


def test_an_attack_locks_no_more_than_three_accounts(store: Store, clock: Clock) -> None:
    # many addresses, so that address delays do not stand in the way
    addresses = [f"10.5.0.{n}" for n in range(60)]
    names = ("alma", "phil", "tess", "paul", "gone")
    for name in names:
        fail_until_locked_or(store, clock, name, addresses, 12)
    locked = {name: locked_at(store, name) for name in names}
    # the fourth stays at its growing wait; a deactivated account signs nobody in: no lock
    assert [name for name, at in locked.items() if at] == ["alma", "phil", "tess"]
    withheld = trail(store, "user.lock_withheld")
    assert {e.entity_id for e in withheld} == {"paul"}
    assert "3 accounts are locked already" in withheld[0].reason


def test_every_attempt_is_recorded_with_its_outcome_in_the_table_and_the_trail(
    store: Store, clock: Clock
) -> None:
    policy = dataclasses.replace(
        POLICY,
        lock_addresses=1,
        lock_failures=3,
        account_free_failures=5,
        address_free_failures=6,
    )
    seen = [
        try_sign_in(store, clock, "phil", PASSWORD, policy=policy),
        try_sign_in(store, clock, "nobody", policy=policy),
        try_sign_in(store, clock, "gone", PASSWORD, policy=policy),
        *(try_sign_in(store, clock, "tess", policy=policy) for _ in range(3)),
        try_sign_in(store, clock, "tess", PASSWORD, policy=policy),
        try_sign_in(store, clock, "tess", PASSWORD, policy=policy),
    ]
    assert seen == [
        "accepted",
        "AuthenticationFailed",
        "AuthenticationFailed",
        "AuthenticationFailed",
        "AuthenticationFailed",
        "AuthenticationFailed",
        "AccountLocked",
        "SignInThrottled",  # the address has failed 6 times now, a locked account included
    ]
    expected = [
        "accepted",
        "unknown_user",
        "inactive",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "locked",
        "throttled",
    ]
    assert [o for _, _, o in outcomes(store)] == expected
    entries = trail(store, "sign_in.")
    assert [e.action for e in entries] == [f"sign_in.{o}" for o in expected]
    assert {e.entity for e in entries} == {"sign_in"}
    assert {e.batch_number for e in entries} == {None}
    assert entries[0].actor == "phil"
    assert {e.actor for e in entries[1:]} == {"sign-in"}
    assert json.loads(entries[-1].new_json) == {
        "username": "tess",
        "address": "10.1.1.1",
        "channel": "page",
        "outcome": "throttled",
        "retry_after_s": 1,
    }
    assert [e.entity_id for e in trail(store, "user.lock")] == ["tess"]


def test_a_client_with_a_wrong_secret_is_slowed_by_address_and_never_locked(
    store: Store, clock: Clock, seed: tuple[Path, str]
) -> None:
    def token(secret: str, address: str) -> str:
        try:
            lockout.admit(
                store,
                POLICY,
                Attempt("client:epma", address, "token"),
                lambda session: clients.authenticate_client(session, "epma", secret),
                clock=clock,
            )
        except (SignInThrottled, clients.ClientRefused) as exc:
            return type(exc).__name__
        return "accepted"

    for n in range(12):
        assert token("guess", f"10.7.0.{n}") == "ClientRefused"  # no per-client wait, no lock
    for _ in range(5):
        token("guess", "10.7.7.7")
    assert token(seed[1], "10.7.7.7") == "SignInThrottled"
    assert token(seed[1], "10.8.8.8") == "accepted"  # the ward's own system is not held up
    assert outcomes(store)[-1] == ("client:epma", "10.8.8.8", "accepted")


def test_alerts_name_locked_accounts_and_bursts_by_address(store: Store, clock: Clock) -> None:
    fail_until_locked_or(store, clock, "phil", ["10.1.1.1", "10.2.2.2"], 10)
    for n in range(2):
        try_sign_in(store, clock, f"guess{n}", address="10.4.4.4")  # below the burst size
    with store.read_session() as session:
        found = lockout.alerts(session, POLICY, clock.now)
    assert [(a.username, a.locked_reason) for a in found.locked] == [
        ("phil", "10 failed sign-ins from 2 addresses")
    ]
    assert {(b.address, b.failures, b.usernames) for b in found.bursts} == {
        ("10.1.1.1", 5, ("phil",)),
        ("10.2.2.2", 5, ("phil",)),
    }
    clock.advance(POLICY.window_minutes * 60 + 1)
    with store.read_session() as session:
        later = lockout.alerts(session, POLICY, clock.now)
    assert [a.username for a in later.locked] == ["phil"]  # the lock stays until unlocked
    assert later.bursts == ()


def test_attempts_at_once_on_postgresql_lock_the_account_exactly_once(
    postgres_url: str, clock: Clock
) -> None:
    store = open_store(fresh_postgres_database(postgres_url))
    with store.session() as session:
        create_user(
            session, None, username="phil", full_name="Phil", role="pharmacist", password=PASSWORD
        )
    # no waits in the way: twelve wrong passwords from two addresses race for the lock
    policy = dataclasses.replace(POLICY, address_free_failures=100, account_free_failures=100)
    seen: list[str] = []

    def guess(n: int) -> None:
        seen.append(try_sign_in(store, clock, "phil", address=f"10.9.0.{n % 2}", policy=policy))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(seen) == ["AccountLocked"] * 2 + ["AuthenticationFailed"] * 10
        assert sorted(o for _, _, o in outcomes(store)) == ["locked"] * 2 + ["wrong_password"] * 10
        assert [e.entity_id for e in trail(store, "user.lock")] == ["phil"]
        assert locked_at(store, "phil") is not None
    finally:
        store.dispose()


def test_an_admin_unlocks_from_the_command_line_with_a_reason(
    store: Store,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fail_until_locked_or(store, clock, "phil", ["10.1.1.1", "10.2.2.2"], 10)
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(tmp_path))
    # the suite's key folder, whose key signed the seed's accounts: a command trusting another
    # folder's keys would find alma's account in no trail it believes
    unlock = ["users", "unlock", "phil", "--user", "alma", "--password-stdin"]

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main([*unlock, "--reason", " "]) == 2
    assert "reason: ' ' is required for a change" in capsys.readouterr().err
    assert locked_at(store, "phil") is not None

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main([*unlock, "--reason", "Phil phoned from the ward"]) == 0
    assert capsys.readouterr().out == "phil unlocked\n"
    assert locked_at(store, "phil") is None
    assert [(e.actor, e.reason) for e in trail(store, "user.unlock")] == [
        ("alma", "Phil phoned from the ward")
    ]
