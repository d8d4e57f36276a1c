"""The dose gate: read G-code back with the independent reader; hold each tablet to its dose.

Nothing the G-code says about itself is trusted: volume comes from E × the machine profile's
mm³ per unit of E, dose from volume × the lot's drug content. A prime line (the reader's object
named `prime`) is no tablet: its volume is bounded by the profile, its place kept off the
tablets and on the bed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from gcode.analyze import Analysis, ObjectFigures, analyze
from gcode.errors import GcodeError
from gcode.profile import MachineProfile
from printmed.manufacture.tolerances import TOL

RELEASE_TOLERANCE = TOL.dose_relative  # ±1 % of the target dose per tablet


class DoseGateFailed(GcodeError):
    """A tablet's read-back dose is off target, or the G-code cannot be attributed safely."""


@dataclass(frozen=True)
class TabletCheck:
    """One tablet as the gate saw it: target and read-back dose (mg) and volume (mm³)."""

    index: int
    name: str
    target_mg: float
    gcode_mg: float
    deviation: float
    target_volume_mm3: float
    gcode_volume_mm3: float
    layers: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class GateTarget:
    """What one labelled tablet must hold."""

    name: str
    target_mg: float
    target_volume_mm3: float


def tablet_name(shape: str, dose_mg: float, step: int | None = None) -> str:
    """A tablet's label in the G-code and the gate's figures: `round 12.5 mg`, or for a
    schedule's step `step2 round 7.5 mg` (the writer and the stored gate both name it so)."""
    named = f"{shape} {dose_mg:g} mg"
    return named if step is None else f"step{step} {named}"


def check_dose(
    gcode_text: str,
    targets: list[GateTarget],
    profile: MachineProfile,
    mm3_per_e: float,
    drug_mg_per_mm3: float,
    tolerance: float = RELEASE_TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[TabletCheck], Analysis]:
    """Per-tablet figures; raises DoseGateFailed naming the first tablet or line that fails.

    Tablet i is the object labelled `M486 S<i>`. Also refused: malformed or unsupported lines,
    extrusion outside any label, a label count other than the targets' (a prime object aside),
    temperatures above the profile's limits, and a prime that `check_prime` refuses.
    """
    reading = analyze(gcode_text, mm3_per_e, progress=progress)
    problems = reading.malformed + reading.unsupported
    if problems:
        first = problems[0]
        raise DoseGateFailed(f"gcode.line[{first.line}]", first.text, f"is refused: {first.reason}")
    if abs(reading.unlabelled_volume_mm3) > TOL.unlabelled_volume_mm3:
        raise DoseGateFailed(
            "gcode.unlabelled_volume_mm3",
            round(reading.unlabelled_volume_mm3, 6),
            "is extruded outside any tablet label",
        )
    check_prime(reading, profile)
    tablets = sorted(set(reading.objects) - set(reading.prime_labels))
    if tablets != list(range(len(targets))):
        raise DoseGateFailed("gcode.objects", tablets, f"do not match the {len(targets)} tablets")
    if reading.max_nozzle_temp_c > profile.max_nozzle_temp_c:
        raise DoseGateFailed(
            "gcode.nozzle_temp_c",
            reading.max_nozzle_temp_c,
            f"is above {profile.id}'s limit of {profile.max_nozzle_temp_c:g}",
        )
    if reading.max_bed_temp_c > profile.max_bed_temp_c:
        raise DoseGateFailed(
            "gcode.bed_temp_c",
            reading.max_bed_temp_c,
            f"is above {profile.id}'s limit of {profile.max_bed_temp_c:g}",
        )
    checks = []
    for i, target in enumerate(targets):
        figures = reading.objects[i]
        gcode_mg = figures.volume_mm3 * drug_mg_per_mm3
        deviation = gcode_mg / target.target_mg - 1.0
        checks.append(
            TabletCheck(
                i,
                target.name,
                target.target_mg,
                gcode_mg,
                deviation,
                target.target_volume_mm3,
                figures.volume_mm3,
                figures.layers,
            )
        )
    for check in checks:
        if abs(check.deviation) > tolerance:
            raise DoseGateFailed(
                f"tablet[{check.index}]",
                f"{check.deviation:+.2%}",
                f"off target: G-code holds {check.gcode_mg:.4f} mg for a target of "
                f"{check.target_mg:.4f} mg (tolerance ±{tolerance:.0%})",
            )
    return checks, reading


def check_prime(reading: Analysis, profile: MachineProfile) -> None:
    """Refuse a second prime object, a prime volume outside [0, the profile's
    max_prime_volume_mm3], a prime laid after a tablet was opened, off the bed, or whose
    footprint (its extrusion ± half its width) touches a tablet's (± half a line width)."""
    primes = reading.prime_labels
    if not primes:
        return
    if len(primes) > 1:
        raise DoseGateFailed("gcode.prime", primes, "are two or more prime objects; one at most")
    label = primes[0]
    volume = reading.prime_volume_mm3
    limit = profile.max_prime_volume_mm3
    if not -TOL.unlabelled_volume_mm3 <= volume <= limit + TOL.unlabelled_volume_mm3:
        raise DoseGateFailed(
            "gcode.prime_volume_mm3",
            round(volume, 6),
            f"is outside 0 to {profile.id}'s max_prime_volume_mm3 of {limit:g}",
        )
    if next(iter(reading.objects)) != label:
        raise DoseGateFailed(
            "gcode.prime", label, "is opened after a tablet: a prime goes before the first"
        )
    prime = reading.objects[label]
    if not prime.extruding_moves:
        return  # pressure alone, laid nowhere on the bed
    px0, py0, px1, py1 = _footprint(prime, profile.prime_line_width_mm / 2)
    bed_x, bed_y, _ = profile.build_volume_mm
    if px0 < 0 or py0 < 0 or px1 > bed_x or py1 > bed_y:
        raise DoseGateFailed(
            "gcode.prime",
            [round(v, 3) for v in (px0, py0, px1, py1)],
            f"is off {profile.id}'s bed",
        )
    for other, figures in reading.objects.items():
        if other == label or not figures.extruding_moves:
            continue
        tx0, ty0, tx1, ty1 = _footprint(figures, profile.line_width_mm / 2)
        if px0 <= tx1 and tx0 <= px1 and py0 <= ty1 and ty0 <= py1:
            raise DoseGateFailed(
                "gcode.prime",
                [round(v, 3) for v in (px0, py0, px1, py1)],
                f"overlaps tablet {other}'s footprint",
            )


def _footprint(figures: ObjectFigures, half_width_mm: float) -> tuple[float, float, float, float]:
    """(x min, y min, x max, y max) mm of an object's extrusions, widened by half a line."""
    (x0, y0, _), (x1, y1, _) = figures.min_xyz_mm, figures.max_xyz_mm
    return x0 - half_width_mm, y0 - half_width_mm, x1 + half_width_mm, y1 + half_width_mm
