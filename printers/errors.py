"""Typed refusals and failures of printer control; each carries the field and the value at fault.

Their text is one line an engineer at the printer can act on, e.g.
`port: '/dev/ttyACM0' does not exist (is the printer plugged in?)`.
"""

from __future__ import annotations

from typing import Any


class PrinterError(Exception):
    """Base of every printer refusal: `field` names what was wrong, `value` is what was given."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {value!r} {reason}")


class UnknownBackend(PrinterError):
    """No backend is registered under that name (e.g. `printer: 'usb'`)."""


class PortUnavailable(PrinterError):
    """The serial port does not exist or cannot be opened."""


class PortBusy(PrinterError):
    """Another program holds the serial port."""


class GarbledReplies(PrinterError):
    """Bytes arrive but are not Marlin text: almost always a wrong baud rate."""


class PrinterTimeout(PrinterError):
    """The printer did not answer within the time allowed (value: the seconds waited)."""


class PrinterNotConnected(PrinterError):
    """An operation needs a connected printer and there is none (or it was lost)."""


class PrinterBusy(PrinterError):
    """A job is already running on this printer."""


class ProgramRefused(PrinterError):
    """The G-code file cannot be read or holds nothing to send."""


class OctoPrintRefused(PrinterError):
    """The OctoPrint server refused a request (bad key, unknown file, printer not operational)."""
