"""`printmed print FILE.gcode --engineering-print --user NAME --port DEV | --octoprint URL
--api-key KEY | --sim`: an engineer's test print or calibration, outside any batch.

Refused without --engineering-print, for anyone the rules do not allow, for a file that is a
batch's G-code however its comments, spacing or line ends were changed (batches print only
through `printmed worker`), and for one that labels objects as a batch's tablets are labelled
unless each is named a calibration or test object (`printmed.jobs.engineering`); otherwise
recorded in the trail (who, the file's SHA-256, the printer) before a line is streamed, and how
it ended after.
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
from printmed.cli.store_access import add_store_options, add_user_options
from printmed.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    # the help stays COMMANDS' row in printmed.cli; the flag below says what kind of print it is
    parser = subparsers.add_parser("print", help="stream a G-code file to a printer")
    parser.add_argument("file", type=Path, help="the G-code file")
    parser.add_argument(
        "--engineering-print",
        action="store_true",
        help="confirm this is a test print or calibration outside any batch (required; audited)",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of a USB printer, e.g. /dev/ttyACM0")
    where.add_argument("--octoprint", metavar="URL", help="an OctoPrint server")
    where.add_argument("--sim", action="store_true", help="the built-in simulated printer")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    parser.add_argument("--api-key", help="OctoPrint application key (with --octoprint)")
    parser.add_argument(
        "--sim-speed", type=float, default=10.0, help="simulated printer speed factor"
    )
    add_user_options(parser)
    add_store_options(parser)
    parser.set_defaults(run=run)


def _printer(args: argparse.Namespace) -> Printer:
    if args.sim:
        return open_printer("sim", speed_factor=args.sim_speed, baud=args.baud)
    if args.octoprint:
        if not args.api_key:
            raise InputError("--api-key", None, "is required with --octoprint")
        return open_printer("octoprint", url=args.octoprint, api_key=args.api_key)
    return open_printer("serial", port=args.port, baud=args.baud)


def _printer_label(args: argparse.Namespace) -> str:
    """The printer as the trail names it: backend and where it is."""
    if args.sim:
        return "sim (built-in simulated printer)"
    if args.octoprint:
        return f"octoprint {args.octoprint}"
    return f"serial {args.port} at {args.baud} baud"


def run(args: argparse.Namespace) -> int:
    if not args.engineering_print:
        raise InputError(
            "--engineering-print",
            "(missing)",
            "is required: `printmed print` streams a file outside any batch, for engineers' test "
            "prints and calibration, and records it; batches print through `printmed worker`",
        )
    from printers.errors import ProgramRefused
    from printmed.cli.store_access import acting_user, open_cli_store
    from printmed.jobs.engineering import finish_engineering_print, start_engineering_print
    from printmed.jobs.worker import as_data

    console = Console(stderr=True)
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        raise ProgramRefused("file", str(args.file), f"cannot be read ({exc.strerror})") from exc
    program = GcodeProgram.from_text(content.decode("utf-8", errors="replace"), name=args.file.name)
    if not program.commands:
        raise ProgramRefused("file", str(args.file), "holds no G-code command")
    _, store = open_cli_store(args)
    try:
        with store.session() as session:
            started = start_engineering_print(
                session,
                acting_user(session, args),
                file_name=args.file.name,
                content=content,
                printer=_printer_label(args),
            )
        console.print(
            f"recorded: engineering print of {started.file_name} (SHA-256 {started.sha256}) "
            f"by {started.username} on {started.printer}"
        )
        firmware = report = None
        summary = "the printer could not be reached or the host failed"
        try:
            printer = _printer(args)
            firmware = printer.connect()
            console.print(f"connected: {firmware.describe()}")
            try:
                report = _stream_with_progress(printer, program, console)
                summary = report.summary()
            finally:
                printer.disconnect()
        finally:
            with store.session() as session:
                finish_engineering_print(
                    session,
                    started,
                    firmware=as_data(firmware) if firmware is not None else None,
                    report=as_data(report) if report is not None else None,
                    summary=summary,
                )
    finally:
        store.dispose()
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
