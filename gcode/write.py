"""Write a plate of sliced tablets as Marlin G-code, FDM or SSE, with dose-exact extrusion.

Every tablet's moves sit between `M486 S<i>` and `M486 S-1`, retractions included, so a reader
can attribute all material to tablets; the header states each tablet's targets. A plate that
primes lays its purge line first as one more object, `M486 S<n>` after the n tablets, named
`M486 Aprime` (PrusaSlicer's Marlin form), and resets E after it so the tablets are written as
without it. No extrusion is
written below the file's resolution (0.001 mm in X and Y, one unit of the last E decimal): such a
segment merges into its neighbour and its E stays with its tablet. The moves are planned and
formatted for the whole plate at once (gcode.moves); only the header and fixed lines are Python's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from gcode import moves
from gcode.cut import FloatArray, IntArray
from gcode.errors import MaterialWindowRefused, SettingsInvalid
from gcode.flow import PartFlow
from gcode.plate import PrimeLine
from gcode.profile import MAX_SSE_TEMP_C, MachineProfile
from gcode.slice import SlicedPart
from gcode.toolpaths import Path

Sequence = Literal["layers", "parts"]
RETRACT_MIN_TRAVEL_MM = 2.0
XY_DECIMALS = 3  # X and Y are written to 0.001 mm
XY_RESOLUTION_MM = 10.0**-XY_DECIMALS
PRIME_NAME = "prime"  # the prime object's `M486 A` name; the reader has its own word for it


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


def ordered_paths(
    paths: list[Path], x: float, y: float, offset: FloatArray
) -> Iterator[FloatArray]:
    """Paths moved to the plate, loops started at their point nearest the nozzle, closed: the
    order the writer takes them in from (x, y) mm (one function, moves.order_path, for both)."""
    ox, oy = float(offset[0]), float(offset[1])
    for p in paths:
        out = np.empty((len(p.points) + 1, 2))
        count = moves.order_path(p.points, p.closed, ox, oy, x, y, out)
        x, y = float(out[count - 1, 0]), float(out[count - 1, 1])
        yield out[:count]


@dataclass(frozen=True)
class _Toolpaths:
    """Every path of the plate's distinct parts in flat arrays: points (P, 2) mm; path p is
    points[path_start[p]:path_start[p + 1]]; layer j (numbered across the parts) holds paths
    layer_path_start[j]:layer_path_start[j + 1]; a part's first layer is first_layer[part]."""

    points: FloatArray
    path_start: IntArray
    path_closed: npt.NDArray[np.bool_]
    layer_path_start: IntArray
    layer_records: IntArray  # most records a layer's paths can make
    first_layer: dict[int, int]
    longest: int


def _flatten(tablets: list[PlacedTablet]) -> _Toolpaths:
    arrays: list[FloatArray] = []
    lengths: list[int] = []
    closed: list[bool] = []
    layer_paths = [0]
    layer_records: list[int] = []
    first_layer: dict[int, int] = {}
    for t in tablets:
        if id(t.part) in first_layer:
            continue
        first_layer[id(t.part)] = len(layer_paths) - 1
        for k, layer in enumerate(t.part.layers):
            records = 0
            for j, p in enumerate(layer.paths):
                if len(p.points) < 2:  # the compiled passes index a path's first and last point
                    raise SettingsInvalid(
                        f"{t.name}.layer[{k}].paths[{j}].points", len(p.points), "is not a path"
                    )
                arrays.append(p.points)
                lengths.append(len(p.points))
                closed.append(p.closed)
                records += len(p.points) + _RECORDS_PER_PATH
            layer_paths.append(len(lengths))
            layer_records.append(records)
    points = np.concatenate(arrays).astype(np.float64) if arrays else np.empty((0, 2))
    path_start = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=path_start[1:])
    return _Toolpaths(
        np.ascontiguousarray(points),
        path_start,
        np.array(closed, dtype=np.bool_),
        np.array(layer_paths, dtype=np.int64),
        np.array(layer_records, dtype=np.int64),
        first_layer,
        max(lengths, default=0),
    )


_RECORDS_PER_PATH = 6  # a retract, a lift, a travel, a lowering, an unretract, a closing point


