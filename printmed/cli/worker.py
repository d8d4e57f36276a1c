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
from typing import Any

from printers.registry import open_printer
from printmed.cli.store_access import add_store_options, open_cli_store
from printmed.jobs.worker import PrinterWorker


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="stream the queued jobs of one printer")
    parser.add_argument("--printer", required=True, help="printer name the jobs are queued for")
    parser.add_argument(
        "--backend", default="sim", help="printer backend: sim, serial, … (default sim)"
    )
    parser.add_argument("--port", help="serial port (serial backend)")
    parser.add_argument("--baud", type=int, help="baud rate (serial backend)")
    parser.add_argument("--speed-factor", type=float, help="simulated printer speed-up")
    parser.add_argument("--until-idle", action="store_true", help="stop when the queue is empty")
    parser.add_argument("--poll-s", type=float, default=1.0, help="queue poll interval, s")
    add_store_options(parser)
    parser.set_defaults(run=run)


def printer_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.port is not None:
        settings["port"] = args.port
    if args.baud is not None:
        settings["baud"] = args.baud
    if args.speed_factor is not None:
        settings["speed_factor"] = args.speed_factor
    return settings


def run(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args)
    printer = open_printer(args.backend, **printer_settings(args))
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{args.printer}"
    worker = PrinterWorker(store, args.printer, printer, worker_id, poll_s=args.poll_s)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    for batch in worker.recover():
        print(f"{batch}: interrupted (the service stopped while it printed)", file=sys.stderr)
    firmware = worker.connect()
    print(f"worker {worker_id}: {args.backend} printer, {firmware.describe()}", flush=True)
    try:
        for batch in worker.run(stop, until_idle=args.until_idle):
            print(f"{batch}: done", flush=True)
    finally:
        printer.disconnect()
        store.dispose()
    return 0
