"""Weld a triangle soup into indexed faces and check that it closes (Numba hash tables).

Exact welding (same coordinates, bit for bit, as STL writers repeat them) and a directed-edge
count: a closed, consistently wound surface uses every edge once in each direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gcode.cut import FloatArray, IntArray
from gcode.jit import numba


@dataclass(frozen=True)
class Topology:
    """Welded faces (n, 3) int, the count of distinct vertices, and edge defects.

    open_edges: directed edges with no partner running the other way (holes);
    repeated_edges: directed edges used twice (inconsistent winding or more than two faces).
    """

    faces: IntArray
    n_vertices: int
    degenerate_faces: int
    open_edges: int
    repeated_edges: int

    @property
    def closed(self) -> bool:
        return self.open_edges == 0 and self.repeated_edges == 0


@numba.njit(cache=True, inline="always")
def _mix(h: np.uint64, v: np.uint64) -> np.uint64:
    # combine, then MurmurHash3's 64-bit finaliser: float bit patterns of float32 data have
    # 29 zero low bits, which a plain combine would leave in the table index
    h ^= v + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


_NEGATIVE_ZERO = np.uint64(1 << 63)  # the bit pattern of -0.0


@numba.njit(cache=True, inline="always")
def _coordinate(bits: npt.NDArray[np.uint64], i: int, k: int) -> np.uint64:
    """Bit pattern of a coordinate, with -0.0 read as 0.0 (they are one place)."""
    v = bits[i, k]
    return np.uint64(0) if v == _NEGATIVE_ZERO else v


@numba.njit(cache=True, nogil=True)
def _weld(bits: npt.NDArray[np.uint64]) -> tuple[IntArray, int]:
    """bits: (m, 3) uint64 coordinate bit patterns -> (m,) vertex ids, count of distinct."""
    m = bits.shape[0]
    size = 1
    while size < 2 * m:
        size <<= 1
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)
    ids = np.empty(m, dtype=np.int64)
    count = 0
    for i in range(m):
        x, y, z = _coordinate(bits, i, 0), _coordinate(bits, i, 1), _coordinate(bits, i, 2)
        slot = _mix(_mix(_mix(np.uint64(0), x), y), z) & mask
        while True:
            j = table[slot]
            if j < 0:
                table[slot] = i
                ids[i] = count
                count += 1
                break
            if (
                _coordinate(bits, j, 0) == x
                and _coordinate(bits, j, 1) == y
                and _coordinate(bits, j, 2) == z
            ):
                ids[i] = ids[j]
                break
            slot = (slot + np.uint64(1)) & mask
    return ids, count


@numba.njit(cache=True, nogil=True)
def _edge_defects(faces: IntArray, n_vertices: int) -> tuple[int, int]:
    """Open and repeated directed edges of (n, 3) int faces.

    Outgoing edges are grouped per vertex (counting sort) and each vertex's targets sorted,
    so a repeat is a neighbour in that list and a partner is a binary search: a fan's hub
    with thousands of edges costs d·log d, not d².
    """
    n = faces.shape[0]
    start = np.zeros(n_vertices + 1, dtype=np.int64)
    for f in range(n):
        for k in range(3):
            start[faces[f, k] + 1] += 1
    for v in range(n_vertices):
        start[v + 1] += start[v]
    fill_at = start[:-1].copy()
    target = np.empty(3 * n, dtype=np.int64)
    for f in range(n):
        for k in range(3):
            a = faces[f, k]
            target[fill_at[a]] = faces[f, (k + 1) % 3]
            fill_at[a] += 1
    for a in range(n_vertices):
        lo, hi = start[a], start[a + 1]
        if hi - lo > 16:
            target[lo:hi] = np.sort(target[lo:hi])
        else:
            for i in range(lo + 1, hi):  # insertion sort: most vertices have about six edges
                value = target[i]
                j = i - 1
                while j >= lo and target[j] > value:
                    target[j + 1] = target[j]
                    j -= 1
                target[j + 1] = value
    open_edges = 0
    repeated = 0
    for a in range(n_vertices):
        for i in range(start[a], start[a + 1]):
            b = target[i]
            if i + 1 < start[a + 1] and target[i + 1] == b:
                repeated += 1
            if not _holds(target, start[b], start[b + 1], a):
                open_edges += 1
    return open_edges, repeated


@numba.njit(cache=True, inline="always")
def _holds(sorted_values: IntArray, lo: int, hi: int, value: int) -> bool:
    """Whether sorted_values[lo:hi] holds value (binary search)."""
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and sorted_values[lo] == value


def topology(triangles: FloatArray) -> Topology:
    """Weld (n, 3, 3) float mm triangles exactly and count their edge defects.

    Faces that use one vertex twice are dropped (counted as degenerate).
    """
    flat = np.ascontiguousarray(triangles, dtype=np.float64).reshape(-1, 3)
    ids, count = _weld(flat.view(np.uint64))
    faces = ids.reshape(-1, 3)
    good = (
        (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    )
    if not good.all():
        faces = np.ascontiguousarray(faces[good])
    open_edges, repeated = _edge_defects(faces, int(count))
    return Topology(faces, int(count), int((~good).sum()), int(open_edges), int(repeated))


def signed_volume_mm3(triangles: FloatArray) -> float:
    """Σ v0 · (v1 × v2) / 6 over (n, 3, 3) float mm triangles: positive when wound outward."""
    x0, y0, z0 = triangles[:, 0, 0], triangles[:, 0, 1], triangles[:, 0, 2]
    x1, y1, z1 = triangles[:, 1, 0], triangles[:, 1, 1], triangles[:, 1, 2]
    x2, y2, z2 = triangles[:, 2, 0], triangles[:, 2, 1], triangles[:, 2, 2]
    det = x0 * (y1 * z2 - z1 * y2) - y0 * (x1 * z2 - z1 * x2) + z0 * (x1 * y2 - y1 * x2)
    return float(det.sum() / 6.0)
