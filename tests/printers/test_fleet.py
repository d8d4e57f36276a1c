"""A fleet: eight links stream at once, each to its own simulated Marlin with resends injected,
and every printer executes every line exactly once, in order (the host side of
benchmarks/fleet.py, small and without timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from printers.sim_marlin import Faults
from tests.printers.printer_test_helpers import executed_program_lines, tablet_program

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite

PRINTERS = 8
FLEET = Path(__file__).resolve().parents[2] / "benchmarks" / "fleet.py"
FIRST = 3  # N0 M110, N1 M115, N2 M155: program line i is N(i + 3)


def test_eight_printers_streamed_at_once_each_execute_every_line_once_in_order(make_sim):
    program = tablet_program(120, heat=False)
    fleet = []
    for i in range(PRINTERS):
        # each printer re-requests and corrupts other lines, so their resends interleave
        faults = Faults(
            resend={FIRST + 7 + i, FIRST + 60 + 3 * i},
            corrupt={FIRST + 30 + 2 * i, FIRST + len(program) - 1 - i},
        )
        fleet.append(make_sim(faults=faults, baud=250000, speed_factor=2000.0))
    for printer in fleet:
        printer.start(program)
    reports = [printer.wait(60) for printer in fleet]
    for printer, report in zip(fleet, reports, strict=True):
        assert report is not None and report.complete, report and report.summary()
        assert report.lines_acknowledged == len(program)
        assert report.resends == 4
        firmware = printer.firmware_side
        assert firmware is not None and firmware.wait_until_idle(10.0)
        assert executed_program_lines(printer) == list(program.commands)
        numbers = [n for n, _ in firmware.executed if n >= FIRST]
        assert numbers == list(range(FIRST, FIRST + len(program)))
        assert firmware.overruns == 0


def test_the_fleet_benchmark_over_ptys_loses_and_doubles_no_line(tmp_path):
    # the real arrangement: each simulated printer in its own process behind a pty, the
    # host opening the ptys as serial ports; its verdicts come from each simulator's record
    program = tablet_program(240, heat=False)
    gcode = tmp_path / "plate.gcode"
    gcode.write_text("\n".join(program.commands) + "\n", encoding="ascii")
    command = [sys.executable, str(FLEET), "--printers", str(PRINTERS), "--gcode", str(gcode)]
    command += ["--lines", "0", "--resends", "1", "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=100)
    (run,) = json.loads((tmp_path / "fleet.json").read_text())
    assert len(run["rows"]) == PRINTERS
    for row in run["rows"]:
        assert (row["lines"], row["lost"], row["doubled"]) == (len(program), 0, 0)
        assert row["in_order"] and row["complete"] and row["overruns"] == 0
        assert row["resends"] == 2  # N103 arrives corrupted, N203 is asked for again
