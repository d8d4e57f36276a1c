"""Helpers of the printer tests: a tablet-shaped G-code program and a fast link setting.

Imported as tests.printers.printer_test_helpers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def executed_program_lines(sim: SimPrinter) -> list[str]:
    """The commands the simulated firmware ran, without the host's handshake (M115, M155)."""
    assert sim.firmware_side is not None
    commands = [command for _, command in sim.firmware_side.executed]
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
