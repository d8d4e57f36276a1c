"""Streaming throughput: lines/s and share of the serial wire limit, one line in flight
against the send-ahead window, with and without 1 % injected resends, on two peers.

Peers: OctoPrint's VirtualPrinter on a pty (scripts/virtual_printer_pty.py, set to Marlin's
defaults: 128-byte receive buffer, 4 command slots, `ok N P B`) and the built-in simulator.
Both emulate wire time (10 bits a byte). Every run also checks that each move reached the
firmware exactly once, in order. Medians of --repeats runs.

    .venv/bin/python benchmarks/streaming.py --lines 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from printers.framing import frame
from printers.interface import StreamReport
from printers.marlin_link import LinkSettings
from printers.program import GcodeProgram
from printers.serial_printer import SerialPrinter
from printers.sim_marlin import Faults
from printers.sim_printer import SimPrinter

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "scripts" / "virtual_printer_pty.py"
FIRST_N = 3  # N0 M110, N1 M115, N2 M155: program line i is N(i + 3)


@dataclass
class Run:
    peer: str
    baud: int
    window: str
    resends_pct: float
    lines_per_s: float
    wire_share: float
    resends: int
    timeouts: int
    exact: bool


def make_program(lines: int) -> GcodeProgram:
    """Short, fast moves (the peer never starves the host) of about 43 framed bytes.

    G90 first: VirtualPrinter boots in relative mode, where X10..X40 would each be a 10 to
    40 mm move, and its simulated planner (not the link) would set the pace.
    """
    moves = [
        f"G1 X{10 + (i % 97) * 0.311:.3f} Y{20 + (i % 89) * 0.217:.3f} E0.0{i % 89 + 10} F60000"
        for i in range(lines)
    ]
    return GcodeProgram.from_text("G90\n" + "\n".join(moves), name="bench.gcode")


def wire_limit_lines_per_s(program: GcodeProgram, baud: int) -> float:
    framed = [len(frame(i + FIRST_N, c)) for i, c in enumerate(program.commands)]
    return baud / 10.0 / statistics.fmean(framed)


def fault_lines(program: GcodeProgram, pct: float) -> list[int]:
    if not pct:
        return []
    step = round(100 / pct)
    return [n for n in range(FIRST_N + step, FIRST_N + len(program), step)]


def run_virtual_printer(program: GcodeProgram, baud: int, window: bool, pct: float) -> Run:
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "moves.txt"
        errors = ",".join(f"{n}:checksum_mismatch" for n in fault_lines(program, pct))
        command = [sys.executable, str(PEER), "--baud", str(baud), "--errors", errors]
        command += ["--record", str(record)]
        peer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert peer.stdout is not None and peer.stdin is not None
        port = peer.stdout.readline().strip()
        printer = SerialPrinter(port, baud, settings=LinkSettings(send_ahead=window))
        try:
            printer.connect()
            started = time.perf_counter()
            report = printer.stream(program)
            elapsed_s = time.perf_counter() - started
        finally:
            printer.disconnect()
            peer.stdin.close()
            peer.wait(timeout=10)
        moves = [c for c in program.commands if c.startswith("G1 X")]
        accepted = [m for m in record.read_text().splitlines() if m.startswith("G1 X")]
    return _run("VirtualPrinter", program, baud, window, pct, report, elapsed_s, accepted == moves)


def run_simulator(program: GcodeProgram, baud: int, window: bool, pct: float) -> Run:
    faults = Faults(corrupt=set(fault_lines(program, pct)))
    printer = SimPrinter(
        speed_factor=1000.0,
        baud=baud,
        faults=faults,
        settings=LinkSettings(send_ahead=window),
    )
    printer.connect()
    try:
        started = time.perf_counter()
        report = printer.stream(program)
        elapsed_s = time.perf_counter() - started
        sim = printer.firmware_side
        assert sim is not None
        sim.wait_until_idle(5.0)  # an ok means "queued": let the queue run out
        ran = [c for n, c in sim.executed if n >= FIRST_N]
        exact = ran == list(program.commands) and sim.overruns == 0
    finally:
        printer.disconnect()
    return _run("simulator", program, baud, window, pct, report, elapsed_s, exact)


def _run(
    peer: str,
    program: GcodeProgram,
    baud: int,
    window: bool,
    pct: float,
    report: StreamReport,
    elapsed_s: float,
    exact: bool,
) -> Run:
    lines_per_s = len(program) / elapsed_s
    return Run(
        peer,
        baud,
        "send-ahead" if window else "one-in-flight",
        pct,
        lines_per_s,
        lines_per_s / wire_limit_lines_per_s(program, baud),
        report.resends,
        report.timeouts,
        exact and report.complete,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", default="VirtualPrinter,simulator")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    program = make_program(args.lines)
    runners = {"VirtualPrinter": run_virtual_printer, "simulator": run_simulator}
    rows: list[dict[str, object]] = []
    print(
        "| peer | baud | window | faults (resends, timeouts) | lines/s | wire limit lines/s"
        " | share of wire | × one-in-flight | every line once |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for peer in args.peers.split(","):
        for baud in (115200, 250000):
            for pct in (0.0, 1.0):
                medians = {}
                for window in (False, True):
                    runs = [runners[peer](program, baud, window, pct) for _ in range(args.repeats)]
                    rate = statistics.median(r.lines_per_s for r in runs)
                    medians[window] = rate
                    limit = wire_limit_lines_per_s(program, baud)
                    exact = all(r.exact for r in runs)
                    ratio = rate / medians[False]
                    print(
                        f"| {peer} | {baud} | {runs[0].window} | {pct:g} % "
                        f"({statistics.median(r.resends for r in runs):g},"
                        f" {statistics.median(r.timeouts for r in runs):g}) | {rate:.0f} |"
                        f" {limit:.0f} | {rate / limit:.0%} | {ratio:.2f} |"
                        f" {'yes' if exact else 'NO'} |",
                        flush=True,
                    )
                    rows += [asdict(r) for r in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "streaming.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
