"""Write a plate of sliced tablets as Marlin G-code, FDM or SSE, with dose-exact extrusion.

Every tablet's moves sit between `M486 S<i>` and `M486 S-1`, retractions included, so a reader
can attribute all material to tablets; the header states each tablet's targets. No extrusion is
written below the file's resolution (0.001 mm in X and Y, one unit of the last E decimal): such a
segment merges into its neighbour and its E stays with its tablet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gcode.cut import FloatArray, IntArray
from gcode.errors import MaterialWindowRefused, SettingsInvalid
from gcode.flow import PartFlow
from gcode.profile import MAX_SSE_TEMP_C, MachineProfile
from gcode.slice import SlicedPart
from gcode.toolpaths import Path

Sequence = Literal["layers", "parts"]
RETRACT_MIN_TRAVEL_MM = 2.0
XY_DECIMALS = 3  # X and Y are written to 0.001 mm
XY_RESOLUTION_MM = 10.0**-XY_DECIMALS


@dataclass(frozen=True)
class PlacedTablet:
    """A sliced tablet on the plate: its offset on the bed (mm) and what it must hold."""

    name: str
    part: SlicedPart
    offset_xy_mm: tuple[float, float]
    flow: PartFlow
    target_mg: float | None = None


@dataclass(frozen=True)
class PlateHeader:
    """What the header names: the job, the lot and temperatures (°C)."""

    job_id: str
    lot: str
    formulation_id: str
    nozzle_temp_c: float
    bed_temp_c: float
    mm3_per_e: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_temperatures(profile: MachineProfile, nozzle_temp_c: float, bed_temp_c: float) -> None:
    """Refuse temperatures the printer cannot reach or, for SSE, may not use."""
    if nozzle_temp_c > profile.max_nozzle_temp_c:
        raise MaterialWindowRefused(
            "nozzle_temp_c", nozzle_temp_c, f"is above {profile.id}'s {profile.max_nozzle_temp_c:g}"
        )
    if profile.process == "sse" and nozzle_temp_c > MAX_SSE_TEMP_C:
        raise MaterialWindowRefused("nozzle_temp_c", nozzle_temp_c, "is above 80 °C for SSE")
    if bed_temp_c > profile.max_bed_temp_c:
        raise MaterialWindowRefused(
            "bed_temp_c", bed_temp_c, f"is above {profile.id}'s {profile.max_bed_temp_c:g}"
        )


@dataclass(frozen=True)
class _Plan:
    """A path's exact and written cumulative E at each point (k,), and the points to write."""

    e_cum: FloatArray
    rounded: FloatArray
    keep: IntArray | slice | None


