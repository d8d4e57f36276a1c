"""Slice a part into layers of toolpaths: planes, Numba cut and chaining, regions, paths.

The part sits on z = 0; each layer is cut at its mid-height, so area × thickness is the
midpoint-rule volume of that layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from gcode import polygons
from gcode.contours import layer_contours
from gcode.cut import FloatArray, cut_mesh
from gcode.errors import MeshRefused
from gcode.settings import SliceSettings
from gcode.toolpaths import Layer, Path, island_paths

SliceProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class SlicedPart:
    """A part's layers bottom to top; height in mm; `unclosed` counts chains left open."""

    layers: list[Layer]
    height_mm: float
    unclosed: int

    def sliced_volume_mm3(self) -> float:
        """Σ area × thickness over the layers, mm³ (what a solid print of the slices holds)."""
        return sum(layer.area_mm2 * layer.thickness_mm for layer in self.layers)


def layer_tops_mm(height_mm: float, settings: SliceSettings) -> FloatArray:
    """Top z of each layer, mm: the first layer, then layer heights; the last ends at the top.

    A remainder thinner than a fifth of a layer is merged into the layer below it.
    """
    h = settings.layer_height_mm
    tops = [min(settings.first_layer_mm, height_mm)]
    while tops[-1] < height_mm - 1e-9:
        tops.append(min(tops[-1] + h, height_mm))
    if len(tops) > 1 and tops[-1] - tops[-2] < 0.2 * h - 1e-9:
        tops.pop(-2)
    tops[-1] = height_mm
    return np.array(tops)


def slice_part(
    triangles: FloatArray, settings: SliceSettings, progress: SliceProgress | None = None
) -> SlicedPart:
    """Toolpaths of every layer of a part.

    triangles: (n, 3, 3) float mm, wound outward, z from 0 to the part's height.
    """
    z = triangles[:, :, 2]
    z_min, height = float(z.min()), float(z.max())
    if abs(z_min) > 1e-6:
        raise MeshRefused("mesh.z_min_mm", z_min, "must be 0 (the part must sit on the bed)")
    if height < settings.first_layer_mm * 0.5:
        raise MeshRefused("mesh.height_mm", height, "is thinner than half a first layer")
    tops = layer_tops_mm(height, settings)
    bottoms = np.concatenate([[0.0], tops[:-1]])
    planes = 0.5 * (tops + bottoms)
    cut = cut_mesh(triangles, planes)
    contours = layer_contours(cut, planes.shape[0], gap_mm=0.5 * settings.line_width_mm)
    n = len(tops)
    layers: list[Layer] = []
    for i, found in enumerate(contours):
        region = polygons.region(found.loops)
        solid = (
            settings.fill_density >= 1.0
            or i < settings.solid_bottom_layers
            or i >= n - settings.solid_top_layers
        )
        paths: list[Path] = []
        for island in _nearest_first(polygons.islands(region)):
            paths.extend(island_paths(island, settings, solid, i))
        thickness = float(tops[i] - bottoms[i])
        layers.append(Layer(float(tops[i]), thickness, float(region.area), solid, paths))
        if progress is not None:
            progress(i + 1, n)
    return SlicedPart(layers, height, sum(c.unclosed for c in contours))


def _nearest_first(found: list[shapely.Polygon]) -> list[shapely.Polygon]:
    """Islands in greedy nearest-neighbour order of their first outer point, from the first."""
    if len(found) <= 2:
        return found
    starts = np.array([island.exterior.coords[0][:2] for island in found], dtype=np.float64)
    remaining = list(range(len(found)))
    order = [remaining.pop(0)]
    while remaining:
        here = starts[order[-1]]
        distance = np.hypot(*(starts[remaining] - here).T)
        order.append(remaining.pop(int(np.argmin(distance))))
    return [found[i] for i in order]
