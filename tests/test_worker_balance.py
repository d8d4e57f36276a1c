"""Least connections between serve's workers: each counts its open connections in its own slot
of a shared file, held by a flock while it lives; a worker with more open connections than a
live peer leaves a waiting connection for a moment, then takes it anyway."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from printmed.cli.serve import TakingTurnsLoop
from printmed.cli.worker_balance import ENV, Balance, prepare


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    prepare(tmp_path, 2)
    return tmp_path


def test_each_worker_takes_a_slot_of_its_own_and_a_third_none(shared: Path) -> None:
    first, second, third = Balance(shared, 2), Balance(shared, 2), Balance(shared, 2)
    assert (first.slot, second.slot, third.slot) == (0, 1, None)
    third.opened()  # a worker without a slot counts nothing and defers to no one
    assert not third.busier_than_another()
    for balance in (first, second, third):
        balance.close()


def test_the_worker_with_more_open_connections_is_the_busier(shared: Path) -> None:
    one, other = Balance(shared, 2), Balance(shared, 2)
    one.opened()
    one.opened()
    other.opened()
    assert (one.busier_than_another(), other.busier_than_another()) == (True, False)
    one.closed()
    assert (one.count(0), one.count(1)) == (1, 1)
    assert not one.busier_than_another() and not other.busier_than_another()  # a tie defers not
    one.close()
    other.close()


def test_a_dead_workers_count_is_ignored_and_its_replacement_starts_at_zero(shared: Path) -> None:
    alive, dying = Balance(shared, 2), Balance(shared, 2)
    alive.opened()
    dying.opened()
    dying.opened()
    assert not alive.busier_than_another()  # 1 against 2
    alive.opened()
    alive.opened()
    assert alive.busier_than_another()  # 3 against 2 of a live worker
    dying.close()  # the kernel releases a dead process's flock likewise
    assert not alive.busier_than_another()  # 3 against 2 of a slot no one holds
    replacement = Balance(shared, 2)
    assert (replacement.slot, replacement.count(1)) == (1, 0)
    assert alive.busier_than_another()
    alive.close()
    replacement.close()


def _accepted_after(
    loop: TakingTurnsLoop, listener: socket.socket, seconds: float
) -> tuple[int, int]:
    """Run the loop for `seconds` with a connection waiting: how many connections it accepted
    (the protocols made), and its count of open connections then."""
    made: list[object] = []

    class Count(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)

    server = loop.run_until_complete(loop.create_server(Count, sock=listener))
    client = socket.create_connection(listener.getsockname())
    try:
        loop.run_until_complete(asyncio.sleep(seconds))
        assert loop.balance is not None
        return len(made), loop.balance.count(1)
    finally:
        client.close()
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_a_busier_worker_leaves_a_connection_waiting_then_takes_it_if_no_peer_does(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"{shared}:2")
    peer = Balance(shared, 2)  # a live worker with no connection that never comes to accept
    loop = TakingTurnsLoop()
    assert loop.balance is not None and loop.balance.slot == 1
    loop.balance.opened()  # this worker already serves one connection: it is the busier
    waited = TakingTurnsLoop.DEFER_S * TakingTurnsLoop.DEFERRALS
    try:
        began = time.monotonic()
        listener = socket.create_server(("127.0.0.1", 0))
        assert _accepted_after(loop, listener, waited / 3) == (0, 1)  # left for the peer
        listener = socket.create_server(("127.0.0.1", 0))
        assert _accepted_after(loop, listener, 5 * waited) == (1, 2)  # taken, and counted
        assert time.monotonic() - began < 2
    finally:
        loop.balance.close()
        loop.close()
        peer.close()


def test_a_connection_closed_is_no_longer_counted(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"{shared}:2")
    loop = TakingTurnsLoop()
    assert loop.balance is not None
    listener = socket.create_server(("127.0.0.1", 0))
    lost = asyncio.Event()

    class Echo(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            lost.set()

    async def connect_and_close() -> tuple[int, int]:
        server = await loop.create_server(Echo, sock=listener)
        client = socket.create_connection(listener.getsockname())
        while loop.balance is not None and loop.balance.count(0) == 0:
            await asyncio.sleep(0.001)
        opened = loop.balance.count(0) if loop.balance else -1
        client.close()
        await asyncio.wait_for(lost.wait(), 5)
        server.close()
        return opened, loop.balance.count(0) if loop.balance else -1

    try:
        assert loop.run_until_complete(connect_and_close()) == (1, 0)
    finally:
        loop.balance.close()
        loop.close()
