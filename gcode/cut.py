"""Cut a triangle mesh by horizontal planes and chain the cuts into closed loops (Numba kernels).

The planes are cut in batches whose segments stay within a memory budget; loops need no vertex
merging because both triangles sharing an edge compute its crossing point from the same two
vertices, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gcode.jit import numba

# Loop endpoints are matched on a grid this fine (mm); coordinates must stay below 2e3 mm.
KEY_GRID_MM = 1e-6
MAX_COORD_MM = 2.0e3

# Segments cut in one batch of planes: ~130 bytes each through cutting and chaining.
BATCH_SEGMENTS = 2_000_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Cut:
    """Closed and open chains of every layer.

    points: (p, 2) float mm, all chains' points back to back (a closed loop's last point is not
    repeated); offsets: (c + 1,) int, chain c is points[offsets[c]:offsets[c + 1]];
    layer: (c,) int, index into the planes; closed: (c,) bool; n_layers: how many planes.
    Closed loops run counter-clockwise around material (outer boundaries) and clockwise around
    holes, as seen from +z, when the triangles are wound outward.
    """

    points: FloatArray
    offsets: IntArray
    layer: IntArray
    closed: npt.NDArray[np.bool_]
    n_layers: int


def crossings_per_triangle(triangles: FloatArray, planes_z: FloatArray) -> IntArray:
    """How many planes each triangle crosses: planes p with min z < p <= max z.

    triangles: (n, 3, 3) float mm; planes_z: (L,) ascending float mm -> (n,) int.
    """
    low, high = _plane_spans(triangles, planes_z)
    return high - low


def _plane_spans(triangles: FloatArray, planes_z: FloatArray) -> tuple[IntArray, IntArray]:
    """Each triangle crosses planes low <= k < high: (n,) int each."""
    z0, z1, z2 = triangles[:, 0, 2], triangles[:, 1, 2], triangles[:, 2, 2]
    # elementwise over three columns: a reduction over a length-3 axis runs ten times slower
    low = np.searchsorted(planes_z, np.minimum(np.minimum(z0, z1), z2), side="right")
    high = np.searchsorted(planes_z, np.maximum(np.maximum(z0, z1), z2), side="right")
    return low.astype(np.int64), high.astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _cut_segments(
    triangles: FloatArray, planes_z: FloatArray, candidates: IntArray
) -> tuple[IntArray, FloatArray]:
    """Segments of the candidate triangles with every plane, grouped by plane in triangle order.

    -> layer_start (L + 1,) int (plane k's segments are seg[layer_start[k]:layer_start[k + 1]])
    and seg (s, 4) float mm (x0, y0, x1, y1), running counter-clockwise around material.
    """
    n_planes = planes_z.shape[0]
    layer_start = np.zeros(n_planes + 1, dtype=np.int64)
    for c in range(candidates.shape[0]):
        low, high = _span(triangles, candidates[c], planes_z)
        for layer in range(low, high):
            layer_start[layer + 1] += 1
    for layer in range(n_planes):
        layer_start[layer + 1] += layer_start[layer]
    fill_at = layer_start[:-1].copy()
    seg = np.empty((layer_start[-1], 4), dtype=np.float64)
    for c in range(candidates.shape[0]):
        t = candidates[c]
        low, high = _span(triangles, t, planes_z)
        for layer in range(low, high):
            p = planes_z[layer]
            above0 = triangles[t, 0, 2] >= p
            above1 = triangles[t, 1, 2] >= p
            above2 = triangles[t, 2, 2] >= p
            # the vertex alone on its side of the plane
            if above0 != above1 and above0 != above2:
                k = 0
            elif above1 != above0 and above1 != above2:
                k = 1
            else:
                k = 2
            alone_above = triangles[t, k, 2] >= p
            nxt = (k + 1) % 3
            prv = (k + 2) % 3
            # crossing on edge (k, nxt) and on edge (prv, k), computed below-vertex first
            xa, ya = _cross(triangles, t, k, nxt, p)
            xb, yb = _cross(triangles, t, prv, k, p)
            out = fill_at[layer]
            fill_at[layer] += 1
            if alone_above:
                seg[out, 0] = xa
                seg[out, 1] = ya
                seg[out, 2] = xb
                seg[out, 3] = yb
            else:
                seg[out, 0] = xb
                seg[out, 1] = yb
                seg[out, 2] = xa
                seg[out, 3] = ya
    return layer_start, seg


@numba.njit(cache=True, inline="always")
def _span(triangles: FloatArray, t: int, planes_z: FloatArray) -> tuple[int, int]:
    """Triangle t crosses planes low <= k < high (min z < plane <= max z)."""
    zmin = min(triangles[t, 0, 2], triangles[t, 1, 2], triangles[t, 2, 2])
    zmax = max(triangles[t, 0, 2], triangles[t, 1, 2], triangles[t, 2, 2])
    low = np.searchsorted(planes_z, zmin, side="right")
    high = np.searchsorted(planes_z, zmax, side="right")
    return low, high


@numba.njit(cache=True, inline="always")
def _cross(triangles: FloatArray, t: int, i: int, j: int, p: float) -> tuple[float, float]:
    if triangles[t, i, 2] < p:
        lo, hi = i, j
    else:
        lo, hi = j, i
    z_lo = triangles[t, lo, 2]
    f = (p - z_lo) / (triangles[t, hi, 2] - z_lo)
    x = triangles[t, lo, 0] + f * (triangles[t, hi, 0] - triangles[t, lo, 0])
    y = triangles[t, lo, 1] + f * (triangles[t, hi, 1] - triangles[t, lo, 1])
    return x, y


@numba.njit(cache=True, nogil=True)
def _chain(
    layer_start: IntArray, seg: FloatArray
) -> tuple[FloatArray, IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Chain each plane's segments end to start: open chains of every plane, then closed loops.

    A segment's successor is the first segment of its plane, in triangle order, starting where
    it ends (on the KEY_GRID_MM grid).
    """
    n = seg.shape[0]
    n_layers = layer_start.shape[0] - 1
    inv = 1.0 / KEY_GRID_MM
    start_key = np.empty(n, dtype=np.int64)
    end_key = np.empty(n, dtype=np.int64)
    for i in range(n):
        start_key[i] = _key(seg[i, 0], seg[i, 1], inv)
        end_key[i] = _key(seg[i, 2], seg[i, 3], inv)
    nxt = np.full(n, -1, dtype=np.int64)
    has_prev = np.zeros(n, dtype=np.bool_)
    # a segment shorter than the key grid (a plane through a vertex) joins nothing: drop it
    visited = start_key == end_key
    # open-addressing hash of start keys, one layer at a time; stamps spare clearing the table
    largest = 1
    for layer in range(n_layers):
        largest = max(largest, layer_start[layer + 1] - layer_start[layer])
    bits = 1
    while (1 << bits) < 2 * largest:
        bits += 1
    size = 1 << bits
    mask = size - 1
    # one row per slot (stamp, key, segment): a probe touches one cache line, not three
    table = np.empty((size, 3), dtype=np.int64)
    table[:, 0] = -1
    for layer in range(n_layers):
        for a in range(layer_start[layer], layer_start[layer + 1]):
            if visited[a]:
                continue
            slot = _hash(start_key[a], mask)
            while table[slot, 0] == layer:
                slot = (slot + 1) & mask
            table[slot, 0] = layer
            table[slot, 1] = start_key[a]
            table[slot, 2] = a
        for a in range(layer_start[layer], layer_start[layer + 1]):
            if visited[a]:
                continue
            slot = _hash(end_key[a], mask)
            while table[slot, 0] == layer:
                if table[slot, 1] == end_key[a]:
                    b = table[slot, 2]
                    nxt[a] = b
                    has_prev[b] = True
                    break
                slot = (slot + 1) & mask
    points = np.empty((2 * n, 2), dtype=np.float64)
    offsets = np.empty(n + 1, dtype=np.int64)
    layer_of = np.empty(n, dtype=np.int64)
    closed = np.empty(n, dtype=np.bool_)
    n_points = 0
    n_chains = 0
    offsets[0] = 0
    # open chains first (they start at a segment nothing leads to), then the closed loops
    for phase in range(2):
        for layer in range(n_layers):
            for s in range(layer_start[layer], layer_start[layer + 1]):
                if visited[s] or (phase == 0 and has_prev[s]):
                    continue
                cur = s
                is_closed = False
                while True:
                    visited[cur] = True
                    points[n_points, 0] = seg[cur, 0]
                    points[n_points, 1] = seg[cur, 1]
                    n_points += 1
                    following = nxt[cur]
                    if following == s:
                        is_closed = True
                        break
                    if following < 0 or visited[following]:
                        break
                    cur = following
                if not is_closed:
                    points[n_points, 0] = seg[cur, 2]
                    points[n_points, 1] = seg[cur, 3]
                    n_points += 1
                layer_of[n_chains] = layer
                closed[n_chains] = is_closed
                n_chains += 1
                offsets[n_chains] = n_points
    return (
        points[:n_points].copy(),
        offsets[: n_chains + 1].copy(),
        layer_of[:n_chains].copy(),
        closed[:n_chains].copy(),
    )


@numba.njit(cache=True, inline="always")
def _hash(key: np.int64, mask: int) -> int:
    return int((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask


@numba.njit(cache=True, inline="always")
def _key(x: float, y: float, inv: float) -> np.int64:
    qx = np.int64(np.round(x * inv)) + np.int64(2**31)
    qy = np.int64(np.round(y * inv)) + np.int64(2**31)
    return (qx << np.int64(32)) | qy


def cut_mesh(
    triangles: FloatArray, planes_z: FloatArray, candidates: IntArray | None = None
) -> Cut:
    """Cut triangles by every plane and chain the segments into loops per layer.

    triangles: (n, 3, 3) float mm, wound outward; planes_z: (L,) ascending float mm;
    candidates: (m,) int, the triangles to cut (default all; others must cross no plane).
    Segments shorter than KEY_GRID_MM (a plane through a vertex) are dropped in chaining.
    """
    triangles = np.ascontiguousarray(triangles, dtype=np.float64)
    planes_z = np.ascontiguousarray(planes_z, dtype=np.float64)
    if candidates is None:
        candidates = np.arange(triangles.shape[0], dtype=np.int64)
    layer_start, seg = _cut_segments(triangles, planes_z, candidates)
    points, chain_offsets, layer, closed = _chain(layer_start, seg)
    return Cut(points, chain_offsets, layer, closed, planes_z.shape[0])


def plane_batches(
    triangles: FloatArray, planes_z: FloatArray, max_segments: int = BATCH_SEGMENTS
) -> list[tuple[int, int]]:
    """Runs [first, end) of the planes whose cuts hold at most about `max_segments` segments.

    A run holds at least one plane, however many segments that plane has.
    triangles: (n, 3, 3) float mm; planes_z: (L,) ascending float mm.
    """
    low, high = _plane_spans(triangles, planes_z)
    n_planes = planes_z.shape[0]
    # segments per plane: triangles whose span starts at or before it, less those ended
    per_plane = np.cumsum(
        np.bincount(low, minlength=n_planes + 1) - np.bincount(high, minlength=n_planes + 1)
    )[:n_planes].tolist()
    runs = []
    first = 0
    while first < n_planes:
        end, total = first + 1, per_plane[first]
        while end < n_planes and total + per_plane[end] <= max_segments:
            total += per_plane[end]
            end += 1
        runs.append((first, end))
        first = end
    return runs


def cut_in_batches(
    triangles: FloatArray, planes_z: FloatArray, runs: list[tuple[int, int]]
) -> Iterator[tuple[int, Cut]]:
    """`cut_mesh` over each run [first, end) of the planes (see `plane_batches`).

    Yields (first, the run's Cut with layers counted from `first`); only the triangles that
    cross a run's planes are cut for it. triangles: (n, 3, 3) float mm; planes_z: (L,).
    """
    triangles = np.ascontiguousarray(triangles, dtype=np.float64)
    planes_z = np.ascontiguousarray(planes_z, dtype=np.float64)
    if len(runs) == 1:
        yield runs[0][0], cut_mesh(triangles, planes_z[runs[0][0] : runs[0][1]])
        return
    low, high = _plane_spans(triangles, planes_z)
    for first, end in runs:
        candidates = np.flatnonzero((low < end) & (high > first))
        yield first, cut_mesh(triangles, planes_z[first:end], candidates)
