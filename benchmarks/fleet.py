"""A fleet: one host process streams a G-code plate to 8 simulated Marlin printers at once,
each on its own pty with wire time emulated, and reports per printer its share of the wire.

Each printer is the built-in SimulatedMarlin in a process of its own (`fleet.py peer`), behind
a pty whose bytes cost 10 bits of wire time each way, so the host drives it as it would a USB
printer (pyserial, one MarlinLink per port) and the printers' CPU is not the host's. The
program is the first --lines commands of the 28-tablet propranolol plate (`printmed make`), or
--gcode FILE. Faults: every 100th line (1 %) is corrupted or re-requested, alternately. Lost
and doubled lines are read from each simulator's own record of the numbered lines it executed.
Host CPU is the streaming process's user + system time (getrusage) over the streaming window;
each printer process reports its own.

    .venv/bin/python benchmarks/fleet.py --printers 8 --baud 250000 --lines 12000 --resends 1
    .venv/bin/python benchmarks/fleet.py --profile /tmp/fleet.pstats   # cProfile the link threads
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from printers.framing import frame  # noqa: E402
from printers.interface import StreamReport  # noqa: E402
from printers.marlin_link import LinkSettings, MarlinLink  # noqa: E402
from printers.program import GcodeProgram  # noqa: E402
from printers.serial_printer import SerialPrinter  # noqa: E402
from printers.transport import LinkLost  # noqa: E402

FIRST_N = 3  # N0 M110, N1 M115, N2 M155: program line i is N(i + 3)
PLATE_RX = ROOT / "fixtures" / "prescriptions" / "propranolol-child.json"


# ----------------------------------------------------------------------- the printer process


class PtyWire:
    """The printer's end of a pty at `baud` (a `Transport` for SimulatedMarlin): a line the
    host wrote is readable once its bytes have crossed the wire, and a reply reaches the host
    once its bytes have (a thread delivers them), 10 bits a byte each way."""

    def __init__(self, master: int, baud: int, name: str) -> None:
        from printers.memory_link import MemoryCable, Wire

        self.name = name
        self._fd = master
        self._inbound = Wire(baud or None)
        self._pending = b""
        self._outbound = MemoryCable(baud or None, name=name)
        threading.Thread(target=self._deliver, daemon=True).start()

    def read(self, timeout_s: float) -> bytes:
        # the simulator's one reader also reads the pty: no thread in between
        deadline = time.monotonic() + timeout_s
        while True:
            data, next_due = self._inbound.take_due()
            now = time.monotonic()
            if data or now >= deadline:
                return data
            wait_s = min(deadline, next_due or deadline) - now
            if select.select([self._fd], [], [], max(wait_s, 0.0))[0]:
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    raise LinkLost("the host closed the pty")
                *lines, self._pending = (self._pending + chunk).split(b"\n")
                for line in lines:  # each its own wire time: the first of a burst comes first
                    self._inbound.put(line + b"\n")

    def write(self, data: bytes) -> None:
        self._outbound.device.write(data)

    def _deliver(self) -> None:
        while True:
            try:
                data = self._outbound.host.read(1.0)
                if data:
                    os.write(self._fd, data)
            except (LinkLost, OSError):
                return

    def close(self) -> None:
        self._outbound.host.close()


def serve_peer(baud: int, corrupt: set[int], resend: set[int], speed_factor: float) -> int:
    """Run one SimulatedMarlin behind a pty until stdin closes; then print its record as JSON."""
    from printers.sim_marlin import Faults, SimulatedMarlin

    master, slave = os.openpty()
    tty.setraw(slave)
    sim = SimulatedMarlin(
        PtyWire(master, baud, os.ttyname(slave)),
        speed_factor=speed_factor,
        faults=Faults(corrupt=corrupt, resend=resend),
    )
    sim.start()
    ready = os.times()
    print(os.ttyname(slave), flush=True)
    sys.stdin.read()  # the host closes our stdin when it has finished streaming
    # an ok means "taken into the command queue": let the queue run out before reporting
    sim.wait_until_idle(5.0)
    done = os.times()
    sim.stop()
    record = {
        "numbers": [n for n, _ in sim.executed],
        "commands_sha256": _digest(c for n, c in sim.executed if n >= FIRST_N),
        "overruns": sim.overruns,
        "cpu_s": (done.user - ready.user) + (done.system - ready.system),
        "wall_s": done.elapsed - ready.elapsed,
    }
    print(json.dumps(record), flush=True)
    return 0


def _digest(commands: object) -> str:
    return hashlib.sha256("\n".join(commands).encode()).hexdigest()  # type: ignore[arg-type]


class Peer:
    """A simulated printer in its own process; `port` is the pty the host opens."""

    def __init__(self, baud: int, corrupt: set[int], resend: set[int], speed: float) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "peer", "--baud", str(baud)]
        command += ["--corrupt", ",".join(map(str, sorted(corrupt)))]
        command += ["--resend", ",".join(map(str, sorted(resend)))]
        command += ["--speed-factor", str(speed)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = self.process.stdout.readline().strip()
        if not self.port.startswith("/dev/"):
            raise RuntimeError(f"printer process did not start: {self.port!r}")

    def finish(self) -> dict[str, object]:
        """Close its stdin and read back what it executed."""
        out, _ = self.process.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------------- the host


@dataclass
class PrinterRow:
    printer: int
    lines: int
    seconds: float
    lines_per_s: float
    wire_share: float
    resends: int
    timeouts: int
    lost: int
    doubled: int
    in_order: bool
    complete: bool
    overruns: int
    printer_cpu_s: float


@dataclass
class FleetRun:
    printers: int
    baud: int
    resends_pct: float
    wall_s: float
    host_cpu_s: float
    host_cores: float
    link_threads_cpu_s: float
    printers_cpu_s: float
    rows: list[PrinterRow]


def load_program(gcode: Path | None, lines: int) -> GcodeProgram:
    """The first `lines` commands of `gcode`, or of the 28-tablet plate made by the CLI."""
    if gcode is None:
        gcode = Path(tempfile.gettempdir()) / "printmed-fleet-plate.gcode"
        if not gcode.exists():
            cli = [str(ROOT / ".venv" / "bin" / "printmed"), "make", str(PLATE_RX)]
            cli += ["--printer", "fdm-pharma-04", "-o", str(gcode)]
            subprocess.run(cli, check=True, stdout=subprocess.DEVNULL)
    program = GcodeProgram.from_file(gcode)
    if lines and lines < len(program):
        program = GcodeProgram(
            program.name,
            program.commands[:lines],
            program.file_lines[:lines],
            program.layer_of[:lines],
            program.extrudes[:lines],
        )
    return program


def wire_seconds(program: GcodeProgram, baud: int) -> float:
    """Seconds the program's framed lines take on the wire, host to printer, sent once each."""
    framed = sum(len(frame(i + FIRST_N, c)) for i, c in enumerate(program.commands))
    return framed * 10.0 / baud


