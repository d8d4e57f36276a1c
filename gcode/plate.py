"""Arrange tablets on the bed: rows of footprints with the printer's safe spacing, centred.

Offsets are where each tablet's XY origin goes on the bed; a plate that does not fit is refused.
"""

from __future__ import annotations

from gcode.errors import PartTooLarge
from gcode.profile import MachineProfile


def arrange(
    footprints_mm: list[tuple[float, float]], profile: MachineProfile
) -> list[tuple[float, float]]:
    """Bed positions (mm) of tablet centres for (width, depth) footprints, in input order.

    Shelf packing, rows left to right then front to back, `part_spacing_mm` between parts and
    from the bed's edge; the block is centred on the bed.
    """
    bed_x, bed_y, _ = profile.build_volume_mm
    gap = profile.part_spacing_mm
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
    if total_y > bed_y - 2 * gap:
        raise PartTooLarge(
            "plate.tablets",
            len(footprints_mm),
            f"tablets need {total_y:.1f} mm of depth; {profile.id} has {bed_y - 2 * gap:.1f}",
        )
    shift_x = (bed_x - max(spans)) / 2
    shift_y = (bed_y - total_y) / 2
    return [(px + shift_x, py + shift_y) for px, py in positions]
