"""The OctoPrint backend against a real OctoPrint server with its Virtual Printer enabled."""

from __future__ import annotations

import time

import pytest

from printers.errors import OctoPrintRefused
from printers.interface import StreamState
from printers.octoprint_printer import OctoPrintPrinter
from printers.program import GcodeProgram
from tests.printers.printer_test_helpers import tablet_program

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite


@pytest.fixture
def octoprint(octoprint_server):
    printer = OctoPrintPrinter(
        octoprint_server.url, octoprint_server.api_key, serial_port="VIRTUAL", poll_interval_s=0.2
    )
    printer.connect()
    yield printer
    printer.disconnect()


def _wait_for(printer: OctoPrintPrinter, wanted: str, timeout_s: float = 15.0) -> str:
    until = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < until:
        state = printer.client.state()
        if state.startswith(wanted):
            return state
        time.sleep(0.1)
    return state


def test_a_program_is_uploaded_selected_started_and_printed_to_completion(octoprint):
    events = []
    program = tablet_program(60, heat=False)
    report = octoprint.stream(program, events.append)
    assert report.complete, report.summary()
    assert report.lines_acknowledged == len(program)
    files = [f["name"] for f in octoprint.client.files()["files"]]
    assert "tablet.gcode" in files
    assert report.temperature_log


def test_a_print_can_be_paused_resumed_and_cancelled(octoprint):
    slow = "\n".join(f"G1 X{i % 2 * 4} E0.1 F600" for i in range(400))  # 0.4 s a move
    program = GcodeProgram.from_text(f"G90\n{slow}\n", name="slow.gcode")
    octoprint.start(program)
    assert _wait_for(octoprint, "Printing") == "Printing"
    octoprint.pause()
    assert _wait_for(octoprint, "Paused") == "Paused"
    octoprint.resume()
    assert _wait_for(octoprint, "Printing") == "Printing"
    octoprint.cancel()
    report = octoprint.wait(30)
    assert report is not None and report.state is StreamState.CANCELLED
    assert not report.complete


def test_a_wrong_api_key_is_refused_with_the_field_named(octoprint_server):
    with pytest.raises(OctoPrintRefused) as caught:
        OctoPrintPrinter(octoprint_server.url, "WRONG-KEY-0000").connect()
    assert caught.value.field == "api_key"