def fault_lines(program: GcodeProgram, pct: float) -> tuple[set[int], set[int]]:
    """Line numbers to corrupt and to re-request: every (100/pct)th line, alternately."""
    if not pct:
        return set(), set()
    step = round(100 / pct)
    numbers = list(range(FIRST_N + step, FIRST_N + len(program), step))
    return set(numbers[0::2]), set(numbers[1::2])


def _profiled_run(profiles: list[cProfile.Profile]) -> None:
    original = MarlinLink._run

    def run(self: MarlinLink) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.runcall(original, self)

    MarlinLink._run = run  # type: ignore[method-assign]


def _link_threads_cpu_s() -> float:
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    return sum(
        t.user_time + t.system_time
        for t in psutil.Process().threads()
        if names.get(t.id, "").startswith("marlin:")
    )


def run_fleet(program: GcodeProgram, count: int, baud: int, pct: float, speed: float) -> FleetRun:
    corrupt, resend = fault_lines(program, pct)
    peers = [Peer(baud, corrupt, resend, speed) for _ in range(count)]
    printers = [SerialPrinter(peer.port, baud, settings=LinkSettings()) for peer in peers]
    try:
        for printer in printers:
            printer.connect()
        threads_before = _link_threads_cpu_s()
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        for printer in printers:
            printer.start(program)
        reports: list[StreamReport] = []
        for printer in printers:
            report = printer.wait()
            assert report is not None
            reports.append(report)
        wall_s = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        threads_cpu_s = _link_threads_cpu_s() - threads_before
    finally:
        for printer in printers:
            printer.disconnect()
    records = [peer.finish() for peer in peers]
    host_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    wire_s = wire_seconds(program, baud)
    expected = list(range(FIRST_N, FIRST_N + len(program)))
    digest = _digest(program.commands)
    rows = []
    for index, (report, record) in enumerate(zip(reports, records, strict=True)):
        numbers = [n for n in record["numbers"] if n >= FIRST_N]  # type: ignore[attr-defined]
        assert report.ended_at is not None
        seconds = (report.ended_at - report.started_at).total_seconds()
        rows.append(
            PrinterRow(
                printer=index,
                lines=report.lines_acknowledged,
                seconds=seconds,
                lines_per_s=len(program) / seconds,
                wire_share=wire_s / seconds,
                resends=report.resends,
                timeouts=report.timeouts,
                lost=len(set(expected) - set(numbers)),
                doubled=len(numbers) - len(set(numbers)),
                in_order=numbers == expected and record["commands_sha256"] == digest,
                complete=report.complete,
                overruns=int(record["overruns"]),  # type: ignore[call-overload]
                printer_cpu_s=float(record["cpu_s"]),  # type: ignore[arg-type]
            )
        )
    return FleetRun(
        count,
        baud,
        pct,
        wall_s,
        host_cpu_s,
        host_cpu_s / wall_s,
        threads_cpu_s,
        sum(r.printer_cpu_s for r in rows),
        rows,
    )


