"""`printmed worker --printer NAME`: the job service process of one printer.

It marks jobs a crash left printing as interrupted, then streams queued jobs until stopped
(SIGTERM or Ctrl-C end it after the job in progress) or, with --until-idle, the queue is empty.
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
from printmed.jobs.worker import PrinterWorker


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="stream the queued jobs of one printer")
    parser.add_argument("--printer", required=True, help="printer name the jobs are queued for")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of a USB printer (default: the simulator)")
    where.add_argument("--octoprint", metavar="URL", help="an OctoPrint server")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (with --port)")
    parser.add_argument("--api-key", help="OctoPrint application key (with --octoprint)")
    parser.add_argument(
        "--speed-factor", type=float, default=10.0, help="the simulator's speed-up (default 10)"
    )
    parser.add_argument("--until-idle", action="store_true", help="stop when the queue is empty")
    parser.add_argument("--poll-s", type=float, default=1.0, help="queue poll interval, s")
    add_store_options(parser)
    parser.set_defaults(run=run)


def build_printer(args: argparse.Namespace) -> Printer:
    """The printer the flags name: USB serial, OctoPrint, or else the built-in simulator."""
    if args.octoprint:
        if not args.api_key:
            raise InputError("--api-key", "(missing)", "is required with --octoprint")
        return open_printer("octoprint", url=args.octoprint, api_key=args.api_key)
    if args.port:
        return open_printer("serial", port=args.port, baud=args.baud)
    if args.speed_factor <= 0:
        raise InputError("--speed-factor", args.speed_factor, "must be positive")
    return open_printer("sim", speed_factor=args.speed_factor)


def run(args: argparse.Namespace) -> int:
    if args.poll_s <= 0:
        raise InputError("--poll-s", args.poll_s, "must be positive")
    printer = build_printer(args)
    _, store = open_cli_store(args)
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
    finally:
        printer.disconnect()
        store.dispose()
    return 0