def write_gcode(
    tablets: list[PlacedTablet],
    profile: MachineProfile,
    header: PlateHeader,
    sequence: Sequence = "layers",
    progress: Callable[[int, int], None] | None = None,
    prime: PrimeLine | None = None,
) -> str:
    """The G-code text of a plate: header, start script, prime line, labelled tablets, end
    script.

    `layers` prints layer k of every tablet before layer k + 1 (snake order, reversed every
    layer); `parts` prints one tablet after another and needs the gantry to clear them.
    `progress` hears (steps, steps) once the plate is written: it is written in one pass.
    `prime` (gcode.plate.plan_prime) is laid first, as object n after the n tablets; it must
    be on the bed and one part spacing clear of every tablet's paths.
    """
    check_temperatures(profile, header.nozzle_temp_c, header.bed_temp_c)
    if prime is not None:
        check_prime_clear(prime, tablets, profile)
    tallest = max(t.part.height_mm for t in tablets)
    if sequence == "parts" and tallest > profile.gantry_clearance_mm:
        raise SettingsInvalid(
            "sequence",
            sequence,
            f"needs tablets below {profile.id}'s gantry clearance of "
            f"{profile.gantry_clearance_mm:g} mm (tallest is {tallest:g} mm)",
        )
    mm3_per_e = header.mm3_per_e
    # E resolution of 0.001 mm³ or finer (a syringe's E is 100 times a filament's volume)
    decimals = max(5, math.ceil(math.log10(mm3_per_e / 0.001)))
    travel_f = profile.travel_speed_mm_s * 60.0
    lines = _header(tablets, profile, header, sequence)
    if prime is not None:
        lines.append(_prime_note(prime, len(tablets)))
    values = {"nozzle_temp_c": f"{header.nozzle_temp_c:g}", "bed_temp_c": f"{header.bed_temp_c:g}"}
    lines.extend(line.format(**values) for line in profile.start_gcode)
    lines.append("M83" if profile.relative_e else "M82")
    lines.append("G92 E0")
    lines.append(f"M486 T{len(tablets) + (prime is not None)}")
    if prime is not None:
        lines.extend(_prime_lines(prime, len(tablets), profile, mm3_per_e, decimals))
    paths = _flatten(tablets)
    step_rows, step_columns, snippets = _steps(tablets, profile, sequence, paths, tallest)
    rules = (
        1.0 / mm3_per_e,
        10.0**decimals,  # np.round's scale: exact up to 10**22
        0.5 * 10.0**-decimals,  # half the smallest E step the file can state
        1.001 * XY_RESOLUTION_MM,  # more than a unit apart is apart as written, however rounded
        XY_DECIMALS,
        profile.relative_e,
        profile.retraction_speed_mm_s * 60.0,
        profile.retraction_mm,
        profile.z_hop_mm,
        RETRACT_MIN_TRAVEL_MM,
        travel_f,
        len(tablets),
        int(paths.layer_records[step_rows[:, 1]].sum()) + 2 * len(step_rows),  # records at most
        paths.longest,
    )
    kind, aux, cols = moves.plan_moves(
        paths.points,
        paths.path_start,
        paths.path_closed,
        paths.layer_path_start,
        step_rows,
        step_columns,
        _CLOSE_LABEL,
        rules,
    )
    snippet_bytes, snippet_start = moves.pack_snippets(snippets)
    body = moves.format_moves(kind, aux, cols, XY_DECIMALS, decimals, snippet_bytes, snippet_start)
    if len(kind) and not len(body):
        largest = float(np.abs(cols).max())
        raise SettingsInvalid("plate", largest, f"is beyond {decimals}-decimal G-code numbers")
    if progress is not None:
        progress(len(step_rows), len(step_rows))
    if len(body):
        lines.append(body[:-1].tobytes().decode("ascii"))  # its last newline comes with the join
    lines.extend(profile.end_gcode)
    lines.append("; end of printmed job")
    return "\n".join(lines) + "\n"


_CLOSE_LABEL = 0  # the first snippet: "M486 S-1"


def check_prime_clear(
    prime: PrimeLine, tablets: list[PlacedTablet], profile: MachineProfile
) -> None:
    """Refuse a prime line off the bed, or nearer a tablet's paths (± half a line width) than
    the profile's part spacing."""
    bed_x, bed_y, _ = profile.build_volume_mm
    x0, y0, x1, y1 = prime.footprint_mm()
    if x0 < 0 or y0 < 0 or x1 > bed_x or y1 > bed_y:
        raise SettingsInvalid(
            "prime", [round(v, 3) for v in (x0, y0, x1, y1)], f"is off {profile.id}'s bed"
        )
    half = profile.line_width_mm / 2
    clearance = profile.part_spacing_mm - XY_RESOLUTION_MM  # as written, to 0.001 mm
    bounds: dict[int, tuple[float, float, float, float]] = {}
    for i, t in enumerate(tablets):
        if id(t.part) not in bounds:
            points = [p.points for layer in t.part.layers for p in layer.paths]
            every = np.concatenate(points) if points else np.zeros((1, 2))
            low, high = every.min(axis=0), every.max(axis=0)
            bounds[id(t.part)] = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
        lx, ly, hx, hy = bounds[id(t.part)]
        ox, oy = t.offset_xy_mm
        gap_x = max(lx + ox - half - x1, x0 - (hx + ox + half))
        gap_y = max(ly + oy - half - y1, y0 - (hy + oy + half))
        if max(gap_x, gap_y) < clearance:
            raise SettingsInvalid(
                "prime",
                [round(v, 3) for v in (x0, y0, x1, y1)],
                f"is within {profile.part_spacing_mm:g} mm of tablet {i} ({t.name})",
            )


