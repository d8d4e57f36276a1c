"""`printmed print FILE.gcode --port DEV | --octoprint URL --api-key KEY | --sim`: stream a file.

A progress bar shows layer, percent, heaters and time left; Ctrl-C pauses and asks whether
to resume, cancel or stop at once (M112). Exit 0 only when every line was acknowledged.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.prompt import Prompt

from printers import GcodeProgram, Printer, open_printer
from printers.interface import StreamProgress, StreamReport
from printmed.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("print", help="stream a G-code file to a printer")
    parser.add_argument("file", type=Path, help="the G-code file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of a USB printer, e.g. /dev/ttyACM0")
    where.add_argument("--octoprint", metavar="URL", help="an OctoPrint server")
    where.add_argument("--sim", action="store_true", help="the built-in simulated printer")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    parser.add_argument("--api-key", help="OctoPrint application key (with --octoprint)")
    parser.add_argument(
        "--sim-speed", type=float, default=10.0, help="simulated printer speed factor"
    )
    parser.set_defaults(run=run)


def _printer(args: argparse.Namespace) -> Printer:
    if args.sim:
        return open_printer("sim", speed_factor=args.sim_speed, baud=args.baud)
    if args.octoprint:
        if not args.api_key:
            raise InputError("--api-key", None, "is required with --octoprint")
        return open_printer("octoprint", url=args.octoprint, api_key=args.api_key)
    return open_printer("serial", port=args.port, baud=args.baud)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    program = GcodeProgram.from_file(args.file)
    printer = _printer(args)
    firmware = printer.connect()
    console.print(f"connected: {firmware.describe()}")
    try:
        report = _stream_with_progress(printer, program, console)
    finally:
        printer.disconnect()
    console.print(report.summary())
    if report.temperature_log:
        last = report.temperature_log[-1][1]
        console.print(
            f"temperatures: {len(report.temperature_log)} readings, last {last.describe()}"
        )
    return 0 if report.complete else 1


def _stream_with_progress(
    printer: Printer, program: GcodeProgram, console: Console
) -> StreamReport:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[heaters]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"layer 0/{program.layers}", total=len(program), heaters="")

        def show(event: StreamProgress) -> None:
            heaters = event.temperatures.describe() if event.temperatures else ""
            state = "" if event.state.value == "running" else f" [{event.state.value}]"
            bar.update(
                task,
                completed=event.lines_acknowledged,
                description=f"layer {event.layer + 1}/{max(event.layers, 1)}{state}",
                heaters=heaters,
            )

        # Ctrl-C becomes an event the loop answers (pause and ask), wherever it lands
        interrupted = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        try:
            printer.start(program, show)
            console.print(f"streaming {program.name}: {len(program)} lines; Ctrl-C pauses")
            while True:
                report = printer.wait(0.2)
                if report is not None:
                    return report
                if interrupted.is_set():
                    interrupted.clear()
                    printer.pause()
                    bar.stop()
                    signal.signal(signal.SIGINT, previous)  # Ctrl-C at the prompt: cancel
                    _ask(printer, console)
                    signal.signal(signal.SIGINT, lambda *_: interrupted.set())
                    bar.start()
        finally:
            signal.signal(signal.SIGINT, previous)


def _ask(printer: Printer, console: Console) -> None:
    """After Ctrl-C: the print is paused; resume, cancel, or emergency stop."""
    try:
        choice = Prompt.ask(
            escape("paused: [r]esume, [c]ancel, [e]mergency stop (M112)"),
            choices=["r", "c", "e"],
            default="r",
            console=console,
        )
    except (EOFError, KeyboardInterrupt):
        choice = "c"
    if choice == "r":
        printer.resume()
    elif choice == "c":
        printer.cancel()
    else:
        printer.emergency_stop()
