"""Every move of a plate planned and written as text in two compiled passes over whole arrays.

The rules are the writer's (gcode.write): travels retract and hop, no extrusion below the file's
resolution, owed E carried to a tablet's next move; the arithmetic is NumPy's, step for step.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gcode.fixed import as_written, put_fixed
from gcode.jit import numba

# what a record is; its line, with x, y, e, feed from the record's columns
TEXT = 0  # snippet `aux` of the plate's fixed lines (layer, Z, labels)
EXTRUDE = 1  # G1 X{x} Y{y} E{e}, and " F{feed}" when aux is 1
E_ONLY = 2  # G1 E{e} F{feed} ; retract (aux 0) or unretract (aux 1)
LIFT = 3  # G1 Z{x} F{feed}
TRAVEL = 4  # G0 X{x} Y{y} F{feed}
UNPLANNED = -1  # no last extrusion in the label


@numba.njit(cache=True, inline="always")
def _round(value: float, scale: float) -> float:
    # np.round(value, decimals) as NumPy does it: multiply, round half to even, divide
    return np.rint(value * scale) / scale


@numba.njit(cache=True)
def _plan(sx, sy, pts, k, mm3_per_mm, e_base, e_written, rules, scratch):  # type: ignore[no-untyped-def]
    """The exact and written cumulative E at each of the points pts[1:k] (mm) extruded from
    (sx, sy), into e_cum and rounded, and which of them to write, into keep (indices from
    pts[1]): all unless a segment falls below the file's resolution; then its end is dropped
    (its E goes on with the next point) and a path's last point stays. Returns how many to
    keep, -1 when not one segment can be written, -2 when all of them are kept. `e_base` is
    the exact E before them (owed E included); scratch is (e_cum, rounded, keep)."""
    e_per_mm3, scale, half_unit, apart_mm, xy_decimals = rules[:5]
    e_cum, rounded, keep = scratch
    count = k - 1
    total = 0.0
    px, py = sx, sy
    all_apart = True
    for i in range(count):
        x, y = pts[1 + i, 0], pts[1 + i, 1]
        dx, dy = x - px, y - py
        total += np.hypot(dx, dy)
        e_cum[i] = e_base + total * mm3_per_mm * e_per_mm3
        rounded[i] = _round(e_cum[i], scale)
        if not (abs(dx) > apart_mm or abs(dy) > apart_mm):
            all_apart = False
        px, py = x, y
    if count == 0:
        return -1
    if rounded[0] - e_written > half_unit and all_apart:
        steps_apart = True
        for i in range(1, count):
            if not rounded[i] - rounded[i - 1] > half_unit:
                steps_apart = False
                break
        if steps_apart:
            return -2
    kept = 0
    hx, hy = as_written(sx, xy_decimals), as_written(sy, xy_decimals)
    e_here = e_written
    for i in range(count):
        wx = as_written(pts[1 + i, 0], xy_decimals)
        wy = as_written(pts[1 + i, 1], xy_decimals)
        if (wx != hx or wy != hy) and rounded[i] - e_here > half_unit:
            keep[kept] = i
            kept += 1
            hx, hy, e_here = wx, wy, rounded[i]
    final = count - 1
    if kept == 0 or keep[kept - 1] != final:
        fx = as_written(pts[1 + final, 0], xy_decimals)
        fy = as_written(pts[1 + final, 1], xy_decimals)
        while kept > 0:
            j = keep[kept - 1]
            jx = as_written(pts[1 + j, 0], xy_decimals)
            jy = as_written(pts[1 + j, 1], xy_decimals)
            if (fx != jx or fy != jy) and rounded[final] - rounded[j] > half_unit:
                break
            kept -= 1
        if kept == 0:
            ox, oy = as_written(sx, xy_decimals), as_written(sy, xy_decimals)
            if not ((fx != ox or fy != oy) and rounded[final] - e_written > half_unit):
                return -1
        keep[kept] = final
        kept += 1
    return kept


@numba.njit(cache=True)
def order_path(  # type: ignore[no-untyped-def]
    source, closed, ox, oy, x, y, out
):
    """A path's (k, 2) mm points moved by (ox, oy) into `out`, as the nozzle at (x, y) takes
    them: a closed loop from its point nearest the nozzle and back to it (k + 1 points), an
    open path from its nearer end. Returns how many points `out` holds."""
    k = source.shape[0]
    if closed:
        best = 0
        best_d = np.inf
        for i in range(k):
            d = np.hypot(source[i, 0] + ox - x, source[i, 1] + oy - y)
            if d < best_d:
                best, best_d = i, d
        for i in range(k):
            j = (best + i) % k
            out[i, 0] = source[j, 0] + ox
            out[i, 1] = source[j, 1] + oy
        out[k, 0], out[k, 1] = out[0, 0], out[0, 1]
        return k + 1
    first_d = np.hypot(source[0, 0] + ox - x, source[0, 1] + oy - y)
    last_d = np.hypot(source[k - 1, 0] + ox - x, source[k - 1, 1] + oy - y)
    backwards = last_d < first_d
    for i in range(k):
        j = k - 1 - i if backwards else i
        out[i, 0] = source[j, 0] + ox
        out[i, 1] = source[j, 1] + oy
    return k


@numba.njit(cache=True)
def plan_moves(  # type: ignore[no-untyped-def]
    points, path_start, path_closed, layer_path_start, steps, step_columns, close_text, rules
):
    """The writer's moves for every step (one tablet's layer): records (kind, aux) and columns
    (x, y, e, feed), in file order. `points` (P, 2) mm holds every path; path p is
    points[path_start[p]:path_start[p + 1]]; layer L of the plate's parts is paths
    layer_path_start[L]:layer_path_start[L + 1]. Per step, `steps` (S, 4) holds the tablet,
    the layer L, the snippet that opens it and whether the nozzle lifts to reach it;
    `step_columns` (S, 6) its offset x and y (mm), mm³ per mm of path, feed (mm/min), the z
    to clear when lifting and the z it sets (NaN: none). `rules` is write_gcode's tuple."""
    relative_e, retract_f, retraction_mm, z_hop_mm, retract_min_mm = rules[5:10]
    travel_f, tablets, capacity, longest = rules[10:]
    kind = np.empty(capacity, np.int8)
    aux = np.zeros(capacity, np.int32)
    cols = np.zeros((capacity, 4))
    records = (kind, aux, cols)
    n = 0
    x = y = z = 0.0
    e_exact = e_written = e_owed = 0.0
    last_record = UNPLANNED
    last_e_before = 0.0
    owed = np.zeros(tablets)
    pts = np.empty((longest + 1, 2))
    scratch = (np.empty(longest + 1), np.empty(longest + 1), np.empty(longest + 1, np.int64))
    e_cum, rounded, keep = scratch
    for s in range(steps.shape[0]):
        tablet, layer, opening, lift = steps[s, 0], steps[s, 1], steps[s, 2], steps[s, 3] != 0
        ox, oy, mm3_per_mm, feed, lift_to_z, layer_z = step_columns[s]
        if layer_z == layer_z:  # a step that opens a layer sets z (NaN: it stays)
            z = layer_z
        kind[n] = TEXT
        aux[n] = opening
        n += 1
        e_owed = owed[tablet]
        owed[tablet] = 0.0
        last_record = UNPLANNED
        first = True
        gx, gy = x, y  # where each path ends, from which the next is ordered
        for p in range(layer_path_start[layer], layer_path_start[layer + 1]):
            k = order_path(
                points[path_start[p] : path_start[p + 1]], path_closed[p], ox, oy, gx, gy, pts
            )
            gx, gy = pts[k - 1, 0], pts[k - 1, 1]
            clear_z = lift_to_z if first and lift else np.nan
            x0, y0 = pts[0, 0], pts[0, 1]
            travels = clear_z == clear_z or np.hypot(x0 - x, y0 - y) >= 1e-4
            sx, sy = (x0, y0) if travels else (x, y)
            planned = (np.nan, np.nan)  # the E the plan was made from
            for attempt in range(2):
                if (e_exact, e_written) == planned:
                    break
                kept = _plan(
                    sx, sy, pts, k, mm3_per_mm, e_exact + e_owed, e_written, rules, scratch
                )
                planned = (e_exact, e_written)
                if kept == -1:  # nothing here the file can state: owed to the next move
                    e_owed = e_cum[k - 2] - e_exact
                    break
                if attempt == 0 and travels:  # a retract and unretract can move E by a rounding
                    distance = np.hypot(x0 - x, y0 - y)
                    long_travel = first or distance >= retract_min_mm
                    retract = long_travel and retraction_mm > 0
                    hop = z_hop_mm if long_travel else 0.0
                    if clear_z - z > hop:  # max(hop, clear_z - z), as Python's (NaN: no)
                        hop = clear_z - z
                    for move in range(5):  # retract, lift, travel, lower, unretract
                        if move == 0 or move == 4:
                            if not retract:
                                continue
                            delta_e = -retraction_mm if move == 0 else retraction_mm
                            e_exact, e_written = _e_move(
                                records, n, e_exact, e_written, delta_e, move // 4, rules
                            )
                        elif move == 2:
                            kind[n] = TRAVEL
                            cols[n, 0], cols[n, 1] = x0, y0
                        elif hop:
                            kind[n] = LIFT
                            cols[n, 0] = z + hop if move == 1 else z
                        else:
                            continue
                        if kind[n] != E_ONLY:
                            cols[n, 3] = travel_f
                        else:
                            cols[n, 3] = retract_f
                        n += 1
                    if retract:
                        last_record = UNPLANNED
                    x, y = x0, y0
                first = False
            if kept == -1:
                continue
            e_owed = 0.0
            # the kept points, each E step from the one written before it
            count = k - 1 if kept == -2 else kept
            e_from = e_written
            j = 0
            for i in range(count):
                j = i if kept == -2 else keep[i]
                kind[n] = EXTRUDE
                aux[n] = 1 if i == 0 else 0  # the path's feed rate on its first line
                cols[n, 0], cols[n, 1] = pts[j + 1, 0], pts[j + 1, 1]
                cols[n, 2] = rounded[j] - e_from if relative_e else rounded[j]
                cols[n, 3] = feed
                last_e_before = e_from
                e_from = rounded[j]
                n += 1
            e_exact, e_written = e_cum[j], rounded[j]
            last_record = n - 1
            x, y = pts[j + 1, 0], pts[j + 1, 1]
        # closing the label: what is still owed goes into its last extrusion, else is carried
        if e_owed != 0.0:
            if last_record == UNPLANNED:
                owed[tablet] = e_owed
            else:
                e_exact += e_owed
                r = _round(e_exact, rules[1])
                cols[last_record, 2] = r - last_e_before if relative_e else r
                e_written = r
            e_owed = 0.0
        kind[n] = TEXT
        aux[n] = close_text
        n += 1
    return kind[:n], aux[:n], cols[:n]


