"""Byte links to a printer: a serial port (pyserial, also a pty) and the interface they share.

A `Transport` reads with a timeout and writes whole frames; a vanished link raises LinkLost.
On POSIX the port's descriptor is read and written directly (one `select` and one `read` a
wake-up): pyserial's `read` reconfigures the port whenever its timeout is set and its `write`
waits on `select` after every frame, which a fleet of links pays thousands of times a second.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
from typing import Protocol

import serial

from printers.errors import PortBusy, PortUnavailable

READ_CHUNK_BYTES = 4096  # everything a printer can have said since the last wake-up
WRITE_TIMEOUT_S = 5.0  # a port that takes no byte this long is gone


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

    def __init__(self, port: str, baud: int, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self.name = port
        self.baud = baud
        try:
            self._port = serial.Serial(
                port, baud, timeout=0.05, write_timeout=write_timeout_s, exclusive=True
            )
        except serial.SerialException as exc:
            raise _classify(port, exc) from None
        self._write_lock = threading.Lock()
        self._write_timeout_s = write_timeout_s
        # pyserial's POSIX port has `fd`; elsewhere (Windows) its own read and write are used
        self._direct = isinstance(getattr(self._port, "fd", None), int)

    def read(self, timeout_s: float) -> bytes:
        if not self._direct:
            return self._read_portable(timeout_s)
        try:
            fd = self._port.fd
            ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
            if not ready:
                return b""
            data = os.read(fd, READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return b""
        except (OSError, TypeError, ValueError) as exc:  # closed (fd None) or device gone
            raise LinkLost(str(exc)) from None
        if not data:  # readable but empty: the device went away (USB unplugged, pty closed)
            raise LinkLost("device reports readiness to read but returned no data")
        return data

    def _read_portable(self, timeout_s: float) -> bytes:
        try:
            timeout_s = max(timeout_s, 0.0)
            if self._port.timeout != timeout_s:  # setting it reconfigures the port
                self._port.timeout = timeout_s
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise LinkLost(str(exc)) from None

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if not self._direct:
                try:
                    self._port.write(data)
                except (serial.SerialException, OSError, AttributeError) as exc:
                    raise LinkLost(str(exc)) from None
                return
            self._write_direct(memoryview(data))

    def _write_direct(self, rest: memoryview) -> None:
        deadline: float | None = None
        while rest:
            try:
                rest = rest[os.write(self._port.fd, rest) :]
            except BlockingIOError:
                # the port's output buffer is full: wait for room, but not for ever
                deadline = deadline or time.monotonic() + self._write_timeout_s
                left_s = deadline - time.monotonic()
                if left_s <= 0 or not select.select([], [self._port.fd], [], left_s)[1]:
                    timeout_s = self._write_timeout_s
                    raise LinkLost(f"write timed out after {timeout_s:g} s") from None
            except InterruptedError:
                continue
            except (OSError, TypeError, ValueError) as exc:
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
