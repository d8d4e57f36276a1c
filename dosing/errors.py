"""Typed refusals of the dosing domain; each carries the field and the value that was wrong.

Their text is one line a technician can act on, e.g. `patient.weight_kg: 400 is above 350`.
"""

from __future__ import annotations

from typing import Any


class DosingError(ValueError):
    """Base of every dosing refusal: `field` names what was wrong, `value` is what was given."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {_show(value)} {reason}")


class Marker(str):
    """A value shown as is, not quoted: `(missing)`, a type name."""


MISSING = Marker("(missing)")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and not isinstance(value, Marker):
        return repr(value)
    return str(value)


class InvalidPrescription(DosingError):
    """A prescription field is missing, malformed or out of range."""


class DoseOutOfRange(DosingError):
    """The dose is negative, zero, above the cap, or cannot be rounded within tolerance."""


class FormulationRefused(DosingError):
    """The lot is unknown, expired, without assay, or does not carry the prescribed drug."""


class ShapeCannotHoldDose(DosingError):
    """No tablet of the chosen shape within its limits holds the dose."""


class CalibrationRejected(DosingError):
    """A mass-against-volume fit too poor (R² below 0.99) or too small to trust."""


class UniformityInputError(DosingError):
    """Unit masses or contents that cannot be assessed (too few, non-positive, not finite)."""