def print_run(run: FleetRun) -> None:
    print(
        f"\n{run.printers} printers at {run.baud} baud, {run.resends_pct:g} % resends injected:"
        f" wall {run.wall_s:.1f} s; host CPU {run.host_cpu_s:.2f} s"
        f" = {run.host_cores:.2f} core (link threads {run.link_threads_cpu_s:.2f} s);"
        f" printer processes {run.printers_cpu_s:.2f} s CPU together"
    )
    print(
        "| printer | lines | s | lines/s | share of wire | resends | timeouts | lost | doubled"
        " | in order | complete | overruns | printer CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in run.rows:
        print(
            f"| {r.printer} | {r.lines} | {r.seconds:.2f} | {r.lines_per_s:.0f} |"
            f" {r.wire_share:.1%} | {r.resends} | {r.timeouts} | {r.lost} | {r.doubled} |"
            f" {'yes' if r.in_order else 'NO'} | {'yes' if r.complete else 'NO'} |"
            f" {r.overruns} | {r.printer_cpu_s:.2f} |",
            flush=True,
        )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "peer":
        peer = argparse.ArgumentParser()
        peer.add_argument("peer")
        peer.add_argument("--baud", type=int, default=250000)
        peer.add_argument("--corrupt", default="")
        peer.add_argument("--resend", default="")
        peer.add_argument("--speed-factor", type=float, default=1000.0)
        a = peer.parse_args()

        def numbers(text: str) -> set[int]:
            return {int(n) for n in text.split(",") if n}

        return serve_peer(a.baud, numbers(a.corrupt), numbers(a.resend), a.speed_factor)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=8)
    parser.add_argument("--baud", type=int, default=250000)
    parser.add_argument("--lines", type=int, default=12000, help="0: the whole program")
    parser.add_argument("--gcode", type=Path, default=None)
    parser.add_argument("--resends", default="0,1", help="percentages to run, e.g. 0,1")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--speed-factor", type=float, default=1000.0, help="of the printers")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the link threads")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    program = load_program(args.gcode, args.lines)
    mean_frame = wire_seconds(program, args.baud) * args.baud / 10 / len(program)
    print(
        f"program: {program.name}, {len(program)} lines, {mean_frame:.1f} framed bytes a line;"
        f" wire limit {args.baud / 10 / mean_frame:.0f} lines/s at {args.baud} baud;"
        f" {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    profiles: list[cProfile.Profile] = []
    if args.profile:
        _profiled_run(profiles)
    runs = []
    for pct in (float(p) for p in args.resends.split(",")):
        for _ in range(args.repeats):
            run = run_fleet(program, args.printers, args.baud, pct, args.speed_factor)
            print_run(run)
            runs.append(run)
    if len(runs) > 1:
        print(
            f"\nmedian host cores {statistics.median(r.host_cores for r in runs):.2f};"
            f" lowest share of wire {min(w.wire_share for r in runs for w in r.rows):.1%}"
        )
    if profiles:
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet.json").write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
