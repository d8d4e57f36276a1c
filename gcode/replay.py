"""Replay scanned G-code as Marlin moves: positions, E, labels and each object's sums, in one pass.

Follows Marlin as the reader always has (G90/G91 set all axes, E too; M82/M83 set E alone; G92
resets), with Python's own float arithmetic (math.dist, max, min) so the sums are bit for bit
those of the pure-Python reader it replaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gcode.jit import numba
from gcode.scan import COMMAND, COMMAND_SPAN, LETTERS

X, Y, Z, E, F, S, T, R = (1 << LETTERS.index(c) for c in "XYZEFSTR")
G, M = 0, COMMAND_SPAN
G0, G1, G28, G90, G91, G92 = G + 0, G + 1, G + 28, G + 90, G + 91, G + 92
M82, M83, M104, M109, M140, M190, M486 = (M + n for n in (82, 83, 104, 109, 140, 190, 486))

# what the reader does with a command code (uint8 table over every code)
UNKNOWN, HANDLED, UNSUPPORTED, IGNORED = 0, 1, 2, 3
NO_LABEL = -2  # label_slot of a line that sets no label
OUTSIDE = -1  # label_slot of `M486 S-1`: outside any object


@numba.njit(cache=True, inline="always")
def _max(a: float, b: float) -> float:
    return b if b > a else a  # Python's max(a, b): the first unless the second is greater


@numba.njit(cache=True, inline="always")
def _min(a: float, b: float) -> float:
    return b if b < a else a


@numba.njit(cache=True)
def python_dist(x0: float, y0: float, z0: float, x1: float, y1: float, z1: float) -> float:
    """math.dist((x0, y0, z0), (x1, y1, z1)) as CPython 3.11 computes it (vector_norm:
    compensated sums and one correction step), so print times add up to the same bits."""
    d = np.array([abs(x0 - x1), abs(y0 - y1), abs(z0 - z1)])
    largest = 0.0
    found_nan = False
    for i in range(3):
        found_nan |= math.isnan(d[i])
        if d[i] > largest:
            largest = d[i]
    if math.isinf(largest):
        return largest
    if found_nan:
        return math.nan
    if largest == 0.0:
        return largest
    tiny = 2.2250738585072014e-308  # DBL_MIN
    unscale = 1.0
    _, max_e = math.frexp(largest)
    if max_e < -1023:  # subnormal differences: lift them first, as CPython does
        for i in range(3):
            d[i] /= tiny
        largest /= tiny
        unscale = tiny
        _, max_e = math.frexp(largest)
    t27 = 134217729.0  # ldexp(1.0, 27) + 1.0: Dekker's split
    scale = math.ldexp(1.0, -max_e)
    csum = 1.0
    frac1 = frac2 = frac3 = 0.0
    for i in range(3):
        x = d[i] * scale
        t = x * t27
        hi = t - (t - x)
        lo = x - hi
        x = hi * hi
        old = csum
        csum += x
        frac1 += (old - csum) + x
        x = 2.0 * hi * lo
        old = csum
        csum += x
        frac2 += (old - csum) + x
        frac3 += lo * lo
    h = math.sqrt(csum - 1.0 + (frac1 + frac2 + frac3))
    x = h
    t = x * t27
    hi = t - (t - x)
    lo = x - hi
    x = -hi * hi
    old = csum
    csum += x
    frac1 += (old - csum) + x
    x = -2.0 * hi * lo
    old = csum
    csum += x
    frac2 += (old - csum) + x
    x = -lo * lo
    old = csum
    csum += x
    frac3 += (old - csum) + x
    x = csum - 1.0 + (frac1 + frac2 + frac3)
    return unscale * ((h + x / (2.0 * h)) / scale)


@dataclass
class Replayed:
    """What the replay found. Per object slot (k,): net E, retractions, extruding moves, bounds
    (k, 3) mm, hottest nozzle and bed (°C); `layer_slot`/`layer_z_mm` list each object's
    extruding z as it changes; `problem_lines` are 0-based lines of unmodelled commands;
    segments (label slot, x0, y0, x1, y1, z, E) when kept."""

    net_e: npt.NDArray[np.float64]
    retractions: npt.NDArray[np.int64]
    extruding_moves: npt.NDArray[np.int64]
    min_xyz_mm: npt.NDArray[np.float64]
    max_xyz_mm: npt.NDArray[np.float64]
    max_nozzle_temp_c: npt.NDArray[np.float64]
    max_bed_temp_c: npt.NDArray[np.float64]
    layer_slot: npt.NDArray[np.int64]
    layer_z_mm: npt.NDArray[np.float64]
    problem_lines: npt.NDArray[np.int64]
    segment_slot: npt.NDArray[np.int64]
    segments: npt.NDArray[np.float64]
    unlabelled_e: float
    print_time_s: float
    g92_resets: int
    retraction_count: int
    absolute_seen: bool
    relative_seen: bool
    hottest_nozzle_c: float
    hottest_bed_c: float


def replay(
    kind: npt.NDArray[np.int8],
    command: npt.NDArray[np.int32],
    mask: npt.NDArray[np.int32],
    values: npt.NDArray[np.float64],
    label_slot: npt.NDArray[np.int32],
    objects: int,
    action: npt.NDArray[np.uint8],
    keep_segments: bool,
) -> Replayed:
    """Replay the scanned lines; `label_slot` holds, on each `M486 S` line, the object slot it
    opens (OUTSIDE for a negative label); `action` maps every command code to HANDLED,
    UNSUPPORTED, IGNORED or UNKNOWN."""
    out = _replay(kind, command, mask, values, label_slot, objects, action, keep_segments)
    return Replayed(*out)


@numba.njit(cache=True, nogil=True)
def _replay(  # type: ignore[no-untyped-def]
    kind, command, mask, values, label_slot, objects, action, keep_segments
):
    lines = kind.shape[0]
    net_e = np.zeros(objects)
    retractions = np.zeros(objects, np.int64)
    moves = np.zeros(objects, np.int64)
    lows = np.full((objects, 3), np.inf)
    highs = np.full((objects, 3), -np.inf)
    obj_nozzle = np.zeros(objects)
    obj_bed = np.zeros(objects)
    last_z = np.full(objects, np.nan)
    layer_slot = np.empty(lines, np.int64)
    layer_z = np.empty(lines)
    layer_count = 0
    problems = np.empty(lines, np.int64)
    problem_count = 0
    kept = lines if keep_segments else 0
    segment_slot = np.empty(kept, np.int64)
    segments = np.empty((kept, 6))
    segment_count = 0
    pos = np.zeros(3)
    start = np.zeros(3)
    e = 0.0
    rel_xyz = False
    rel_e = False
    feed_mm_min = 0.0
    nozzle_c = 0.0
    bed_c = 0.0
    current = -1
    unlabelled_e = 0.0
    print_time_s = 0.0
    g92 = 0
    retraction_count = 0
    absolute_seen = False
    relative_seen = False
    hottest_nozzle = 0.0
    hottest_bed = 0.0
    for line in range(lines):
        if kind[line] != COMMAND:
            continue
        c = command[line]
        m = mask[line]
        v = values[line]
        if c in (G0, G1):
            if m & F:
                feed_mm_min = v[4]
            for axis in range(3):
                start[axis] = pos[axis]
                if m & (1 << axis):
                    pos[axis] = pos[axis] + v[axis] if rel_xyz else v[axis]
            delta_e = 0.0
            if m & E:
                delta_e = v[3] if rel_e else v[3] - e
                e = e + v[3] if rel_e else v[3]
            distance = python_dist(start[0], start[1], start[2], pos[0], pos[1], pos[2])
            if feed_mm_min > 0:
                print_time_s += _max(distance, abs(delta_e)) / feed_mm_min * 60.0
            if delta_e == 0.0:
                continue
            if current < 0:
                unlabelled_e += delta_e
            else:
                net_e[current] += delta_e
                obj_nozzle[current] = _max(obj_nozzle[current], nozzle_c)
                obj_bed[current] = _max(obj_bed[current], bed_c)
            if delta_e < 0:
                retraction_count += 1
                if current >= 0:
                    retractions[current] += 1
            elif distance > 0 and current >= 0:
                moves[current] += 1
                if pos[2] != last_z[current]:  # the object's z changed: one more record
                    last_z[current] = pos[2]
                    layer_slot[layer_count] = current
                    layer_z[layer_count] = pos[2]
                    layer_count += 1
                for axis in range(3):
                    lo = _min(start[axis], pos[axis])
                    hi = _max(start[axis], pos[axis])
                    lows[current, axis] = _min(lows[current, axis], lo)
                    highs[current, axis] = _max(highs[current, axis], hi)
            if keep_segments and distance > 0:
                segment_slot[segment_count] = current
                segments[segment_count, 0] = start[0]
                segments[segment_count, 1] = start[1]
                segments[segment_count, 2] = pos[0]
                segments[segment_count, 3] = pos[1]
                segments[segment_count, 4] = pos[2]
                segments[segment_count, 5] = delta_e
                segment_count += 1
        elif c == M486:
            if label_slot[line] != NO_LABEL:
                current = label_slot[line]
        elif c == G92:
            if m & E:
                e = v[3]
                g92 += 1
            for axis in range(3):
                if m & (1 << axis):
                    pos[axis] = v[axis]
        elif c == G90:
            rel_xyz = rel_e = False
            absolute_seen = True
        elif c == G91:
            rel_xyz = rel_e = True
            relative_seen = True
        elif c == M82:
            rel_e = False
            absolute_seen = True
        elif c == M83:
            rel_e = True
            relative_seen = True
        elif c in (M104, M109):
            nozzle_c = v[5] if m & S else v[7] if m & R else nozzle_c
            hottest_nozzle = _max(hottest_nozzle, nozzle_c)
        elif c in (M140, M190):
            bed_c = v[5] if m & S else v[7] if m & R else bed_c
            hottest_bed = _max(hottest_bed, bed_c)
        elif c == G28:
            for axis in range(3):
                if m & (1 << axis) or not m & (X | Y | Z):
                    pos[axis] = 0.0
        elif c < 0 or action[c] != IGNORED:
            problems[problem_count] = line
            problem_count += 1
    return (
        net_e,
        retractions,
        moves,
        lows,
        highs,
        obj_nozzle,
        obj_bed,
        layer_slot[:layer_count].copy(),
        layer_z[:layer_count].copy(),
        problems[:problem_count].copy(),
        segment_slot[:segment_count].copy(),
        segments[:segment_count].copy(),
        unlabelled_e,
        print_time_s,
        g92,
        retraction_count,
        absolute_seen,
        relative_seen,
        hottest_nozzle,
        hottest_bed,
    )
