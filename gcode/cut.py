"""Cut a triangle mesh by horizontal planes and chain the cuts into closed loops (Numba kernels).

All triangle/plane intersections of all layers in one pass; loops need no vertex merging because
both triangles sharing an edge compute its crossing point from the same two vertices, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

# Loop endpoints are matched on a grid this fine (mm); coordinates must stay below 2e3 mm.
KEY_GRID_MM = 1e-6
MAX_COORD_MM = 2.0e3

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Cut:
    """Closed and open chains of every layer.

    points: (p, 2) float mm, all chains' points back to back (a closed loop's last point is not
    repeated); offsets: (c + 1,) int, chain c is points[offsets[c]:offsets[c + 1]];
    layer: (c,) int, index into the planes; closed: (c,) bool.
    Closed loops run counter-clockwise around material (outer boundaries) and clockwise around
    holes, as seen from +z, when the triangles are wound outward.
    """

    points: FloatArray
    offsets: IntArray
    layer: IntArray
    closed: npt.NDArray[np.bool_]


def crossings_per_triangle(triangles: FloatArray, planes_z: FloatArray) -> IntArray:
    """How many planes each triangle crosses: planes p with min z < p <= max z.

    triangles: (n, 3, 3) float mm; planes_z: (L,) ascending float mm -> (n,) int.
    """
    z = triangles[:, :, 2]
    low = np.searchsorted(planes_z, z.min(axis=1), side="right")
    high = np.searchsorted(planes_z, z.max(axis=1), side="right")
    return (high - low).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _cut_segments(
    triangles: FloatArray, planes_z: FloatArray, offsets: IntArray
) -> tuple[IntArray, FloatArray]:
    total = offsets[-1]
    seg_layer = np.empty(total, dtype=np.int64)
    seg = np.empty((total, 4), dtype=np.float64)
    n_planes = planes_z.shape[0]
    for t in range(triangles.shape[0]):
        out = offsets[t]
        if offsets[t + 1] == out:
            continue
        zmin = min(triangles[t, 0, 2], triangles[t, 1, 2], triangles[t, 2, 2])
        first = np.searchsorted(planes_z, zmin, side="right")
        for layer in range(first, n_planes):
            if out == offsets[t + 1]:
                break
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
            seg_layer[out] = layer
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
            out += 1
    return seg_layer, seg


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
    seg_layer: IntArray, seg: FloatArray, n_layers: int
) -> tuple[FloatArray, IntArray, IntArray, npt.NDArray[np.bool_]]:
    n = seg_layer.shape[0]
    # counting sort of the segments by layer
    layer_start = np.zeros(n_layers + 1, dtype=np.int64)
    for i in range(n):
        layer_start[seg_layer[i] + 1] += 1
    for layer in range(n_layers):
        layer_start[layer + 1] += layer_start[layer]
    fill_at = layer_start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[fill_at[seg_layer[i]]] = i
        fill_at[seg_layer[i]] += 1
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
    table_key = np.empty(size, dtype=np.int64)
    table_seg = np.empty(size, dtype=np.int64)
    table_stamp = np.full(size, -1, dtype=np.int64)
    for layer in range(n_layers):
        for j in range(layer_start[layer], layer_start[layer + 1]):
            a = order[j]
            if visited[a]:
                continue
            slot = _hash(start_key[a], mask)
            while table_stamp[slot] == layer:
                slot = (slot + 1) & mask
            table_stamp[slot] = layer
            table_key[slot] = start_key[a]
            table_seg[slot] = a
        for j in range(layer_start[layer], layer_start[layer + 1]):
            a = order[j]
            if visited[a]:
                continue
            slot = _hash(end_key[a], mask)
            while table_stamp[slot] == layer:
                if table_key[slot] == end_key[a]:
                    b = table_seg[slot]
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
        for s in order:
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
            layer_of[n_chains] = seg_layer[s]
            closed[n_chains] = is_closed
            n_chains += 1
            offsets[n_chains] = n_points
    return points[:n_points], offsets[: n_chains + 1], layer_of[:n_chains], closed[:n_chains]


@numba.njit(cache=True, inline="always")
def _hash(key: np.int64, mask: int) -> int:
    return int((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask


@numba.njit(cache=True, inline="always")
def _key(x: float, y: float, inv: float) -> np.int64:
    qx = np.int64(np.round(x * inv)) + np.int64(2**31)
    qy = np.int64(np.round(y * inv)) + np.int64(2**31)
    return (qx << np.int64(32)) | qy


def cut_mesh(triangles: FloatArray, planes_z: FloatArray) -> Cut:
    """Cut every triangle by every plane and chain the segments into loops per layer.

    triangles: (n, 3, 3) float mm, wound outward; planes_z: (L,) ascending float mm.
    Segments shorter than KEY_GRID_MM (a plane through a vertex) are dropped in chaining.
    """
    triangles = np.ascontiguousarray(triangles, dtype=np.float64)
    planes_z = np.ascontiguousarray(planes_z, dtype=np.float64)
    counts = crossings_per_triangle(triangles, planes_z)
    offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    seg_layer, seg = _cut_segments(triangles, planes_z, offsets)
    points, chain_offsets, layer, closed = _chain(seg_layer, seg, planes_z.shape[0])
    return Cut(points=points, offsets=chain_offsets, layer=layer, closed=closed)
