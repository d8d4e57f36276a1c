"""Slicing settings: layer heights, line width, perimeters and fill; the tablet default is solid.

Validated once, so the kernels can trust them; refusals name the setting and the value.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gcode.errors import SettingsInvalid, refusal
from gcode.fill import FillPattern
from gcode.profile import MachineProfile


class SliceSettings(BaseModel):
    """How to turn a part into toolpaths; lengths in mm, density a fraction in [0, 1]."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    layer_height_mm: float = Field(gt=0.02, le=2.0)
    first_layer_height_mm: float | None = Field(default=None, gt=0.02, le=2.0)
    line_width_mm: float = Field(gt=0.05, le=4.0)
    perimeters: int = Field(default=2, ge=0, le=20)
    fill_density: float = Field(default=1.0, ge=0.0, le=1.0)
    fill_pattern: FillPattern = "rectilinear"
    fill_angle_deg: float = Field(default=45.0, ge=-180.0, le=180.0)
    solid_top_layers: int = Field(default=3, ge=0, le=100)
    solid_bottom_layers: int = Field(default=3, ge=0, le=100)
    fill_overlap: float = Field(default=0.15, ge=0.0, le=0.5)

    @property
    def first_layer_mm(self) -> float:
        return self.first_layer_height_mm or self.layer_height_mm


def settings_for(profile: MachineProfile, **overrides: Any) -> SliceSettings:
    """The profile's layer height and line width, solid fill, with any settings overridden."""
    values: dict[str, Any] = {
        "layer_height_mm": profile.layer_height_mm,
        "first_layer_height_mm": profile.first_layer_height_mm,
        "line_width_mm": profile.line_width_mm,
    }
    values.update(overrides)
    try:
        return SliceSettings.model_validate(values)
    except ValidationError as exc:
        raise refusal(SettingsInvalid, exc, "settings") from None
