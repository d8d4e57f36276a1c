"""Printer control: one `Printer` interface, backends by name (serial, octoprint, sim).

`open_printer("sim")`, `open_printer("serial", port=..., baud=...)`, `open_printer("octoprint",
url=..., api_key=...)`; it streams any G-code and knows nothing of doses.
"""

from printers.interface import Printer, StreamProgress, StreamReport, StreamState
from printers.program import GcodeProgram
from printers.registry import backend, names, open_printer

__all__ = [
    "GcodeProgram",
    "Printer",
    "StreamProgress",
    "StreamReport",
    "StreamState",
    "backend",
    "names",
    "open_printer",
]
