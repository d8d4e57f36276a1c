"""The independent G-code reader the dose gate trusts: what each labelled object extrudes, where.

It imports neither the slicer nor the writer, and it takes the volume of one unit of E from the
caller (the machine profile), never from the file's own comments, so a tampered header cannot
fool it. Follows Marlin: G90/G91 set all axes (E too), M82/M83 set E alone, G92 resets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from gcode.words import Malformed, split_line

# commands whose effect on extrusion or motion this reader does not model: refused by the gate
UNSUPPORTED = {
    "G2": "arc move",
    "G3": "arc move",
    "G5": "spline move",
    "G10": "firmware retraction",
    "G11": "firmware retraction",
    "G29": "bed levelling changes Z",
    "M92": "changes steps per unit",
    "M200": "volumetric extrusion",
    "M220": "changes feed rate",
    "M221": "changes flow",
    "M851": "changes the Z offset",
}
NOZZLE_TEMP = {"M104", "M109"}
BED_TEMP = {"M140", "M190"}
IGNORED = {
    "T0",
    "G4",
    "G21",
    "G28",
    "M84",
    "M105",
    "M106",
    "M107",
    "M110",
    "M117",
    "M155",
    "M400",
    "M18",
}


@dataclass
class ObjectFigures:
    """One labelled object (`M486 S<i>`): net E and volume (mm³), layers, bounds in mm."""

    label: int
    net_e: float = 0.0
    volume_mm3: float = 0.0
    retractions: int = 0
    extruding_moves: int = 0
    layer_z_mm: set[float] = field(default_factory=set)
    min_xyz_mm: list[float] = field(default_factory=lambda: [math.inf] * 3)
    max_xyz_mm: list[float] = field(default_factory=lambda: [-math.inf] * 3)
    max_nozzle_temp_c: float = 0.0
    max_bed_temp_c: float = 0.0

    @property
    def layers(self) -> int:
        return len(self.layer_z_mm)

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "net_e": self.net_e,
            "volume_mm3": self.volume_mm3,
            "layers": self.layers,
            "retractions": self.retractions,
            "extruding_moves": self.extruding_moves,
            "bounds_mm": [self.min_xyz_mm, self.max_xyz_mm] if self.extruding_moves else None,
            "max_nozzle_temp_c": self.max_nozzle_temp_c,
            "max_bed_temp_c": self.max_bed_temp_c,
        }


@dataclass(frozen=True)
class Problem:
    """A line the reader refuses to interpret: its 1-based number, text and reason."""

    line: int
    text: str
    reason: str


@dataclass
class Analysis:
    """Everything the reader found; volumes from E × the caller's mm³ per unit of E."""

    mm3_per_e: float
    objects: dict[int, ObjectFigures] = field(default_factory=dict)
    declared_objects: int | None = None
    unlabelled_e: float = 0.0
    unlabelled_volume_mm3: float = 0.0
    print_time_s: float = 0.0
    lines: int = 0
    comments: int = 0
    g92_resets: int = 0
    retractions: int = 0
    e_modes_seen: set[str] = field(default_factory=set)
    max_nozzle_temp_c: float = 0.0
    max_bed_temp_c: float = 0.0
    malformed: list[Problem] = field(default_factory=list)
    unsupported: list[Problem] = field(default_factory=list)
    segments: list[tuple[int, float, float, float, float, float, float]] = field(
        default_factory=list
    )

    def to_dict(self) -> dict[str, object]:
        return {
            "mm3_per_e": self.mm3_per_e,
            "objects": [self.objects[k].to_dict() for k in sorted(self.objects)],
            "declared_objects": self.declared_objects,
            "unlabelled_volume_mm3": self.unlabelled_volume_mm3,
            "print_time_s": self.print_time_s,
            "lines": self.lines,
            "comments": self.comments,
            "g92_resets": self.g92_resets,
            "retractions": self.retractions,
            "e_modes": sorted(self.e_modes_seen),
            "max_nozzle_temp_c": self.max_nozzle_temp_c,
            "max_bed_temp_c": self.max_bed_temp_c,
            "malformed": [vars(p) for p in self.malformed],
            "unsupported": [vars(p) for p in self.unsupported],
        }


def analyze(
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
