"""The serial-balance reader, against a real pseudo-terminal standing in for the balance."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from printmed.records.balance import parse_reading, read_weights
from printmed.records.errors import BalanceError


@pytest.fixture
def balance_pty() -> Iterator[tuple[int, str]]:
    """(master fd to write the balance's output to, the port path the reader opens)."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def _send(master: int, lines: list[str], gap_s: float = 0.02) -> threading.Thread:
    def speak() -> None:
        time.sleep(0.2)
        for line in lines:
            os.write(master, (line + "\r\n").encode())
            time.sleep(gap_s)

    thread = threading.Thread(target=speak, daemon=True)
    thread.start()
    return thread


def test_stable_readings_in_grams_become_milligrams() -> None:
    assert parse_reading("S S     0.12530 g") == pytest.approx(125.30)
    assert parse_reading("S S   125.3 mg") == pytest.approx(125.3)
    assert parse_reading("ST,+0.10120 g") == pytest.approx(101.2)


def test_unstable_readings_and_noise_are_skipped() -> None:
    assert parse_reading("S D     0.12611 g") is None
    assert parse_reading("") is None


def test_an_overloaded_balance_is_refused() -> None:
    with pytest.raises(BalanceError, match=r"balance: 'S \+' reported an error"):
        parse_reading("S +")


def test_reads_one_stable_weight_per_unit_from_the_port(balance_pty: tuple[int, str]) -> None:
    master, port = balance_pty
    speaker = _send(
        master,
        [
            "S D     0.12000 g",
            "S S     0.12530 g",
            "S D 0.1",
            "garbage",
            "S S     0.12470 g",
            "S S     0.12610 g",
            "S S 0.2 g",
        ],
    )
    weights = read_weights(port, 3, unit_timeout_s=5)
    speaker.join()
    assert weights == pytest.approx([125.3, 124.7, 126.1])


def test_a_silent_balance_times_out_naming_the_unit(balance_pty: tuple[int, str]) -> None:
    master, port = balance_pty
    speaker = _send(master, ["S S     0.12530 g"])
    with pytest.raises(BalanceError, match=r"no stable reading for unit 2 within 2\.5 s"):
        read_weights(port, 2, unit_timeout_s=2.5)
    speaker.join()


def test_a_missing_port_is_named() -> None:
    with pytest.raises(BalanceError, match="--balance: '/dev/no-such-balance' cannot be opened"):
        read_weights("/dev/no-such-balance", 1)
