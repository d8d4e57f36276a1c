"""The independent G-code reader the dose gate trusts: what each labelled object extrudes, where.

It imports neither the slicer nor the writer, and it takes the volume of one unit of E from the
caller (the machine profile), never from the file's own comments, so a tampered header cannot
fool it. Follows Marlin: G90/G91 set all axes (E too), M82/M83 set E alone, G92 resets. The
text is read in compiled passes over arrays (gcode.scan, gcode.replay), every figure as the
line-by-line reader it replaced computed it; lines the scan is unsure of go to gcode.words.
An object named `prime` (`M486 A`) is a purge line, not a tablet: its volume is reported apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gcode.words import Malformed, split_line

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from gcode import scan

PRIME_NAME = "prime"  # the `M486 A` name of a purge line laid before the tablets

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
    object_names: dict[int, str] = field(default_factory=dict)  # `M486 A`, by label

    @property
    def prime_labels(self) -> list[int]:
        """Labels of the objects named `prime`, in the order they were first opened."""
        return [k for k in self.objects if self.object_names.get(k) == PRIME_NAME]

    @property
    def prime_volume_mm3(self) -> float:
        """Volume (mm³) the prime objects extrude: material used, on no tablet."""
        return sum(self.objects[k].volume_mm3 for k in self.prime_labels)

    def to_dict(self) -> dict[str, object]:
        return {
            "mm3_per_e": self.mm3_per_e,
            "objects": [self.objects[k].to_dict() for k in sorted(self.objects)],
            "object_names": {str(k): self.object_names[k] for k in sorted(self.object_names)},
            "prime_volume_mm3": self.prime_volume_mm3,
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
    and units of E (label -1 outside any object). `progress` hears (lines, lines) once read:
    the whole text is read in one compiled pass.
    """
    if not (mm3_per_e > 0 and math.isfinite(mm3_per_e)):
        raise ValueError(f"mm3_per_e must be a positive number, not {mm3_per_e!r}")
    # imported here: `import gcode.analyze` stays free of NumPy and Numba for commands that
    # never read G-code (the CLI builds its parser from every command)
    import numpy as np

    from gcode import replay, scan

    lines = scan.Scanned(text)
    result = Analysis(mm3_per_e=mm3_per_e, lines=len(lines))
    names: dict[int, str] = {}
    odd_commands = _read_deferred(lines, result, names)
    labels, label_slot, result.declared_objects = _labels(lines)
    _name_objects(lines, names, labels, label_slot, result)
    done = replay.replay(
        lines.kind,
        lines.command,
        lines.mask,
        lines.values,
        label_slot,
        len(labels),
        _actions(),
        keep_segments,
    )
    result.comments = int(np.count_nonzero(lines.commented & (lines.kind != _MALFORMED)))
    for slot, label in enumerate(labels):
        figures = ObjectFigures(label)
        figures.net_e = float(done.net_e[slot])
        figures.retractions = int(done.retractions[slot])
        figures.extruding_moves = int(done.extruding_moves[slot])
        figures.min_xyz_mm = done.min_xyz_mm[slot].tolist()
        figures.max_xyz_mm = done.max_xyz_mm[slot].tolist()
        figures.max_nozzle_temp_c = float(done.max_nozzle_temp_c[slot])
        figures.max_bed_temp_c = float(done.max_bed_temp_c[slot])
        result.objects[label] = figures
    for slot, z in zip(done.layer_slot.tolist(), done.layer_z_mm.tolist(), strict=True):
        result.objects[labels[slot]].layer_z_mm.add(round(z, 4))
    result.unlabelled_e = done.unlabelled_e
    result.print_time_s = done.print_time_s
    result.g92_resets = done.g92_resets
    result.retractions = done.retraction_count
    if done.absolute_seen:
        result.e_modes_seen.add("absolute")
    if done.relative_seen:
        result.e_modes_seen.add("relative")
    result.max_nozzle_temp_c = done.hottest_nozzle_c
    result.max_bed_temp_c = done.hottest_bed_c
    for index in done.problem_lines.tolist():
        command = odd_commands.get(index) or _command_name(int(lines.command[index]))
        reason = UNSUPPORTED.get(command, f"{command} is not a known command")
        result.unsupported.append(Problem(index + 1, lines.line_text(index), reason))
    if keep_segments:
        owners = [-1 if s < 0 else labels[s] for s in done.segment_slot.tolist()]
        result.segments = [
            (o, *rest) for o, rest in zip(owners, done.segments.tolist(), strict=True)
        ]
    for figures in result.objects.values():
        figures.volume_mm3 = figures.net_e * mm3_per_e
    result.unlabelled_volume_mm3 = result.unlabelled_e * mm3_per_e
    if progress is not None:
        progress(result.lines, result.lines)
    return result


_MALFORMED = 4  # scan kinds 0-3, and a deferred line split_line refused


