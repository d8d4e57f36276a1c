"""Errors a user can correct, and the list of every package's such errors for the entry points.

The CLI, the API and the pages turn these into one line (or one problem document) naming the
field and the value; anything else is a defect and is allowed to surface as one.
"""

from __future__ import annotations

from typing import Any

from dosing.errors import DosingError
from gcode.errors import GcodeError
from printers.errors import PrinterError


class InputError(ValueError):
    """Input the product refuses: a file, a flag, a lookup; names the field and the value."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {value!r} {reason}")


# A refusal that names a field, a value and a reason (what a form shows beside the field).
FieldRefusal = DosingError | GcodeError | InputError


def user_errors() -> tuple[type[Exception], ...]:
    """Every exception class that means "the input was wrong", across the packages."""
    return (DosingError, GcodeError, InputError, PrinterError)
