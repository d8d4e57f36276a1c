"""The serial backend against OctoPrint's VirtualPrinter on a pty: a peer no one here wrote.

It checks line numbers and checksums and injects its own resends and missing-line errors
at the line numbers chosen here; every move must reach it exactly once, in order.
"""

from __future__ import annotations

import pytest

from printers.serial_printer import SerialPrinter
from tests.printers.printer_test_helpers import FAST, VirtualPrinterPeer, tablet_program

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite


def _moves(program):
    return [c for c in program.commands if c.startswith(("G0", "G1"))]


def test_marlin_default_peer_with_ok_n_p_b_gets_every_move_once_despite_its_faults(tmp_path):
    program = tablet_program(300, heat=False)  # its heaters warm at 10 °C/s
    errors = "40:resend,90:checksum_mismatch,150:missing_lineno,151:resend,250:checksum_mismatch"
    with VirtualPrinterPeer(tmp_path, errors=errors) as peer:
        printer = SerialPrinter(peer.port, 115200, settings=FAST)
        info = printer.connect()
        report = printer.stream(program)
        printer.disconnect()
    assert info.name == "Virtual Marlin 1.0" and info.advanced_ok and info.command_slots == 4
    assert report.complete, report.summary()
    assert report.resends >= 4
    assert peer.accepted_moves() == _moves(program)


def test_plain_ok_peer_is_driven_one_line_at_a_time_to_completion(tmp_path):
    program = tablet_program(80, heat=False)
    with VirtualPrinterPeer(tmp_path, errors="30:resend,60:checksum_mismatch", ok="ok") as peer:
        printer = SerialPrinter(peer.port, 115200, settings=FAST)
        info = printer.connect()
        report = printer.stream(program)
        printer.disconnect()
    assert not info.advanced_ok
    assert report.complete, report.summary()
    assert peer.accepted_moves() == _moves(program)
