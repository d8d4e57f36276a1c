"""Hypothesis: under any schedule of dropped oks, corrupted, lost and re-requested lines,
every program line reaches the firmware exactly once, in order, and the job completes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from printers.marlin_link import LinkSettings
from printers.program import GcodeProgram
from printers.sim_marlin import Faults
from printers.sim_printer import SimPrinter
from tests.printers.printer_test_helpers import wait_until

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite


LINES = 40
FIRST = 3  # N0 M110, N1 M115, N2 M155: program line i is N(i + 3)
PROGRAM = GcodeProgram.from_text(
    "\n".join(f"G1 X{i}.{i % 10} Y{i % 7} E0.{i + 1:03d} F9000" for i in range(LINES))
)
QUICK = LinkSettings(ack_timeout_s=0.15, connect_timeout_s=1.0)
line_numbers = st.sets(st.integers(FIRST, FIRST + LINES - 1), max_size=4)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    drop_ok=line_numbers,
    corrupt=line_numbers,
    drop_line=line_numbers,
    resend=line_numbers,
    advanced_ok=st.booleans(),
)
def test_every_line_arrives_exactly_once_in_order_under_random_faults(
    drop_ok, corrupt, drop_line, resend, advanced_ok
):
    faults = Faults(drop_ok=drop_ok, corrupt=corrupt, drop_line=drop_line, resend=resend)
    printer = SimPrinter(
        speed_factor=2000.0, baud=None, faults=faults, advanced_ok=advanced_ok, settings=QUICK
    )
    printer.connect()
    firmware = printer.firmware_side
    assert firmware is not None
    try:
        report = printer.stream(PROGRAM)
        # an ok means "accepted into the command queue": let the queue run out before looking
        wait_until(lambda: len(firmware.executed) >= LINES + FIRST - 1)
    finally:
        printer.disconnect()
    ran = [command for number, command in firmware.executed if number >= FIRST]
    assert ran == list(PROGRAM.commands)
    assert report.complete, report.summary()
    assert report.lines_acknowledged == LINES
