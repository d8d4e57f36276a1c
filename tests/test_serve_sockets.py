"""`printmed serve --workers N` hands its worker processes a listening socket that asyncio
recognises as TCP, so every accepted connection has TCP_NODELAY and a keep-alive response is
not held back ~40 ms by Nagle's algorithm waiting on the client's delayed ACK (uvicorn #3149);
and each worker accepts one connection each time the socket wakes it, so the workers share a
burst of connections instead of the first awake taking them all."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

import uvicorn

from printmed.cli.serve import TakingTurnsLoop, tcp_listener


async def _nodelay_of_accepted(listener: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(accepted, 10)
    finally:
        writer.close()
        server.close()


def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection `listener` accepts, on an event loop of a thread of its own
    (a test run before this one, Playwright's, may leave a loop running in this thread)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, _nodelay_of_accepted(listener)).result(30)


def _bound(port: int = 0) -> socket.socket:
    config = uvicorn.Config("printmed.cli.serve:app_factory", host="127.0.0.1", port=port)
    return config.bind_socket()


def test_uvicorn_binds_its_worker_socket_without_saying_tcp() -> None:
    """The fault tcp_listener works around, in the uvicorn this project installs. When uvicorn
    fixes it (issue #3149) this fails: tcp_listener and this test can then go."""
    bound = _bound()
    try:
        assert bound.proto == 0
        assert _accepted_nodelay(bound) == 0
    finally:
        bound.close()


def test_the_worker_socket_accepts_connections_with_tcp_nodelay() -> None:
    listener = tcp_listener(_bound())
    assert listener.proto == socket.IPPROTO_TCP
    assert _accepted_nodelay(listener) != 0


def test_a_unix_socket_is_left_as_it_is() -> None:
    left, right = socket.socketpair()
    try:
        assert tcp_listener(left) is left
    finally:
        left.close()
        right.close()


def _left_waiting_after_one_wakeup(loop: asyncio.AbstractEventLoop, waiting: int) -> int:
    """Of `waiting` connections queued on a listening socket before the loop serves it, how many
    are still queued after the loop's first pass over the socket; then the loop takes the rest."""
    listener = socket.create_server(("127.0.0.1", 0))
    clients: list[socket.socket] = []
    made: list[asyncio.BaseTransport] = []

    class Count(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)

    try:
        server = loop.run_until_complete(loop.create_server(Count, sock=listener))
        # the loop is idle now; the kernel completes these handshakes without it
        clients.extend(socket.create_connection(listener.getsockname()) for _ in range(waiting))
        loop.call_soon(loop.stop)
        loop.run_forever()  # one pass: the socket is readable, its reader runs once
        left = 0
        probe = listener.dup()
        probe.setblocking(False)
        try:
            while True:  # a connection accepted here is one the loop did not take
                probe.accept()[0].close()
                left += 1
        except BlockingIOError:
            pass
        finally:
            probe.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
        return left
    finally:
        for client in clients:
            client.close()
        loop.close()


def test_a_worker_takes_one_waiting_connection_each_time_the_socket_wakes_it() -> None:
    assert _left_waiting_after_one_wakeup(TakingTurnsLoop(), 4) == 3


def test_asyncio_alone_takes_every_waiting_connection_at_once() -> None:
    """What TakingTurnsLoop changes: a plain loop empties the queue in one pass."""
    assert _left_waiting_after_one_wakeup(asyncio.SelectorEventLoop(), 4) == 0


def test_several_workers_run_on_the_taking_turns_loop_and_one_on_asyncio() -> None:
    from printmed.cli.serve import uvicorn_config

    assert uvicorn_config("127.0.0.1", 8000, 2, "info").get_loop_factory() is TakingTurnsLoop
    assert uvicorn_config("127.0.0.1", 8000, 1, "info").get_loop_factory() is not TakingTurnsLoop