def _prime_note(prime: PrimeLine, label: int) -> str:
    (x0, y0), (x1, y1) = prime.start_xy_mm, prime.end_xy_mm
    pressure = ""
    if prime.pressure_mm3:
        pressure = f" after {prime.pressure_mm3:.4f} mm3 to build pressure"
    return (
        f"; prime (object {label}, not a tablet): {prime.volume_mm3:.4f} mm3 along "
        f"X{x0:.3f} Y{y0:.3f} to X{x1:.3f} Y{y1:.3f}{pressure}"
    )


def _prime_lines(
    prime: PrimeLine, label: int, profile: MachineProfile, mm3_per_e: float, decimals: int
) -> list[str]:
    """The prime object: travel above the line's start, push the pressure volume standing,
    lay the line at the first layer's feed, close the label and reset E."""
    travel_f = f"F{profile.travel_speed_mm_s * 60.0:.0f}"
    (x0, y0), (x1, y1) = prime.start_xy_mm, prime.end_xy_mm
    pressure_e = prime.pressure_mm3 / mm3_per_e
    line_e = prime.volume_mm3 / mm3_per_e
    lines = [
        f"M486 S{label}",
        f"M486 A{PRIME_NAME}",
        f"G1 Z{prime.z_mm + profile.z_hop_mm:.3f} {travel_f}",
        f"G0 X{x0:.3f} Y{y0:.3f} {travel_f}",
        f"G1 Z{prime.z_mm:.3f} {travel_f}",
    ]
    if pressure_e > 0:
        lines.append(
            f"G1 E{pressure_e:.{decimals}f} F{profile.retraction_speed_mm_s * 60.0:.0f}"
            " ; build pressure"
        )
    end_e = line_e if profile.relative_e else pressure_e + line_e
    lines.append(
        f"G1 X{x1:.3f} Y{y1:.3f} E{end_e:.{decimals}f} F{profile.first_layer_speed_mm_s * 60.0:.0f}"
    )
    lines += ["M486 S-1", "G92 E0"]
    return lines


def _steps(
    tablets: list[PlacedTablet],
    profile: MachineProfile,
    sequence: Sequence,
    paths: _Toolpaths,
    tallest: float,
) -> tuple[IntArray, FloatArray, list[str]]:
    """Each step (one tablet's layer) in print order, as plan_moves takes them: (S, 4) tablet,
    layer of `paths`, opening snippet, lift; (S, 6) offset x and y mm, mm³ per mm, feed
    mm/min, z to clear (NaN: none), z it sets (NaN: none); and the snippets' text."""
    travel_f = profile.travel_speed_mm_s * 60.0
    n_layers = max(len(t.part.layers) for t in tablets)
    if sequence == "layers":
        order = [(k, i) for k in range(n_layers) for i in _snake(len(tablets), k)]
    else:
        order = [(k, i) for i in range(len(tablets)) for k in range(len(tablets[i].part.layers))]
    snippets = ["M486 S-1"]
    rows: list[tuple[int, int, int, bool]] = []
    columns: list[tuple[float, float, float, float, float, float]] = []
    current_layer = -1
    for k, i in order:
        tablet = tablets[i]
        if k >= len(tablet.part.layers):
            continue
        layer = tablet.part.layers[k]
        lift = sequence == "parts" and k == 0 and i > 0
        opening = []
        z = math.nan  # the layer's z stays
        if k != current_layer or lift:
            opening.append(f";LAYER:{k}")
            if not lift:  # a new tablet's first layer is reached from above, inside its label
                opening.append(f"G1 Z{layer.z_mm:.3f} F{travel_f:.0f}")
            z = layer.z_mm
            current_layer = k
        opening.append(f"M486 S{i}")
        rows.append((i, paths.first_layer[id(tablet.part)] + k, len(snippets), lift))
        snippets.append("\n".join(opening))
        speed = profile.first_layer_speed_mm_s if k == 0 else profile.print_speed_mm_s
        clear_z = tallest + profile.z_hop_mm if lift else math.nan
        x, y = tablet.offset_xy_mm
        columns.append((x, y, float(tablet.flow.mm3_per_mm[k]), speed * 60.0, clear_z, z))
    step_rows = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return step_rows, np.array(columns, dtype=np.float64).reshape(-1, 6), snippets


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
