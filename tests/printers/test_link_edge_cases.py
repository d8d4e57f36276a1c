"""Edge cases of the serial link: temperature polling without autoreport, and a printer that
asks again for a line it had already acknowledged (which no real peer here can be made to do).
"""

from __future__ import annotations

import contextlib
import re
import threading

import pytest

from printers.interface import StreamState
from printers.memory_link import MemoryCable
from printers.program import GcodeProgram
from printers.serial_printer import SerialPrinter
from printers.transport import LinkLost
from tests.printers.printer_test_helpers import FAST, tablet_program

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite


def test_without_autoreport_the_host_polls_m105_and_logs_temperatures(make_sim):
    sim = make_sim(autoreport_temp=False, speed_factor=20.0)
    report = sim.stream(tablet_program(150))
    assert report.complete
    assert not sim.link.firmware.has("AUTOREPORT_TEMP")
    assert len(report.temperature_log) >= 2
    assert report.temperature_log[-1][1].nozzle_c is not None


def test_a_request_for_an_acknowledged_line_interrupts_the_job_naming_it():
    # A scripted firmware: Marlin never asks for a line it acknowledged, so this fault needs
    # a stand-in; it answers M110/M115 like Marlin and, after N5, asks for N2 again.
    cable = MemoryCable()
    stop = threading.Event()

    def answer(line: bytes) -> None:
        numbered = re.match(rb"N(\d+)", line)
        if not numbered:
            return
        number = int(numbered.group(1))
        if b"M115" in line:
            cable.device.write(b"FIRMWARE_NAME:Scripted PROTOCOL_VERSION:1.0\n")
        cable.device.write(f"ok N{number} P15 B4\n".encode())
        if number == 5:
            cable.device.write(b"Error:Line Number is not Last Line Number+1\nResend: 2\n")

    def firmware() -> None:
        pending = b""
        with contextlib.suppress(LinkLost):
            while not stop.is_set():
                pending += cable.device.read(0.05)
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    answer(line)

    thread = threading.Thread(target=firmware, daemon=True)
    thread.start()
    printer = SerialPrinter("scripted", settings=FAST, transport=cable.host)
    printer.connect()
    program = GcodeProgram.from_text("\n".join(f"G1 X{i} E0.1 F600" for i in range(40)))
    report = printer.stream(program)
    stop.set()
    printer.disconnect()
    assert report.state is StreamState.INTERRUPTED
    assert "asked again for line N2" in report.reason
    assert not report.complete
