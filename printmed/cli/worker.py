"""`printmed worker --printer NAME`: the job service process of one printer.

`NAME` is a printer in the register (`printmed printers`): the worker reaches it as the register
says (USB port and baud, OctoPrint URL and its sealed key, or the simulator) unless --port,
--octoprint or --sim say otherwise. It marks jobs a crash left printing as interrupted, then
streams queued jobs until stopped (SIGTERM or Ctrl-C end it after the job in progress) or, with
--until-idle, the queue is empty.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading

from printers.interface import Printer
from printers.registry import open_printer
from printmed.cli.store_access import add_store_options, open_cli_store
from printmed.errors import InputError
from printmed.jobs import register as equipment
from printmed.jobs.printers import simulated_printer
from printmed.jobs.register import Connection
from printmed.jobs.worker import PrinterWorker
from printmed.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="stream the queued jobs of one printer")
    parser.add_argument("--printer", required=True, help="the registered printer to drive")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of a USB printer (default: the register's)")
    where.add_argument("--octoprint", metavar="URL", help="an OctoPrint server")
    where.add_argument("--sim", action="store_true", help="the built-in simulated printer")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (with --port)")
    parser.add_argument("--api-key", help="OctoPrint application key (with --octoprint)")
    parser.add_argument(
        "--speed-factor", type=float, default=10.0, help="the simulator's speed-up (default 10)"
    )
    parser.add_argument(
        "--sim-profile",
        help="the printer profile the simulator stands in for (default: the --printer name)",
    )
    parser.add_argument("--until-idle", action="store_true", help="stop when the queue is empty")
    parser.add_argument("--poll-s", type=float, default=1.0, help="queue poll interval, s")
    add_store_options(parser)
    parser.set_defaults(run=run)


def build_printer(args: argparse.Namespace, registered: Connection | None = None) -> Printer:
    """The printer the flags name (USB serial, OctoPrint, the simulator), or else the one the
    register names (`registered`), or else the built-in simulator."""
    if registered is not None and not (args.octoprint or args.port or args.sim):
        if registered.kind == "usb":
            return open_printer("serial", port=registered.port, baud=registered.baud)
        if registered.kind == "octoprint":
            return open_printer("octoprint", url=registered.url, api_key=registered.api_key)
    if args.octoprint:
        if not args.api_key:
            raise InputError("--api-key", "(missing)", "is required with --octoprint")
        return open_printer("octoprint", url=args.octoprint, api_key=args.api_key)
    if args.port:
        return open_printer("serial", port=args.port, baud=args.baud)
    if args.speed_factor <= 0:
        raise InputError("--speed-factor", args.speed_factor, "must be positive")
    return simulated_printer(args.sim_profile or args.printer, speed_factor=args.speed_factor)


def printer_for(args: argparse.Namespace, store: Store) -> Printer:
    """The printer `--printer NAME` drives: reached as the register says unless a flag says
    otherwise; a name the register does not know is refused once the register has printers."""
    with store.read_session() as session:
        entry = equipment.find(session, args.printer)
        if entry is None and equipment.in_force(session):
            raise equipment.UnknownPrinter(args.printer)
        connection = equipment.connection_of(entry) if entry is not None else None
        if entry is not None and not args.sim_profile:
            args.sim_profile = entry.profile_id
    return build_printer(args, connection)


def run(args: argparse.Namespace) -> int:
    if args.poll_s <= 0:
        raise InputError("--poll-s", args.poll_s, "must be positive")
    _, store = open_cli_store(args)
    try:
        printer = printer_for(args, store)
    except BaseException:
        store.dispose()
        raise
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{args.printer}"
    worker = PrinterWorker(store, args.printer, printer, worker_id, poll_s=args.poll_s)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        for batch in worker.recover():
            print(f"{batch}: interrupted (the service stopped while it printed)", file=sys.stderr)
        firmware = worker.connect()
        print(
            f"worker {worker_id}: {printer.backend_name} printer, {firmware.describe()}", flush=True
        )
        for batch in worker.run(stop, until_idle=args.until_idle):
            print(f"{batch}: done", flush=True)
        if worker.refused is not None:
            print(f"printmed worker: refused: {worker.refused}", file=sys.stderr)
    finally:
        printer.disconnect()
        store.dispose()
    return 1 if worker.refused is not None else 0