def _read_deferred(lines: scan.Scanned, result: Analysis, names: dict[int, str]) -> dict[int, str]:
    """Read the lines the scan left to split_line, in place; refusals go to result.malformed,
    object names (`M486 A`) to `names` by 0-based line. Returns the commands the scan's codes
    cannot name (`G29.1`), by 0-based line."""
    import numpy as np

    from gcode import scan

    odd: dict[int, str] = {}
    for index in np.flatnonzero(lines.kind == scan.DEFER).tolist():
        raw = lines.line_text(index)
        try:
            words = split_line(raw)
            if words is not None and words.command == "M486":
                _check_label(words.values)
        except Malformed as exc:
            result.malformed.append(Problem(index + 1, raw, str(exc)))
            lines.kind[index] = _MALFORMED
            continue
        lines.commented[index] = words is not None and bool(words.comment)
        if words is None or not words.command:
            lines.kind[index] = scan.COMMENT if lines.commented[index] else scan.BLANK
            continue
        lines.kind[index] = scan.COMMAND
        if words.object_name is not None:
            names[index] = words.object_name
        code = scan.command_code(words.command)
        lines.command[index] = code
        if code < 0:
            odd[index] = words.command
        for slot, letter in enumerate(scan.LETTERS):
            if letter in words.values:
                lines.mask[index] |= 1 << slot
                lines.values[index, slot] = words.values[letter]
    return odd


def _name_objects(
    lines: scan.Scanned,
    names: dict[int, str],
    labels: list[int],
    label_slot: npt.NDArray[np.int32],
    result: Analysis,
) -> None:
    """Give each `M486 A` name to the object open on its line (its own `M486 S` or the last
    before it); a name with no object open is refused by its line."""
    if not names:
        return
    import numpy as np

    from gcode import replay

    opens = np.flatnonzero(label_slot != replay.NO_LABEL)
    for index, name in sorted(names.items()):
        at = int(np.searchsorted(opens, index, side="right")) - 1
        slot = int(label_slot[opens[at]]) if at >= 0 else replay.OUTSIDE
        if slot < 0:
            result.malformed.append(
                Problem(index + 1, lines.line_text(index), f"object name {name!r} names no object")
            )
        else:
            result.object_names[labels[slot]] = name
    result.malformed.sort(key=lambda problem: problem.line)


def _check_label(values: dict[str, float]) -> None:
    """An object label or count of 400 digits is infinite as a float: refused by its line (the
    line-by-line reader stopped with an OverflowError)."""
    for letter in "ST":
        if letter in values and not math.isfinite(values[letter]):
            raise Malformed(f"object {letter} {values[letter]} is not a finite number")


def _labels(lines: scan.Scanned) -> tuple[list[int], npt.NDArray[np.int32], int | None]:
    """Object labels in order of first `M486 S<label>`, the slot each such line opens (-1 for a
    negative label, -2 on other lines), and the last `M486 T` count."""
    import numpy as np

    from gcode import replay, scan

    label_slot = np.full(len(lines), replay.NO_LABEL, np.int32)
    rows = np.flatnonzero((lines.kind == scan.COMMAND) & (lines.command == replay.M486))
    given = lines.mask[rows]
    counts = rows[(given & replay.T) != 0]
    t_column, s_column = scan.LETTERS.index("T"), scan.LETTERS.index("S")
    declared = int(lines.values[counts[-1], t_column]) if len(counts) else None
    opens = rows[((given & replay.T) == 0) & ((given & replay.S) != 0)]
    s_values = lines.values[opens, s_column]
    if np.all(np.abs(s_values) < 2.0**62):
        numbers = np.trunc(s_values).astype(np.int64)  # int(): toward zero, as Python's
    else:  # as int() does, overflow included
        numbers = np.array([int(v) for v in s_values.tolist()], dtype=object)
    labels: list[int] = []
    slot_of: dict[int, int] = {}
    if len(opens):
        unique, first = np.unique(numbers, return_index=True)
        in_order = unique[np.argsort(first, kind="stable")]
        labels = [int(label) for label in in_order.tolist() if label >= 0]
        slot_of = {label: slot for slot, label in enumerate(labels)}
        slots = np.array([slot_of.get(int(u), replay.OUTSIDE) for u in unique.tolist()])
        label_slot[opens] = slots[np.searchsorted(unique, numbers)]
    return labels, label_slot, declared


def _actions() -> npt.NDArray[np.uint8]:
    """For every command code: what the reader does with it (from the tables above)."""
    global _ACTIONS
    if _ACTIONS is None:
        import numpy as np

        from gcode import replay, scan

        table = np.full(len(scan.COMMAND_LETTERS) * scan.COMMAND_SPAN, replay.UNKNOWN, np.uint8)
        for commands, action in ((UNSUPPORTED, replay.UNSUPPORTED), (IGNORED, replay.IGNORED)):
            for command in commands:
                table[scan.command_code(command)] = action
        _ACTIONS = table
    return _ACTIONS


_ACTIONS: npt.NDArray[np.uint8] | None = None


def _command_name(code: int) -> str:
    from gcode import scan

    letter, number = divmod(code, scan.COMMAND_SPAN)
    return f"{scan.COMMAND_LETTERS[letter]}{number}"
