"""Dose-exact flow: how much material each layer's paths deposit, so a tablet holds its volume.

Per layer the flow (mm³ per mm of path) deposits the sliced area × thickness; then one factor
per tablet scales the total to the design volume, refused when implausible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gcode.cut import FloatArray
from gcode.errors import ToolpathsDoNotFillPart
from gcode.slice import SlicedPart

CORRECTION_LIMITS = (0.9, 1.1)
LINE_FLOW_LIMITS = (0.5, 2.0)  # layer flow against a nominal line width × thickness bead


@dataclass(frozen=True)
class PartFlow:
    """Per layer mm³ per mm of path (L,), the tablet's correction factor and its volumes."""

    mm3_per_mm: FloatArray
    correction: float
    sliced_volume_mm3: float
    target_volume_mm3: float


def plan_flow(
    part: SlicedPart, line_width_mm: float, target_volume_mm3: float | None, name: str = "part"
) -> PartFlow:
    """The flow of each layer of `part`; with a target, the total deposited equals it.

    Solid layers deposit area × thickness; sparse layers deposit a nominal bead
    (line width × thickness per mm). Refuses a correction outside CORRECTION_LIMITS and a
    layer whose paths would need a bead outside LINE_FLOW_LIMITS of the nominal one.
    """
    lengths = np.array([layer.extrusion_length_mm() for layer in part.layers])
    thickness = np.array([layer.thickness_mm for layer in part.layers])
    nominal = line_width_mm * thickness
    solid_volume = np.array([layer.area_mm2 for layer in part.layers]) * thickness
    is_solid = np.array([layer.solid for layer in part.layers], dtype=bool)
    volume = np.where(is_solid, solid_volume, lengths * nominal)
    empty = (lengths <= 0) & (volume > 0)
    if empty.any():
        layer = int(np.argmax(empty))
        raise ToolpathsDoNotFillPart(
            f"{name}.layer[{layer}].paths", 0, "no toolpaths in a layer that holds material"
        )
    sliced = float(volume.sum())
    target = sliced if target_volume_mm3 is None else float(target_volume_mm3)
    if sliced <= 0:
        raise ToolpathsDoNotFillPart(f"{name}.sliced_volume_mm3", sliced, "is not positive")
    correction = target / sliced
    if not CORRECTION_LIMITS[0] <= correction <= CORRECTION_LIMITS[1]:
        raise ToolpathsDoNotFillPart(
            f"{name}.flow_correction",
            round(correction, 4),
            f"is outside {CORRECTION_LIMITS}: the slices hold {sliced:.2f} mm3 for a "
            f"design volume of {target:.2f} mm3",
        )
    per_mm = np.divide(volume * correction, lengths, out=np.zeros_like(volume), where=lengths > 0)
    ratio = np.divide(per_mm, nominal, out=np.ones_like(per_mm), where=lengths > 0)
    bad = (ratio < LINE_FLOW_LIMITS[0]) | (ratio > LINE_FLOW_LIMITS[1])
    if bad.any():
        layer = int(np.argmax(bad))
        raise ToolpathsDoNotFillPart(
            f"{name}.layer[{layer}].flow",
            round(float(ratio[layer]), 3),
            f"times a nominal bead is outside {LINE_FLOW_LIMITS}: the paths do not fill the layer",
        )
    return PartFlow(per_mm, correction, sliced, target)
