"""Each way a USB link goes wrong before printing gives one typed error naming the port.

A pseudo-terminal stands in for the USB port: nobody behind it (a printer that never
answers), or noise behind it (what a wrong baud rate looks like to the host).
"""

from __future__ import annotations

import os
import threading
import tty

import pytest

from printers.errors import GarbledReplies, PortBusy, PortUnavailable, PrinterTimeout
from printers.marlin_link import LinkSettings
from printers.serial_printer import SerialPrinter
from printers.transport import LinkLost, SerialTransport

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite


QUICK = LinkSettings(connect_timeout_s=0.3, connect_attempts=2)


@pytest.fixture
def pty_port():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_missing_port_names_the_port():
    with pytest.raises(PortUnavailable) as caught:
        SerialPrinter("/dev/ttyACM-printmed-missing", 115200).connect()
    assert caught.value.value == "/dev/ttyACM-printmed-missing"
    assert "does not exist" in str(caught.value)


def test_port_held_by_another_program_is_busy(pty_port):
    _, path = pty_port
    holder = SerialTransport(path, 115200)
    try:
        with pytest.raises(PortBusy) as caught:
            SerialPrinter(path, 115200, settings=QUICK).connect()
    finally:
        holder.close()
    assert caught.value.value == path


def test_printer_that_never_answers_times_out_with_the_seconds_waited(pty_port):
    _, path = pty_port
    with pytest.raises(PrinterTimeout) as caught:
        SerialPrinter(path, 115200, settings=QUICK).connect()
    assert caught.value.field == "port" and caught.value.value == path
    assert "0.6 s" in str(caught.value)


def test_garbage_replies_point_at_the_baud_rate(pty_port):
    master, path = pty_port
    stop = threading.Event()

    def noise() -> None:  # what 250000-baud text looks like read at 115200
        while not stop.wait(0.05):
            os.write(master, bytes([0xF8, 0x80, 0xFE, 0x9C, 0x00, 0xE0, 0xFF]) * 4 + b"\n")

    thread = threading.Thread(target=noise, daemon=True)
    thread.start()
    try:
        with pytest.raises(GarbledReplies) as caught:
            SerialPrinter(path, 115200, settings=QUICK).connect()
    finally:
        stop.set()
        thread.join()
    assert caught.value.field == "baud" and caught.value.value == 115200
    assert "wrong baud rate" in str(caught.value)


def test_a_port_whose_other_end_closes_reads_as_a_lost_link():
    master, slave = os.openpty()
    tty.setraw(slave)
    port = SerialTransport(os.ttyname(slave), 250000)
    os.close(slave)  # only the port holds this end now, as with a USB device
    try:
        os.write(master, b"ok N1 P15 B4\nok N2 P15 B4\n")
        assert port.read(1.0) == b"ok N1 P15 B4\nok N2 P15 B4\n"  # all of it, in one read
        os.close(master)
        with pytest.raises(LinkLost):
            port.read(1.0)
    finally:
        port.close()


def test_a_port_that_takes_no_more_bytes_fails_the_write_after_its_timeout(pty_port):
    # nobody reads the other end: the pty's buffer fills and the write must not hang
    _, path = pty_port
    port = SerialTransport(path, 250000, write_timeout_s=0.2)
    try:
        with pytest.raises(LinkLost, match=r"timed out after 0\.2 s"):
            for _ in range(10_000):
                port.write(b"N1 G1 X10.000 Y20.000 E0.01234*99\n")
    finally:
        port.close()
