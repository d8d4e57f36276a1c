"""Arrange tablets on the bed: rows of footprints with the printer's safe spacing, centred,
clear of the prime line the profile lays at the bed's front edge.

Offsets are where each tablet's XY origin goes on the bed; a plate that does not fit is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from gcode.errors import PartTooLarge
from gcode.profile import MachineProfile


@dataclass(frozen=True)
class PrimeLine:
    """The purge line laid before the first tablet: from `start_xy_mm` to `end_xy_mm` (bed mm)
    at `z_mm`, `width_mm` wide, holding `volume_mm3`, after `pressure_mm3` pushed with the
    nozzle standing at its start (a syringe's pressure build-up)."""

    start_xy_mm: tuple[float, float]
    end_xy_mm: tuple[float, float]
    z_mm: float
    width_mm: float
    volume_mm3: float
    pressure_mm3: float

    def footprint_mm(self) -> tuple[float, float, float, float]:
        """(x min, y min, x max, y max) of the material the line lays, in bed mm."""
        half = self.width_mm / 2
        (x0, y0), (x1, y1) = self.start_xy_mm, self.end_xy_mm
        return min(x0, x1) - half, min(y0, y1) - half, max(x0, x1) + half, max(y0, y1) + half


def plan_prime(profile: MachineProfile) -> PrimeLine | None:
    """The profile's prime line (None if it primes nothing): along the bed's front edge, one
    part spacing in from the edge and the left margin, at the first layer's height; `arrange`
    keeps `profile.prime_band_mm` behind it free of tablets."""
    if not profile.primes:
        return None
    gap = profile.part_spacing_mm
    width = profile.prime_line_width_mm
    x, y = gap + width / 2, gap + width / 2
    return PrimeLine(
        (x, y),
        (x + profile.prime_line_mm, y),
        profile.first_layer_height_mm,
        width,
        profile.prime_volume_mm3,
        profile.prime_pressure_mm3,
    )


def arrange(
    footprints_mm: list[tuple[float, float]], profile: MachineProfile
) -> list[tuple[float, float]]:
    """Bed positions (mm) of tablet centres for (width, depth) footprints, in input order.

    Shelf packing, rows left to right then front to back, `part_spacing_mm` between parts and
    from the bed's edge; the block is centred on the bed, and moved back if centring would put
    it in the prime band (`profile.prime_band_mm` behind the front margin).
    """
    bed_x, bed_y, _ = profile.build_volume_mm
    gap = profile.part_spacing_mm
    band = profile.prime_band_mm
    usable_x = bed_x - 2 * gap
    rows: list[list[int]] = [[]]
    row_width = 0.0
    for i, (width, _depth) in enumerate(footprints_mm):
        if width > usable_x:
            raise PartTooLarge(
                f"tablet[{i}].width_mm",
                round(width, 3),
                f"does not fit {profile.id}'s bed with {gap:g} mm margins",
            )
        needed = width if not rows[-1] else row_width + gap + width
        if needed > usable_x:
            rows.append([])
            needed = width
        rows[-1].append(i)
        row_width = needed
    positions: list[tuple[float, float]] = [(0.0, 0.0)] * len(footprints_mm)
    y = 0.0
    spans = []
    for row in rows:
        depth = max(footprints_mm[i][1] for i in row)
        x = 0.0
        for i in row:
            width = footprints_mm[i][0]
            positions[i] = (x + width / 2, y + depth / 2)
            x += width + gap
        spans.append(x - gap)
        y += depth + gap
    total_y = y - gap
    if total_y > bed_y - 2 * gap - band:
        beside = " beside its prime line" if band else ""
        raise PartTooLarge(
            "plate.tablets",
            len(footprints_mm),
            f"tablets need {total_y:.1f} mm of depth; {profile.id} has "
            f"{bed_y - 2 * gap - band:.1f}{beside}",
        )
    shift_x = (bed_x - max(spans)) / 2
    shift_y = max((bed_y - total_y) / 2, gap + band)
    return [(px + shift_x, py + shift_y) for px, py in positions]