@numba.njit(cache=True, inline="always")
def _e_move(records, n, e_exact, e_written, delta_e, which, rules):  # type: ignore[no-untyped-def]
    """A retract (which 0) or unretract (1) of delta_e as record n; the new exact and written E."""
    kind, aux, cols = records
    exact = e_exact + delta_e
    r = _round(exact, rules[1])
    kind[n] = E_ONLY
    aux[n] = which
    cols[n, 2] = r - e_written if rules[5] else r
    return exact, r


@numba.njit(cache=True)
def format_moves(  # type: ignore[no-untyped-def]
    kind, aux, cols, xy_decimals, e_decimals, snippets, snippet_start
):
    """The text of the records, one line each ending in a newline, as ASCII bytes; an empty
    array if a number is beyond what fixed-point text of its decimals can state exactly."""
    size = 0
    for r in range(kind.shape[0]):
        if kind[r] == TEXT:
            size += snippet_start[aux[r] + 1] - snippet_start[aux[r]] + 1
        else:
            size += 120
    out = np.empty(size, np.uint8)
    at = 0
    for r in range(kind.shape[0]):
        k = kind[r]
        if k == TEXT:
            for i in range(snippet_start[aux[r]], snippet_start[aux[r] + 1]):
                out[at] = snippets[i]
                at += 1
        else:
            out[at], out[at + 1] = 71, 48 if k == TRAVEL else 49  # "G0" or "G1"
            at += 2
            if k in (EXTRUDE, TRAVEL):
                at = _word(out, at, 88, cols[r, 0], xy_decimals)  # X
                at = _word(out, at, 89, cols[r, 1], xy_decimals)  # Y
            if k == LIFT:
                at = _word(out, at, 90, cols[r, 0], xy_decimals)  # Z
            if k in (EXTRUDE, E_ONLY):
                at = _word(out, at, 69, cols[r, 2], e_decimals)  # E
            if k != EXTRUDE or aux[r] == 1:
                at = _word(out, at, 70, cols[r, 3], 0)  # F
            if at < 0:
                return out[:0]
            if k == E_ONLY:
                for c in " ; retract" if aux[r] == 0 else " ; unretract":
                    out[at] = ord(c)
                    at += 1
        out[at] = 10
        at += 1
    return out[:at]


@numba.njit(cache=True, inline="always")
def _word(out, at, letter, value, decimals):  # type: ignore[no-untyped-def]
    """ " <letter><value>" from byte `at`; the end, or -1 (and from -1, -1)."""
    if at < 0:
        return at
    out[at], out[at + 1] = 32, letter
    return put_fixed(out, at + 2, value, decimals)


def pack_snippets(texts: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Fixed lines as one byte array and the start of each (len + 1,)."""
    encoded = [t.encode("ascii") for t in texts]
    starts = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=starts[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), starts
