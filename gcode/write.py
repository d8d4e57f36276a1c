"""Write a plate of sliced tablets as Marlin G-code, FDM or SSE, with dose-exact extrusion.

Every tablet's moves sit between `M486 S<i>` and `M486 S-1`, retractions included, so a reader
can attribute all material to tablets; the header states each tablet's targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gcode.cut import FloatArray
from gcode.errors import MaterialWindowRefused, SettingsInvalid
from gcode.flow import PartFlow
from gcode.profile import MAX_SSE_TEMP_C, MachineProfile
from gcode.slice import SlicedPart
from gcode.toolpaths import Path

Sequence = Literal["layers", "parts"]
RETRACT_MIN_TRAVEL_MM = 2.0


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


class _Writer:
    """Holds the position, the exact cumulative E and the lines; emits moves."""

    def __init__(self, profile: MachineProfile, mm3_per_e: float) -> None:
        self.profile = profile
        self.e_per_mm3 = 1.0 / mm3_per_e
        # E resolution of 0.001 mm³ or finer (a syringe's E is 100 times a filament's volume)
        self.decimals = max(5, math.ceil(math.log10(mm3_per_e / 0.001)))
        self.lines: list[str] = []
        self.x = self.y = 0.0
        self.z = 0.0
        self.e_exact = 0.0  # cumulative E in exact arithmetic
        self.e_written = 0.0  # cumulative E as rounded in the file
        self.travel_f = profile.travel_speed_mm_s * 60.0
        self.retract_f = profile.retraction_speed_mm_s * 60.0

    def _e_words(self, e_cumulative: FloatArray) -> list[str]:
        """E words for moves ending at these exact cumulative E values (absolute or relative)."""
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

    def travel(self, x: float, y: float, lift: bool, clear_z: float | None = None) -> None:
        """Move without extruding; long or lifted moves retract and hop (to clear_z if given)."""
        distance = float(np.hypot(x - self.x, y - self.y))
        if distance < 1e-4 and clear_z is None:
            return
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

    def path(self, points: FloatArray, mm3_per_mm: float, feed: float) -> None:
        """Extrude along (k, 2) float mm points, starting at the current position."""
        step = np.hypot(*np.diff(np.vstack([[self.x, self.y], points]), axis=0).T)
        e_cum = self.e_exact + np.cumsum(step) * mm3_per_mm * self.e_per_mm3
        words = self._e_words(e_cum)
        xs = points[:, 0].tolist()
        ys = points[:, 1].tolist()
        lines = self.lines
        lines.append(f"G1 X{xs[0]:.3f} Y{ys[0]:.3f} E{words[0]} F{feed:.0f}")
        lines.extend(
            f"G1 X{x:.3f} Y{y:.3f} E{e}" for x, y, e in zip(xs[1:], ys[1:], words[1:], strict=True)
        )
        self.x, self.y = xs[-1], ys[-1]


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
        first = True
        for pts in ordered_paths(layer.paths, w.x, w.y, offset):
            clear_z = tallest + profile.z_hop_mm if first and lift else None
            w.travel(float(pts[0, 0]), float(pts[0, 1]), lift=first, clear_z=clear_z)
            first = False
            w.path(pts[1:], float(tablet.flow.mm3_per_mm[k]), feed)
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
