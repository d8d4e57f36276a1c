"""What the pages treat as "the input was refused": every package's user-correctable errors.

Such a refusal is shown on the page next to what caused it; anything else is a defect.
"""

from __future__ import annotations

from gcode.errors import GcodeError
from printers.errors import PrinterError
from printmed.auth.rules import NotPermitted
from printmed.errors import user_errors


def refusals() -> tuple[type[Exception], ...]:
    return (*user_errors(), GcodeError, PrinterError)


def sentence(exc: Exception) -> str:
    """A refusal as a sentence a technician can act on (a refused role in the pharmacy's words,
    NotPermitted.sentence, rather than the text the API and the CLI give)."""
    if isinstance(exc, NotPermitted):
        return exc.sentence
    text = str(exc)
    return text[:1].upper() + text[1:] if text else type(exc).__name__
