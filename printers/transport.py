"""Byte links to a printer: a serial port (pyserial, also a pty) and the interface they share.

A `Transport` reads with a timeout and writes whole frames; a vanished link raises LinkLost.
"""

from __future__ import annotations

import contextlib
import errno
import threading
from typing import Protocol

import serial

from printers.errors import PortBusy, PortUnavailable


class LinkLost(Exception):
    """The port vanished under us (cable pulled, device reset, pty closed)."""


class Transport(Protocol):
    """What the protocol needs of a link: name, read with timeout, write, close."""

    name: str

    def read(self, timeout_s: float) -> bytes:
        """Whatever arrived (at most a few hundred bytes); b"" if nothing within timeout_s."""
        ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """A serial port opened exclusively (USB CDC, FTDI, or a pty standing in for one)."""

    def __init__(self, port: str, baud: int) -> None:
        self.name = port
        self.baud = baud
        try:
            self._port = serial.Serial(port, baud, timeout=0.05, write_timeout=5, exclusive=True)
        except serial.SerialException as exc:
            raise _classify(port, exc) from None
        self._write_lock = threading.Lock()

    def read(self, timeout_s: float) -> bytes:
        try:
            self._port.timeout = max(timeout_s, 0.0)
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise LinkLost(str(exc)) from None

    def write(self, data: bytes) -> None:
        try:
            with self._write_lock:
                self._port.write(data)
        except (serial.SerialException, OSError, AttributeError) as exc:
            raise LinkLost(str(exc)) from None

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()


def _classify(port: str, exc: serial.SerialException) -> Exception:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.EBUSY or "exclusively lock" in text or "Resource temporarily" in text:
        return PortBusy("port", port, "is in use by another program (close it and retry)")
    if code == errno.ENOENT or "No such file" in text:
        return PortUnavailable("port", port, "does not exist (is the printer plugged in?)")
    if code == errno.EACCES:
        return PortUnavailable("port", port, "cannot be opened: permission denied")
    return PortUnavailable("port", port, f"cannot be opened ({text})")
