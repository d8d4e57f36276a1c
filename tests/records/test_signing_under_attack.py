"""The password an e-signature asks again goes through the sign-in defence, like a login: guesses
at the signing prompt wait, count with failed logins, lock an account, and are recorded (the
attempts table and the audit trail); a locked pharmacist releases nothing, even with the right
password. The command line is recorded and refuses a locked account but never waits.
Time is a clock the tests move; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from printmed.auth import lockout
from printmed.auth.lockout import AccountLocked, Attempt, SignInThrottled
from printmed.auth.sessions import sign_in
from printmed.auth.users import AuthenticationFailed, get_user
from printmed.cli import main
from printmed.jobs import service
from printmed.records.release import release
from printmed.records.signatures import Signer, admit_signer, sign
from printmed.records.weighing import record_weights
from printmed.settings import SignInPolicy
from printmed.store import Store
from printmed.store.models import AuditEntry, SignInAttempt
from tests.moving_clock import MovingClock as Clock
from tests.records.builders import PASSWORD, add_users, good_weights, printed_job

POLICY = SignInPolicy()  # the defaults the README states
# locks after 4 failures from 2 addresses, before any account wait begins
LOCKING = SignInPolicy(account_free_failures=10, lock_failures=4, lock_addresses=2)
BENCH_PC, WARD_PC = "10.1.0.7", "10.1.0.8"
WRONG = "not the password"


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def batch(store: Store) -> str:
    """A batch made and weighed by tech, for pharm (who made none of it) to release."""
    users = add_users(store, "tech", "pharm", "boss")
    made = printed_job(store, users["tech"])
    with store.session() as session:
        record_weights(session, service.get_batch(session, made), users["tech"], good_weights())
    return made


def signer(
    store: Store,
    clock: Clock,
    password: str,
    *,
    username: str = "pharm",
    meaning: str = "released",
    address: str = BENCH_PC,
    policy: SignInPolicy = POLICY,
) -> Signer:
    """The password typed at a page's signing prompt from `address`."""
    return admit_signer(
        store, policy, username, password, meaning, address=address, channel="page", clock=clock
    )


def release_as_pharm(store: Store, clock: Clock, batch: str, password: str = PASSWORD) -> None:
    admitted = signer(store, clock, password)
    with store.session() as session:
        release(session, batch, admitted)


def state(store: Store, batch: str) -> str:
    with store.session() as session:
        return service.get_batch(session, batch).state


def attempts(store: Store) -> list[tuple[str, str, str, str]]:
    with store.session() as session:
        rows = session.scalars(select(SignInAttempt).order_by(SignInAttempt.id))
        return [(a.username, a.address, a.channel, a.outcome) for a in rows]


def sign_in_trail(store: Store) -> list[tuple[str, str, str | None, str]]:
    """(action, actor, purpose, reason) of every sign-in entry in the audit trail."""
    with store.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "sign_in").order_by(AuditEntry.seq)
        )
        return [
            (e.action, e.actor, json.loads(e.new_json).get("purpose"), e.reason) for e in entries
        ]


def test_wrong_release_passwords_wait_and_are_recorded_then_the_right_one_releases(
    store: Store, batch: str, clock: Clock
) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            release_as_pharm(store, clock, batch, WRONG)
    # the fourth try is refused unchecked, the right password too
    with pytest.raises(SignInThrottled) as refused:
        release_as_pharm(store, clock, batch)
    assert (refused.value.field, refused.value.value) == ("username", "pharm")
    assert refused.value.retry_after_s == 1
    assert state(store, batch) == "weighed"
    assert attempts(store) == [("pharm", BENCH_PC, "page", "wrong_password")] * 3 + [
        ("pharm", BENCH_PC, "page", "throttled")
    ]

    clock.advance(1)
    release_as_pharm(store, clock, batch)
    assert state(store, batch) == "released"
    assert attempts(store)[-1] == ("pharm", BENCH_PC, "page", "accepted")
    assert sign_in_trail(store) == [
        ("sign_in.wrong_password", "sign-in", "e-signature", "wrong password (for an e-signature)")
    ] * 3 + [
        (
            "sign_in.throttled",
            "sign-in",
            "e-signature",
            "refused unchecked: too many recent failures (for an e-signature)",
        ),
        ("sign_in.accepted", "pharm", "e-signature", "password re-entered (for an e-signature)"),
    ]