class _Writer:
    """Holds the position, the exact cumulative E and the lines; emits moves.

    No extrusion goes into the file below its resolution: a segment whose written E step would
    be zero, or whose written end is its written start, is merged into its neighbour, so the
    reader never sees a travel where an extrusion was meant and each tablet keeps its exact E.
    """

    def __init__(self, profile: MachineProfile, mm3_per_e: float) -> None:
        self.profile = profile
        self.e_per_mm3 = 1.0 / mm3_per_e
        # E resolution of 0.001 mm³ or finer (a syringe's E is 100 times a filament's volume)
        self.decimals = max(5, math.ceil(math.log10(mm3_per_e / 0.001)))
        self.e_unit = 10.0**-self.decimals  # the smallest E step the file can state
        self.lines: list[str] = []
        self.x = self.y = 0.0
        self.z = 0.0
        self.e_exact = 0.0  # cumulative E in exact arithmetic
        self.e_written = 0.0  # cumulative E as rounded in the file
        # E of paths too small to write, owed to the next move of the same tablet
        self.e_owed = 0.0
        # the label's last extrusion (line index, text before E, text after E, E written
        # before it), which takes what is still owed when the label closes
        self.last_move: tuple[int, str, str, float] | None = None
        self.travel_f = profile.travel_speed_mm_s * 60.0
        self.retract_f = profile.retraction_speed_mm_s * 60.0

    def _e_words(self, e_cumulative: FloatArray, rounded: FloatArray | None = None) -> list[str]:
        """E words for moves ending at these exact cumulative E values (absolute or relative);
        `rounded` is them rounded to the file's decimals, where already known."""
        if rounded is None:
            rounded = np.round(e_cumulative, self.decimals)
        if self.profile.relative_e:
            values = np.diff(np.concatenate([[self.e_written], rounded]))
        else:
            values = rounded
        self.e_exact = float(e_cumulative[-1])
        self.e_written = float(rounded[-1])
        return [f"{v:.{self.decimals}f}" for v in values]

    def extrude_e(self, delta_e: float, feed: float, comment: str) -> None:
        (word,) = self._e_words(np.array([self.e_exact + delta_e]))
        self.lines.append(f"G1 E{word} F{feed:.0f} ; {comment}")
        self.last_move = None  # an E word after it: the last extrusion can no longer grow

    def _travels(self, x: float, y: float, clear_z: float | None) -> bool:
        return clear_z is not None or float(np.hypot(x - self.x, y - self.y)) >= 1e-4

    def travel(self, x: float, y: float, lift: bool, clear_z: float | None = None) -> None:
        """Move without extruding; long or lifted moves retract and hop (to clear_z if given)."""
        if not self._travels(x, y, clear_z):
            return
        distance = float(np.hypot(x - self.x, y - self.y))
        long_travel = lift or distance >= RETRACT_MIN_TRAVEL_MM
        retract = long_travel and self.profile.retraction_mm > 0
        if retract:
            self.extrude_e(-self.profile.retraction_mm, self.retract_f, "retract")
        hop = self.profile.z_hop_mm if long_travel else 0.0
        if clear_z is not None:
            hop = max(hop, clear_z - self.z)
        if hop:
            self.lines.append(f"G1 Z{self.z + hop:.3f} F{self.travel_f:.0f}")
        self.lines.append(f"G0 X{x:.3f} Y{y:.3f} F{self.travel_f:.0f}")
        if hop:
            self.lines.append(f"G1 Z{self.z:.3f} F{self.travel_f:.0f}")
        if retract:
            self.extrude_e(self.profile.retraction_mm, self.retract_f, "unretract")
        self.x, self.y = x, y

    def extrude_path(
        self, pts: FloatArray, mm3_per_mm: float, feed: float, lift: bool, clear_z: float | None
    ) -> bool:
        """Travel to the first of (k, 2) float mm points and extrude along the rest.

        False when no segment of the path reaches the file's resolution: then nothing is
        written, not even the travel, and its E is owed to the tablet's next move.
        """
        x0, y0 = float(pts[0, 0]), float(pts[0, 1])
        points = pts[1:]
        start = (x0, y0) if self._travels(x0, y0, clear_z) else (self.x, self.y)
        plan = self._plan(start, points, mm3_per_mm)
        if plan.keep is None:
            self.e_owed = float(plan.e_cum[-1]) - self.e_exact
            return False
        e_state = (self.e_exact, self.e_written)
        self.travel(x0, y0, lift=lift, clear_z=clear_z)
        if (self.e_exact, self.e_written) != e_state:
            # a retract and unretract can move the exact E by a rounding: plan from there
            plan = self._plan(start, points, mm3_per_mm)
            if plan.keep is None:  # only a rounding away from writable: owe it after all
                self.e_owed = float(plan.e_cum[-1]) - self.e_exact
                return True
        self.e_owed = 0.0
        self._write_path(points[plan.keep], plan.e_cum[plan.keep], plan.rounded[plan.keep], feed)
        return True

    def _plan(self, start: tuple[float, float], points: FloatArray, mm3_per_mm: float) -> _Plan:
        """Exact and written cumulative E at each of (k, 2) points extruded from `start` (owed E
        first), and which points to write: all unless a segment falls below the file's
        resolution; then its end is dropped (its E goes on with the next point) and a path's
        last point stays. `keep` is None when not one segment can be written."""
        delta = np.diff(np.vstack([start, points]), axis=0)
        step = np.hypot(delta[:, 0], delta[:, 1])
        e_cum = self.e_exact + self.e_owed + np.cumsum(step) * mm3_per_mm * self.e_per_mm3
        rounded = np.round(e_cum, self.decimals)
        if not len(points):
            return _Plan(e_cum, rounded, None)
        half_unit = 0.5 * self.e_unit
        # more than a unit apart in X or Y is apart as written, whatever the rounding
        if (
            rounded[0] - self.e_written > half_unit
            and (np.diff(rounded) > half_unit).all()
            and (np.abs(delta) > 1.001 * XY_RESOLUTION_MM).any(axis=1).all()
        ):
            return _Plan(e_cum, rounded, slice(None))
        xy = [_as_written(x, y) for x, y in points.tolist()]

        def apart(i: int, xy_from: tuple[float, float], e_from: float) -> bool:
            return xy[i] != xy_from and rounded[i] - e_from > half_unit

        keep: list[int] = []
        here, e_here = _as_written(*start), self.e_written
        for i in range(len(points)):
            if apart(i, here, e_here):
                keep.append(i)
                here, e_here = xy[i], float(rounded[i])
        last = len(points) - 1
        if not keep or keep[-1] != last:
            # the path ends where the slicer ends it: a small last step merges into the one before
            while keep and not apart(last, xy[keep[-1]], float(rounded[keep[-1]])):
                keep.pop()
            if not keep and not apart(last, _as_written(*start), self.e_written):
                return _Plan(e_cum, rounded, None)
            keep.append(last)
        return _Plan(e_cum, rounded, np.array(keep, dtype=np.int64))

    def _write_path(
        self, points: FloatArray, e_cum: FloatArray, rounded: FloatArray, feed: float
    ) -> None:
        """Extrude along (k, 2) float mm points ending at exact cumulative E `e_cum` (k,),
        `rounded` to the file's decimals."""
        e_before_last = self.e_written if len(rounded) == 1 else float(rounded[-2])
        words = self._e_words(e_cum, rounded)
        xs = points[:, 0].tolist()
        ys = points[:, 1].tolist()
        lines = self.lines
        lines.append(f"G1 X{xs[0]:.3f} Y{ys[0]:.3f} E{words[0]} F{feed:.0f}")
        lines.extend(
            f"G1 X{x:.3f} Y{y:.3f} E{e}" for x, y, e in zip(xs[1:], ys[1:], words[1:], strict=True)
        )
        tail = f" F{feed:.0f}" if len(words) == 1 else ""
        self.last_move = (len(lines) - 1, f"G1 X{xs[-1]:.3f} Y{ys[-1]:.3f}", tail, e_before_last)
        self.x, self.y = xs[-1], ys[-1]

    def open_label(self, owed_e: float) -> None:
        """Start a tablet's moves; `owed_e` is what its earlier labels could not write."""
        self.e_owed = owed_e
        self.last_move = None

    def close_label(self) -> float:
        """E still owed goes into the label's last extrusion; what no move here could take is
        returned, owed to the tablet's next label."""
        owed, self.e_owed = self.e_owed, 0.0
        if not owed:
            return 0.0
        if self.last_move is None:
            return owed
        index, head, tail, e_before = self.last_move
        self.e_exact += owed
        rounded = float(np.round(self.e_exact, self.decimals))
        value = rounded - e_before if self.profile.relative_e else rounded
        self.e_written = rounded
        self.lines[index] = f"{head} E{value:.{self.decimals}f}{tail}"
        return 0.0


