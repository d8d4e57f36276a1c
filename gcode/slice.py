"""Slice a part into layers of toolpaths: planes, Numba cut and chaining, regions, paths.

The part sits on z = 0; each layer is cut at its mid-height, so area × thickness is the
midpoint-rule volume of that layer. Layers are cut in batches (`cut.BATCH_SEGMENTS`), so a large
mesh never holds every layer's segments at once. A part of several batches is sliced on threads
(Numba and GEOS release the GIL): the next batch is cut while the last one's layers become paths,
several layers at a time. Every layer depends only on its own loops, so the output is the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
import shapely

from gcode import polygons
from gcode.contours import LayerContours, layer_contours
from gcode.cut import BATCH_SEGMENTS, FloatArray, cut_in_batches, plane_batches
from gcode.errors import MeshRefused
from gcode.settings import SliceSettings
from gcode.toolpaths import Layer, Path, island_paths

SliceProgress = Callable[[int, int], None]
T = TypeVar("T")
# threads that turn a large part's layers into paths
LAYER_THREADS = min(4, os.cpu_count() or 1)


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
    triangles: FloatArray,
    settings: SliceSettings,
    progress: SliceProgress | None = None,
    batch_segments: int = BATCH_SEGMENTS,
) -> SlicedPart:
    """Toolpaths of every layer of a part.

    triangles: (n, 3, 3) float mm, wound outward, z from 0 to the part's height;
    batch_segments: how many cut segments one batch of layers may hold (memory, not output).
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
    n = len(tops)
    layers: list[Layer] = []
    unclosed = 0
    runs = plane_batches(triangles, planes, batch_segments)
    cuts = cut_in_batches(triangles, planes, runs)
    large = len(runs) > 1  # a tablet is one batch, sliced in a few ms: no threads
    make = partial(_layer, n=n, tops=tops, bottoms=bottoms, settings=settings)
    gap_mm = 0.5 * settings.line_width_mm
    with _layer_threads(large) as layer_pool:
        for first, cut in _prefetched(cuts) if large else cuts:
            contours = layer_contours(cut, cut.n_layers, gap_mm=gap_mm)
            made = _map(layer_pool, make, [first + k for k in range(len(contours))], contours)
            for k, (found, layer) in enumerate(zip(contours, made, strict=True)):
                layers.append(layer)
                unclosed += found.unclosed
                if progress is not None:
                    progress(first + k + 1, n)
    return SlicedPart(layers, height, unclosed)


def _layer_threads(wanted: bool) -> AbstractContextManager[Executor | None]:
    """A pool of LAYER_THREADS threads for layers, or none."""
    if not wanted:
        return nullcontext()
    return ThreadPoolExecutor(LAYER_THREADS, thread_name_prefix="slice-layer")


def _map(
    pool: Executor | None,
    make: Callable[[int, LayerContours], Layer],
    indices: list[int],
    contours: list[LayerContours],
) -> Iterator[Layer]:
    """make(i, contours) for each layer, in order; on the pool's threads when there is one."""
    if pool is None:
        return map(make, indices, contours)
    return pool.map(make, indices, contours)


def _layer(
    i: int,
    found: LayerContours,
    n: int,
    tops: FloatArray,
    bottoms: FloatArray,
    settings: SliceSettings,
) -> Layer:
    """Layer i of n from its closed loops: region, islands nearest first, their paths."""
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
    return Layer(float(tops[i]), thickness, float(region.area), solid, paths)


def _prefetched(items: Iterator[T]) -> Iterator[T]:
    """The items of `items`, each next one computed in a worker thread while this one is used."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="slice-cut") as worker:
        pending = worker.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = worker.submit(next, items, None)
            yield item


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
