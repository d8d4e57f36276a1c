"""Helpers of the printer tests: a tablet-shaped G-code program and a fast link setting.

Imported by name (pytest puts this folder on sys.path; the name is unique in the suite).
"""

from __future__ import annotations

from printers.marlin_link import LinkSettings
from printers.program import GcodeProgram
from printers.sim_printer import SimPrinter

FAST = LinkSettings(ack_timeout_s=0.4, connect_timeout_s=1.0, temperature_interval_s=0.5)


def tablet_program(moves: int = 200) -> GcodeProgram:
    """A program shaped like a sliced tablet: heat, home, layers of extruding moves."""
    lines = ["M104 S190", "M140 S40", "G28", "M109 S190", "G90", "M83"]
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