def test_guesses_at_the_signing_prompt_and_at_the_login_count_together(
    store: Store, batch: str, clock: Clock
) -> None:
    """One PC: two failed logins as tech, three wrong signing passwords in pharm's open
    session; the PC then waits, for the next login and the next signature alike."""
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            sign_in(
                store, POLICY, Attempt("tech", WARD_PC, "page"), WRONG, kind="cookie", clock=clock
            )
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            signer(store, clock, WRONG, meaning="reviewed", address=WARD_PC)
    with pytest.raises(SignInThrottled) as refused:
        sign_in(
            store, POLICY, Attempt("tech", WARD_PC, "page"), PASSWORD, kind="cookie", clock=clock
        )
    assert (refused.value.field, refused.value.value) == ("address", WARD_PC)
    with pytest.raises(SignInThrottled):
        signer(store, clock, PASSWORD, username="tech", meaning="performed", address=WARD_PC)
    # another PC is not held up by this one
    admitted = signer(store, clock, PASSWORD, username="tech", meaning="performed")
    with store.session() as session:
        sign(session, service.get_batch(session, batch), admitted, "performed")


def test_a_locked_pharmacist_cannot_release_even_with_the_right_password(
    store: Store, batch: str, clock: Clock
) -> None:
    for address in (BENCH_PC, WARD_PC):  # guessing from two PCs locks the account
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                signer(store, clock, WRONG, address=address, policy=LOCKING)
    with store.session() as session:
        assert get_user(session, "pharm").locked_reason == "4 failed sign-ins from 2 addresses"

    with pytest.raises(AccountLocked):
        signer(store, clock, PASSWORD, policy=LOCKING)
    assert state(store, batch) == "weighed"
    assert attempts(store)[-1] == ("pharm", BENCH_PC, "page", "locked")

    with store.session() as session:
        lockout.unlock(session, get_user(session, "boss"), "pharm", "Paula confirmed by phone")
    admitted = signer(store, clock, PASSWORD, policy=LOCKING)
    with store.session() as session:
        assert release(session, batch, admitted).meaning == "released"
    assert state(store, batch) == "released"


def test_an_account_locked_after_its_password_was_checked_signs_nothing(
    store: Store, batch: str, clock: Clock
) -> None:
    admitted = signer(store, clock, PASSWORD)
    # locked by guessing elsewhere between the password check and the release
    with store.session() as session:
        get_user(session, "pharm").locked_at = lockout.stamp(clock())
    with pytest.raises(AccountLocked), store.session() as session:
        release(session, batch, admitted)
    assert state(store, batch) == "weighed"


def cli(monkeypatch: pytest.MonkeyPatch, data_dir: Path, password: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main([*argv, "--password-stdin", "--data-dir", str(data_dir)])


def test_the_command_line_records_every_password_and_never_waits(
    store: Store, batch: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    weights = ",".join(f"{w:g}" for w in good_weights())
    correct = ("weigh", batch, "--weights", weights, "--reason", "re-weighed", "--user", "tech")
    for _ in range(8):  # past the address's 5 and the account's 3 free failures
        assert cli(monkeypatch, tmp_path, WRONG, *correct) == 2
    assert cli(monkeypatch, tmp_path, PASSWORD, *correct) == 0
    recorded = attempts(store)
    assert [outcome for *_, outcome in recorded] == ["wrong_password"] * 8 + ["accepted"]
    assert {(name, channel) for name, _, channel, _ in recorded} == {("tech", "cli")}
    assert all(address.startswith("cli:") for _, address, _, _ in recorded)


def test_a_locked_pharmacist_cannot_release_from_the_command_line(
    store: Store,
    batch: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for address in (BENCH_PC, WARD_PC):
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                signer(store, clock, WRONG, address=address, policy=LOCKING)
    capsys.readouterr()
    assert cli(monkeypatch, tmp_path, PASSWORD, "release", batch, "--user", "pharm") == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "username: 'pharm' is locked after repeated failed sign-ins; an admin must unlock it"
        )
    )
    assert attempts(store)[-1][2:] == ("cli", "locked")
    assert state(store, batch) == "weighed"
