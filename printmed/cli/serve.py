"""`printmed serve --host 127.0.0.1 --port 8000`: the API, FHIR endpoint and pages under uvicorn.

With --sim-printers the register gets two simulated printers of each profile on first start
(named `<profile>-a`, `-b`, fictional serials), each driven by a worker in the process, so an
order can go from FHIR in to printed without hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from printmed.cli import worker_balance
from printmed.cli.store_access import add_store_options, open_cli_store
from printmed.errors import InputError

SIM_ENV = "PRINTMED_SERVE_SIM_PRINTERS"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the web application (API, FHIR, pages)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--sim-printers",
        action="store_true",
        help="print queued batches on the register's simulated printers, two per profile "
        "registered at first start (one process only)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    add_store_options(parser)
    parser.set_defaults(run=run)


def app_factory() -> FastAPI:
    """The app uvicorn imports in each worker process; settings from the environment."""
    from printmed.app import create_app

    # each simulator reports its profile's machine type, which the worker checks
    return create_app(sim_printers=os.environ.get(SIM_ENV) == "1")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise InputError("--port", args.port, "is not a TCP port")
    if args.workers < 1:
        raise InputError("--workers", args.workers, "must be at least 1")
    if args.sim_printers and args.workers != 1:
        raise InputError("--workers", args.workers, "must be 1 with --sim-printers")
    # Migrate and create the first admin (password shown once) before any worker starts.
    settings, store = open_cli_store(args)
    store.dispose()
    os.environ["PRINTMED_DATA_DIR"] = str(settings.data_dir)
    os.environ[SIM_ENV] = "1" if args.sim_printers else "0"
    config = uvicorn_config(args.host, args.port, args.workers, args.log_level)
    if args.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:  # uvicorn has logged why (the port taken, the app failing)
            return 3
    else:
        with tempfile.TemporaryDirectory(prefix="printmed-serve-") as shared:
            os.environ[worker_balance.ENV] = worker_balance.prepare(Path(shared), args.workers)
            Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()
    return 0


def uvicorn_config(host: str, port: int, workers: int, log_level: str) -> uvicorn.Config:
    """The app on `host`:`port`; several workers take turns accepting (TakingTurnsLoop)."""
    return uvicorn.Config(
        f"{__name__}:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        loop="asyncio" if workers == 1 else f"{__name__}:TakingTurnsLoop",
    )


def tcp_listener(bound: socket.socket) -> socket.socket:
    """The listening socket uvicorn bound for its worker processes, re-wrapped so Python knows
    it is TCP. uvicorn creates it with protocol 0; accepted connections inherit that, and asyncio
    sets TCP_NODELAY only on sockets that say IPPROTO_TCP, so with --workers > 1 every
    keep-alive response waited ~40 ms on the client's delayed ACK (uvicorn issue #3149)."""
    if bound.family not in (socket.AF_INET, socket.AF_INET6) or bound.proto:
        return bound
    return socket.socket(fileno=bound.detach())  # the kernel reports family, type and protocol


class TakingTurnsLoop(asyncio.SelectorEventLoop):
    """The event loop of each of several workers: one connection accepted each time the listening
    socket wakes it, and none while this worker has more open connections than another.

    All workers wait on one listening socket, and asyncio accepts every connection waiting at
    once (up to the backlog): a burst of connections, as a prescribing system opens its pool, all
    went to whichever worker woke first (9 of 10 in benchmarks/api_load.py), and with keep-alive
    their orders stayed in that worker while another idled. Taking one at a time shares a burst;
    the connection counts (worker_balance) keep the shares even: a busier worker leaves a
    waiting connection for up to DEFER_S × DEFERRALS, then takes it (a stuck peer never holds a
    connection up for longer)."""

    DEFER_S = 0.002
    DEFERRALS = 10

    def __init__(self) -> None:
        super().__init__()
        self.balance = worker_balance.Balance.from_environment()
        self._deferred = 0

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
    ) -> None:
        balance = self.balance
        if balance is not None:
            if self._deferred < self.DEFERRALS and balance.busier_than_another():
                self._deferred += 1
                self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
                self.call_later(
                    self.DEFER_S,
                    self._serve_again,
                    protocol_factory,
                    sock,
                    sslcontext,
                    server,
                    args,
                )
                return
            self._deferred = 0
            protocol_factory = _counted(protocol_factory, balance)
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, 1, *args
        )

    def _serve_again(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any,
        server: Any,
        args: tuple[Any, ...],
    ) -> None:
        if sock.fileno() == -1 or (server is not None and not server.is_serving()):
            return  # the server closed meanwhile
        self._add_reader(  # type: ignore[attr-defined]
            sock.fileno(),
            self._accept_connection,
            protocol_factory,
            sock,
            sslcontext,
            server,
            1,
            *args,
        )


def _counted(protocol_factory: Any, balance: worker_balance.Balance) -> Any:
    """`protocol_factory`, its connections counted in `balance` while they are open."""

    def counted() -> Any:
        protocol = protocol_factory()
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            balance.closed()
            lost(exc)

        protocol.connection_lost = connection_lost
        balance.opened()
        return protocol

    return counted
