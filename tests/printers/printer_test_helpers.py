"""Helpers of the printer tests: a tablet-shaped G-code program, a fast link setting, and waits
on progress events (or, for the simulated firmware, which has none, on a condition).

Imported as tests.printers.printer_test_helpers.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from printers.interface import StreamProgress
from printers.marlin_link import LinkSettings
from printers.program import GcodeProgram
from printers.sim_printer import SimPrinter

FAST = LinkSettings(ack_timeout_s=0.4, connect_timeout_s=1.0, temperature_interval_s=0.5)


def tablet_program(moves: int = 200, heat: bool = True) -> GcodeProgram:
    """A program shaped like a sliced tablet: heat, home, layers of extruding moves."""
    lines = ["M104 S190", "M140 S40", "G28", "M109 S190"] if heat else ["G28"]
    lines += ["G90", "M83"]
    for i in range(moves):
        if i % 50 == 0:
            lines.append(f";LAYER:{i // 50}")
            lines.append(f"G1 Z{0.2 + 0.2 * (i // 50):.2f} F600")
        lines.append(f"G1 X{10 + i % 7}.{i % 10} Y{20 + i % 5}.5 E0.0{i % 9 + 1} F3000")
    lines += ["G1 E-0.5 F1800", "M104 S0", "M140 S0", "M400"]
    return GcodeProgram.from_text("\n".join(lines), name="tablet.gcode")


class ProgressEvents:
    """A progress listener that keeps every event; a test waits for the one it needs."""

    def __init__(self) -> None:
        self.events: list[StreamProgress] = []
        self._arrived = threading.Condition()

    def __call__(self, event: StreamProgress) -> None:
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    def wait_for(
        self, wanted: Callable[[StreamProgress], bool], timeout_s: float = 30.0
    ) -> StreamProgress:
        """The first event `wanted` accepts, once it has come; AssertionError after timeout_s."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: any(map(wanted, self.events)), timeout_s):
                last = self.events[-1] if self.events else None
                raise AssertionError(f"no such progress event in {timeout_s} s (last: {last})")
            return next(event for event in self.events if wanted(event))


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """True once `condition()` holds, False if timeout_s passes first; for what no event
    reports (the simulated firmware's own threads, lines acknowledged while a job is paused)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def executed_commands(sim: SimPrinter) -> list[str]:
    """Every numbered command the simulated firmware ran, in order."""
    assert sim.firmware_side is not None
    return [command for _, command in sim.firmware_side.executed]


def executed_program_lines(sim: SimPrinter) -> list[str]:
    """The commands the simulated firmware ran, without the host's handshake (M115, M155)."""
    commands = executed_commands(sim)
    while commands and commands[0].startswith(("M115", "M155")):
        commands.pop(0)
    return commands


class VirtualPrinterPeer:
    """OctoPrint's VirtualPrinter on a pty, run by scripts/virtual_printer_pty.py.

    `with VirtualPrinterPeer(tmp_path, errors="50:resend") as peer:` gives `peer.port`; after
    the block, `peer.accepted_moves()` lists the moves it accepted, in order.
    """

    SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "virtual_printer_pty.py"

    def __init__(self, folder: Path, *, baud: int = 0, errors: str = "", ok: str = "") -> None:
        self.record = folder / "accepted_moves.txt"
        self.command = [sys.executable, str(self.SCRIPT), "--baud", str(baud)]
        self.command += ["--errors", errors, "--record", str(self.record)]
        if ok:
            self.command += ["--ok", ok]
        self.port = ""

    def __enter__(self) -> VirtualPrinterPeer:
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = self.process.stdout.readline().strip()
        assert self.port.startswith("/dev/"), f"peer did not start: {self.port!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def accepted_moves(self) -> list[str]:
        return self.record.read_text(encoding="ascii").splitlines()
