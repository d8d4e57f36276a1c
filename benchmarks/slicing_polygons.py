"""Which polygon library for perimeters and fill: pyclipper against shapely (GEOS), measured.

The work the slicer does per layer: inward offsets of a finely tessellated ring (outer loop and
hole), and merging 100 tablet outlines of a plate. Prints medians in milliseconds.

    python benchmarks/slicing_polygons.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pyclipper
import shapely

SCALE = 1e5


def _ring(points: int) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0, 2 * np.pi, points, endpoint=False)
    outer = np.column_stack([6.5 * np.cos(theta), 6.5 * np.sin(theta)])
    hole = np.column_stack([2.5 * np.cos(theta), -2.5 * np.sin(theta)])
    return outer, hole


def median_ms(function: Callable[[], object], repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    for points in (128, 2000, 10000):
        outer, hole = _ring(points)
        paths = [
            np.round(outer * SCALE).astype(np.int64).tolist(),
            np.round(hole * SCALE).astype(np.int64).tolist(),
        ]

        def clipper_offsets(paths: list = paths) -> None:
            for k in range(4):
                offset = pyclipper.PyclipperOffset(2.0, 0.002 * SCALE)
                offset.AddPaths(paths, pyclipper.JT_MITER, pyclipper.ET_CLOSEDPOLYGON)
                offset.Execute(-(k + 0.5) * 0.45 * SCALE)

        polygon = shapely.Polygon(outer, [hole])

        def shapely_offsets(polygon: shapely.Polygon = polygon) -> None:
            for k in range(4):
                shapely.buffer(polygon, -(k + 0.5) * 0.45, join_style="mitre", mitre_limit=2.0)

        print(
            f"4 inward offsets of a ring, {points} points per loop: "
            f"pyclipper {median_ms(clipper_offsets):.2f} ms, "
            f"shapely {median_ms(shapely_offsets):.2f} ms"
        )
    outer, _ = _ring(2000)
    discs = [outer / 1.3 + (14.0 * (i % 10), 14.0 * (i // 10)) for i in range(100)]
    clipper_discs = [np.round(d * SCALE).astype(np.int64).tolist() for d in discs]

    def clipper_union() -> None:
        clipper = pyclipper.Pyclipper()
        clipper.AddPaths(clipper_discs, pyclipper.PT_SUBJECT, True)
        clipper.Execute2(pyclipper.CT_UNION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO)

    polygons = shapely.polygons(discs)

    def shapely_union() -> None:
        shapely.union_all(polygons)

    def shapely_disjoint() -> None:
        tree = shapely.STRtree(polygons)
        left, right = tree.query(polygons)
        shapely.MultiPolygon(list(polygons)) if (left < right).sum() == 0 else None

    print(
        f"merge 100 disjoint 2000-point outlines: pyclipper {median_ms(clipper_union, 5):.1f} ms, "
        f"shapely union_all {median_ms(shapely_union, 5):.1f} ms, "
        f"shapely bounding-box test then no union {median_ms(shapely_disjoint, 5):.1f} ms"
    )


if __name__ == "__main__":
    main()