def _as_written(x: float, y: float) -> tuple[float, float]:
    """A point as the file states it (-0.000 and 0.000 are one place)."""
    return float(f"{x:.{XY_DECIMALS}f}"), float(f"{y:.{XY_DECIMALS}f}")


def ordered_paths(
    paths: list[Path], x: float, y: float, offset: FloatArray
) -> Iterator[FloatArray]:
    """Paths moved to the plate, loops started at their point nearest the nozzle, closed."""
    for p in paths:
        pts = p.points + offset
        if p.closed:
            start = int(np.argmin(np.hypot(pts[:, 0] - x, pts[:, 1] - y)))
            pts = np.vstack([pts[start:], pts[:start], pts[start : start + 1]])
        elif np.hypot(*(pts[-1] - (x, y))) < np.hypot(*(pts[0] - (x, y))):
            pts = pts[::-1]
        x, y = float(pts[-1, 0]), float(pts[-1, 1])
        yield pts


def write_gcode(
    tablets: list[PlacedTablet],
    profile: MachineProfile,
    header: PlateHeader,
    sequence: Sequence = "layers",
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """The G-code text of a plate: header, start script, labelled tablets, end script.

    `layers` prints layer k of every tablet before layer k + 1 (snake order, reversed every
    layer); `parts` prints one tablet after another and needs the gantry to clear them.
    """
    check_temperatures(profile, header.nozzle_temp_c, header.bed_temp_c)
    tallest = max(t.part.height_mm for t in tablets)
    if sequence == "parts" and tallest > profile.gantry_clearance_mm:
        raise SettingsInvalid(
            "sequence",
            sequence,
            f"needs tablets below {profile.id}'s gantry clearance of "
            f"{profile.gantry_clearance_mm:g} mm (tallest is {tallest:g} mm)",
        )
    w = _Writer(profile, header.mm3_per_e)
    w.lines.extend(_header(tablets, profile, header, sequence))
    values = {"nozzle_temp_c": f"{header.nozzle_temp_c:g}", "bed_temp_c": f"{header.bed_temp_c:g}"}
    w.lines.extend(line.format(**values) for line in profile.start_gcode)
    w.lines.append("M83" if profile.relative_e else "M82")
    w.lines.append("G92 E0")
    w.lines.append(f"M486 T{len(tablets)}")
    n_layers = max(len(t.part.layers) for t in tablets)
    if sequence == "layers":
        steps = [(k, i) for k in range(n_layers) for i in _snake(len(tablets), k)]
    else:
        steps = [(k, i) for i in range(len(tablets)) for k in range(len(tablets[i].part.layers))]
    current_layer = -1
    owed: dict[int, float] = {}  # E of a tablet that no move of its last label could take
    for done, (k, i) in enumerate(steps):
        tablet = tablets[i]
        if k >= len(tablet.part.layers):
            continue
        layer = tablet.part.layers[k]
        lift = sequence == "parts" and k == 0 and i > 0
        if k != current_layer or lift:
            w.lines.append(f";LAYER:{k}")
            if not lift:  # a new tablet's first layer is reached from above, inside its label
                w.lines.append(f"G1 Z{layer.z_mm:.3f} F{w.travel_f:.0f}")
            w.z = layer.z_mm
            current_layer = k
        feed = (profile.first_layer_speed_mm_s if k == 0 else profile.print_speed_mm_s) * 60.0
        offset = np.asarray(tablet.offset_xy_mm, dtype=np.float64)
        w.lines.append(f"M486 S{i}")
        w.open_label(owed.pop(i, 0.0))
        first = True
        for pts in ordered_paths(layer.paths, w.x, w.y, offset):
            clear_z = tallest + profile.z_hop_mm if first and lift else None
            if w.extrude_path(pts, float(tablet.flow.mm3_per_mm[k]), feed, first, clear_z):
                first = False
        left = w.close_label()
        if left:
            owed[i] = left
        w.lines.append("M486 S-1")
        if progress is not None:
            progress(done + 1, len(steps))
    w.lines.extend(profile.end_gcode)
    w.lines.append("; end of printmed job")
    return "\n".join(w.lines) + "\n"


def _snake(n: int, layer: int) -> range:
    return range(n) if layer % 2 == 0 else range(n - 1, -1, -1)


def _header(
    tablets: list[PlacedTablet], profile: MachineProfile, header: PlateHeader, sequence: Sequence
) -> list[str]:
    total = sum(t.flow.target_volume_mm3 for t in tablets)
    lines = [
        "; printmed G-code",
        f"; job: {header.job_id}",
        f"; printer profile: {profile.id} ({profile.process}, {profile.name})",
        f"; formulation: {header.formulation_id}; lot: {header.lot}",
        f"; temperatures: nozzle {header.nozzle_temp_c:g} C, bed {header.bed_temp_c:g} C",
        f"; extrusion: {'relative' if profile.relative_e else 'absolute'} E, "
        f"{header.mm3_per_e:.6f} mm3 per unit of E",
        f"; sequence: {sequence}; tablets: {len(tablets)}; total target volume {total:.4f} mm3",
    ]
    for i, t in enumerate(tablets):
        dose = f"target {t.target_mg:.4f} mg, " if t.target_mg is not None else ""
        lines.append(
            f"; tablet {i} ({t.name}): {dose}volume {t.flow.target_volume_mm3:.4f} mm3 "
            f"(sliced {t.flow.sliced_volume_mm3:.4f} mm3, flow correction "
            f"{t.flow.correction:.5f}), at X{t.offset_xy_mm[0]:.3f} Y{t.offset_xy_mm[1]:.3f}"
        )
    lines.extend(f"; {note}" for note in header.notes)
    return lines
