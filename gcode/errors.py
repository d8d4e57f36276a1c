"""Typed refusals of the slicer, the writer and the reader; each names the field and the value.

Their text is one line a technician can act on, e.g. `mesh.triangles: 0 is not a solid`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class GcodeError(ValueError):
    """Base of every gcode refusal: `field` names what was wrong, `value` is what was given."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        super().__init__(f"{field}: {shown} {reason}")


class ProfileInvalid(GcodeError):
    """A printer profile is missing, malformed, or outside what its process allows."""


class MeshRefused(GcodeError):
    """A mesh file or mesh that cannot be sliced safely (size, format, NaN, degenerate)."""


class MeshNotWatertight(MeshRefused):
    """A mesh with holes that trimesh cannot close safely."""


class PartTooLarge(GcodeError):
    """A part or a plate of parts does not fit the printer's build volume."""


class ToolpathsDoNotFillPart(GcodeError):
    """The toolpaths' own volume is implausibly far from the design volume (flow correction)."""


class SettingsInvalid(GcodeError):
    """Slicing settings out of range (layer height, fill density, pattern, perimeters)."""


class MaterialWindowRefused(GcodeError):
    """The lot's temperature window is outside what the printer can or may do."""


def refusal(kind: type[GcodeError], exc: ValidationError, source: str) -> GcodeError:
    """The first pydantic validation error as a typed refusal naming `source.field`."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in error["loc"])
    where = f"{source}.{field}" if field else source
    value = "(missing)" if error["type"] == "missing" else error.get("input")
    return kind(where, value, f"is invalid ({error['msg']})")
