"""Printer control: one `Printer` interface, backends by name (serial, octoprint, sim).

`open_printer("sim")`, `open_printer("serial", port=..., baud=...)`, `open_printer("octoprint",
url=..., api_key=...)`; it streams any G-code and knows nothing of doses.
"""

import importlib
from typing import TYPE_CHECKING, Any

# Re-exported lazily (PEP 562): `printers.errors`, which every entry point's error handling
# imports, should not bring the interface, the program reader and the registry with it.
if TYPE_CHECKING:
    from printers.interface import Printer as Printer
    from printers.interface import StreamProgress as StreamProgress
    from printers.interface import StreamReport as StreamReport
    from printers.interface import StreamState as StreamState
    from printers.program import GcodeProgram as GcodeProgram
    from printers.registry import backend as backend
    from printers.registry import names as names
    from printers.registry import open_printer as open_printer

_EXPORTS = {
    "printers.interface": ("Printer", "StreamProgress", "StreamReport", "StreamState"),
    "printers.program": ("GcodeProgram",),
    "printers.registry": ("backend", "names", "open_printer"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
