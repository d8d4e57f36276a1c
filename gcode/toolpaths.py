"""Toolpaths of one layer: islands of material, each with perimeters (outside in) and fill.

Perimeters are inward offsets of the island, half a line width from its edge and a line width
apart; fill covers what the perimeters leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely

from gcode import fill, polygons
from gcode.cut import FloatArray
from gcode.settings import SliceSettings

PathKind = Literal["perimeter", "fill"]


@dataclass(frozen=True)
class Path:
    """One extrusion path: (k, 2) float mm points; a closed path returns to its first point."""

    kind: PathKind
    points: FloatArray
    closed: bool

    def length_mm(self) -> float:
        pts = np.vstack([self.points, self.points[:1]]) if self.closed else self.points
        return float(np.hypot(*np.diff(pts, axis=0).T).sum())


@dataclass(frozen=True)
class Layer:
    """One layer: top z and thickness in mm, sliced area in mm², paths in print order."""

    z_mm: float
    thickness_mm: float
    area_mm2: float
    solid: bool
    paths: list[Path] = field(default_factory=list)

    def extrusion_length_mm(self) -> float:
        return sum(p.length_mm() for p in self.paths)


def island_paths(
    island: shapely.Polygon, settings: SliceSettings, solid: bool, layer_index: int
) -> list[Path]:
    """Perimeters (outermost first) and fill of one island."""
    width = settings.line_width_mm
    paths: list[Path] = []
    inner_edge = island
    for k in range(settings.perimeters):
        centre = polygons.offset(island, -(k + 0.5) * width)
        if centre.is_empty:
            break
        paths.extend(Path("perimeter", ring, True) for ring in polygons.rings(centre))
        inner_edge = polygons.offset(centre, -0.5 * width)
    density = 1.0 if solid else settings.fill_density
    if density <= 0.0 or inner_edge.is_empty:
        return paths or _outline(island)
    pattern = "rectilinear" if solid and settings.fill_pattern == "grid" else settings.fill_pattern
    spacing = fill.fill_spacing_mm(width, density, pattern)
    # fill lines end inside the last perimeter's bead by the overlap fraction of a line
    inset = (0.5 - settings.fill_overlap) * width if settings.perimeters else 0.5 * width
    area = polygons.offset(inner_edge, -inset)
    if pattern == "concentric":
        paths.extend(Path("fill", ring, True) for ring in fill.concentric(area, spacing))
    else:
        loops = polygons.rings(area)
        angles = [settings.fill_angle_deg + (90.0 if layer_index % 2 else 0.0)]
        if pattern == "grid":
            angles = [settings.fill_angle_deg, settings.fill_angle_deg + 90.0]
        here = paths[-1].points[0] if paths else (0.0, 0.0)
        for angle in angles:
            lines = fill.nearest_order(fill.scanlines(loops, spacing, angle), tuple(here))
            paths.extend(Path("fill", line, False) for line in lines)
            if len(lines):
                here = lines[-1, 1]
    return paths or _outline(island)


def _outline(island: shapely.Polygon) -> list[Path]:
    """An island too thin for any offset: trace its own outline so its volume goes somewhere."""
    return [Path("perimeter", ring, True) for ring in polygons.rings(island)]
