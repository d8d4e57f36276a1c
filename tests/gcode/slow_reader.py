"""The pure-Python reader of commit 3930256, line by line, kept as the tests' reference: the
array reader (gcode.analyze) must give every figure it gives, bit for bit.

Only its imports changed: the result types are the reader's own, so the two compare whole; and
it names objects (`M486 A`) as the array reader does since the prime line.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gcode.analyze import (
    BED_TEMP,
    IGNORED,
    NOZZLE_TEMP,
    UNSUPPORTED,
    Analysis,
    ObjectFigures,
    Problem,
)
from gcode.words import Malformed, split_line


def slow_analyze(
    text: str,
    mm3_per_e: float,
    keep_segments: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Analysis:
    """Read G-code `text`; `mm3_per_e` is the volume of one unit of E from the machine profile.

    With keep_segments, every extruding move is kept as (label, x0, y0, x1, y1, z, e) in mm
    and units of E (label -1 outside any object).
    """
    if not (mm3_per_e > 0 and math.isfinite(mm3_per_e)):
        raise ValueError(f"mm3_per_e must be a positive number, not {mm3_per_e!r}")
    result = Analysis(mm3_per_e=mm3_per_e)
    pos = [0.0, 0.0, 0.0]
    e = 0.0
    rel_xyz = False
    rel_e = False
    feed_mm_min = 0.0
    nozzle_c = 0.0
    bed_c = 0.0
    current: ObjectFigures | None = None
    lines = text.splitlines()
    result.lines = len(lines)
    report_every = max(1, len(lines) // 100)
    for number, raw in enumerate(lines, start=1):
        if progress is not None and number % report_every == 0:
            progress(number, len(lines))
        try:
            words = split_line(raw)
        except Malformed as exc:
            result.malformed.append(Problem(number, raw, str(exc)))
            continue
        if words is None:
            continue
        if words.comment:
            result.comments += 1
        command, values = words.command, words.values
        if not command:
            continue
        if command in ("G0", "G1"):
            if "F" in values:
                feed_mm_min = values["F"]
            start = list(pos)
            for axis, key in enumerate("XYZ"):
                if key in values:
                    pos[axis] = pos[axis] + values[key] if rel_xyz else values[key]
            delta_e = 0.0
            if "E" in values:
                delta_e = values["E"] if rel_e else values["E"] - e
                e = e + values["E"] if rel_e else values["E"]
            distance = math.dist(start, pos)
            if feed_mm_min > 0:
                result.print_time_s += max(distance, abs(delta_e)) / feed_mm_min * 60.0
            if delta_e == 0.0:
                continue
            if current is None:
                result.unlabelled_e += delta_e
            else:
                current.net_e += delta_e
                current.max_nozzle_temp_c = max(current.max_nozzle_temp_c, nozzle_c)
                current.max_bed_temp_c = max(current.max_bed_temp_c, bed_c)
            if delta_e < 0:
                result.retractions += 1
                if current is not None:
                    current.retractions += 1
            elif distance > 0 and current is not None:
                current.extruding_moves += 1
                current.layer_z_mm.add(round(pos[2], 4))
                for axis in range(3):
                    lo = min(start[axis], pos[axis])
                    hi = max(start[axis], pos[axis])
                    current.min_xyz_mm[axis] = min(current.min_xyz_mm[axis], lo)
                    current.max_xyz_mm[axis] = max(current.max_xyz_mm[axis], hi)
            if keep_segments and distance > 0:
                label = -1 if current is None else current.label
                result.segments.append((label, start[0], start[1], pos[0], pos[1], pos[2], delta_e))
        elif command == "M486":
            if "T" in values:
                result.declared_objects = int(values["T"])
            elif "S" in values:
                label = int(values["S"])
                if label < 0:
                    current = None
                else:
                    current = result.objects.setdefault(label, ObjectFigures(label))
            if words.object_name is not None:  # added with the prime: `M486 A` names objects
                if current is None:
                    reason = f"object name {words.object_name!r} names no object"
                    result.malformed.append(Problem(number, raw, reason))
                else:
                    result.object_names[current.label] = words.object_name
        elif command == "G92":
            if "E" in values:
                e = values["E"]
                result.g92_resets += 1
            for axis, key in enumerate("XYZ"):
                if key in values:
                    pos[axis] = values[key]
        elif command == "G90":
            rel_xyz = rel_e = False
            result.e_modes_seen.add("absolute")
        elif command == "G91":
            rel_xyz = rel_e = True
            result.e_modes_seen.add("relative")
        elif command == "M82":
            rel_e = False
            result.e_modes_seen.add("absolute")
        elif command == "M83":
            rel_e = True
            result.e_modes_seen.add("relative")
        elif command in NOZZLE_TEMP:
            nozzle_c = values.get("S", values.get("R", nozzle_c))
            result.max_nozzle_temp_c = max(result.max_nozzle_temp_c, nozzle_c)
        elif command in BED_TEMP:
            bed_c = values.get("S", values.get("R", bed_c))
            result.max_bed_temp_c = max(result.max_bed_temp_c, bed_c)
        elif command == "G28":
            for axis, key in enumerate("XYZ"):
                if key in values or not any(k in values for k in "XYZ"):
                    pos[axis] = 0.0
        elif command in UNSUPPORTED:
            result.unsupported.append(Problem(number, raw, UNSUPPORTED[command]))
        elif command not in IGNORED:
            result.unsupported.append(Problem(number, raw, f"{command} is not a known command"))
    for figures in result.objects.values():
        figures.volume_mm3 = figures.net_e * mm3_per_e
    result.unlabelled_volume_mm3 = result.unlabelled_e * mm3_per_e
    return result
