"""Fill patterns inside a layer's region: rectilinear, grid and concentric, 0–100 % density.

Scanlines are cut against the region's edges by a Numba kernel (a loop that does not vectorise:
each edge spans a different run of scanlines); lines are aligned to a global grid across layers.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from shapely.geometry.base import BaseGeometry

from gcode import polygons
from gcode.cut import FloatArray
from gcode.jit import numba

FillPattern = Literal["rectilinear", "grid", "concentric"]
FILL_PATTERNS: tuple[FillPattern, ...] = ("rectilinear", "grid", "concentric")
NEAREST_ORDER_LIMIT = 1500


@numba.njit(cache=True, nogil=True)
def _scan(edges: FloatArray, first_y: float, spacing: float, n_lines: int) -> FloatArray:
    """Even-odd crossings of horizontal scanlines y_k = first_y + k * spacing with edges.

    edges: (m, 4) float (x0, y0, x1, y1) of closed loops -> (s, 3) float (x_start, x_end, y),
    sorted by line, then by x; a crossing counts on the half-open rule min(y) <= y < max(y).
    """
    m = edges.shape[0]
    counts = np.zeros(m, dtype=np.int64)
    lo = np.empty(m, dtype=np.int64)
    for e in range(m):
        y_min = min(edges[e, 1], edges[e, 3])
        y_max = max(edges[e, 1], edges[e, 3])
        k0 = max(0, math.ceil((y_min - first_y) / spacing))
        k1 = min(n_lines, math.ceil((y_max - first_y) / spacing))
        lo[e] = k0
        counts[e] = max(0, k1 - k0)
    total = counts.sum()
    line = np.empty(total, dtype=np.int64)
    xs = np.empty(total, dtype=np.float64)
    out = 0
    for e in range(m):
        x0, y0, x1, y1 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        for j in range(counts[e]):
            k = lo[e] + j
            y = first_y + k * spacing
            if y < min(y0, y1) or y >= max(y0, y1):
                continue
            line[out] = k
            xs[out] = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            out += 1
    line = line[:out]
    xs = xs[:out]
    order = np.argsort(xs, kind="mergesort")
    order = order[np.argsort(line[order], kind="mergesort")]
    spans = np.empty((out // 2, 3), dtype=np.float64)
    n = 0
    i = 0
    while i + 1 < out:
        a, b = order[i], order[i + 1]
        if line[a] != line[b]:
            i += 1
            continue
        if xs[b] > xs[a]:
            spans[n, 0] = xs[a]
            spans[n, 1] = xs[b]
            spans[n, 2] = first_y + line[a] * spacing
            n += 1
        i += 2
    return spans[:n]


def scanlines(loops: list[FloatArray], spacing_mm: float, angle_deg: float) -> FloatArray:
    """Parallel lines at `angle_deg`, `spacing_mm` apart, clipped to the region of `loops`.

    loops: closed (k, 2) float mm -> (s, 2, 2) float mm segments, in boustrophedon order.
    """
    if not loops:
        return np.empty((0, 2, 2))
    theta = math.radians(angle_deg)
    c, s = math.cos(theta), math.sin(theta)
    to_frame = np.array([[c, -s], [s, c]])  # rotates by -theta (row vectors @ matrix)
    edges = []
    for loop in loops:
        rotated = loop @ to_frame
        edges.append(np.hstack([rotated, np.roll(rotated, -1, axis=0)]))
    all_edges = np.ascontiguousarray(np.vstack(edges))
    y_min = min(all_edges[:, 1].min(), all_edges[:, 3].min())
    y_max = max(all_edges[:, 1].max(), all_edges[:, 3].max())
    first_k = math.floor(y_min / spacing_mm)
    first_y = (first_k + 0.5) * spacing_mm
    n_lines = max(0, math.ceil((y_max - first_y) / spacing_mm) + 1)
    spans = _scan(all_edges, first_y, spacing_mm, n_lines)
    if spans.shape[0] == 0:
        return np.empty((0, 2, 2))
    starts = np.column_stack([spans[:, 0], spans[:, 2]])
    ends = np.column_stack([spans[:, 1], spans[:, 2]])
    # every other scanline runs backwards so consecutive lines start where the last one ended
    line_index = np.round((spans[:, 2] - first_y) / spacing_mm).astype(np.int64)
    flip = (line_index % 2) == 1
    starts[flip], ends[flip] = ends[flip].copy(), starts[flip].copy()
    segments = np.stack([starts, ends], axis=1) @ to_frame.T
    return np.ascontiguousarray(segments)


def concentric(area: BaseGeometry, spacing_mm: float) -> list[FloatArray]:
    """Inward rings `spacing_mm` apart until the region is used up; (k, 2) float mm loops."""
    rings: list[FloatArray] = []
    current = area
    while not current.is_empty:
        rings.extend(polygons.rings(current))
        current = polygons.offset(current, -spacing_mm)
    return rings


def fill_spacing_mm(line_width_mm: float, density: float, pattern: FillPattern) -> float:
    """Line spacing for a fill density in (0, 1]; a grid lays two directions so spaces twice."""
    spacing = line_width_mm / density
    return spacing * 2.0 if pattern == "grid" and density < 1.0 else spacing


def nearest_order(lines: FloatArray, start_xy: tuple[float, float] = (0.0, 0.0)) -> FloatArray:
    """(s, 2, 2) float mm segments reordered and flipped greedily: next is the nearest end.

    Keeps travel short where scanlines are split by holes (a ring's fill would otherwise
    cross the hole for every line). Above NEAREST_ORDER_LIMIT segments the scan order is kept.
    """
    n = lines.shape[0]
    if n <= 2 or n > NEAREST_ORDER_LIMIT:
        return lines
    lines = np.ascontiguousarray(lines, dtype=np.float64)
    return _nearest_order(lines, float(start_xy[0]), float(start_xy[1]))


@numba.njit(cache=True, nogil=True)
def _nearest_order(lines: FloatArray, x: float, y: float) -> FloatArray:
    """Greedy walk over (s, 2, 2) segments from (x, y): each step takes the remaining segment
    with the nearest start or end (the first such, a start before an end on a tie), ending
    where that segment ends. A loop: each step depends on the last."""
    n = lines.shape[0]
    remaining = np.ones(n, dtype=np.bool_)
    ordered = np.empty_like(lines)
    for k in range(n):
        best_start, i_start = np.inf, -1
        best_end, i_end = np.inf, -1
        for i in range(n):
            if not remaining[i]:
                continue
            d = np.hypot(lines[i, 0, 0] - x, lines[i, 0, 1] - y)
            if d < best_start or i_start < 0:
                best_start, i_start = d, i
            d = np.hypot(lines[i, 1, 0] - x, lines[i, 1, 1] - y)
            if d < best_end or i_end < 0:
                best_end, i_end = d, i
        if best_start <= best_end:
            ordered[k] = lines[i_start]
            remaining[i_start] = False
        else:
            ordered[k, 0] = lines[i_end, 1]
            ordered[k, 1] = lines[i_end, 0]
            remaining[i_end] = False
        x, y = ordered[k, 1, 0], ordered[k, 1, 1]
    return ordered
