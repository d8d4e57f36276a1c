"""The dose gate: read G-code back with the independent reader; hold each tablet to its dose.

Nothing the G-code says about itself is trusted: volume comes from E × the machine profile's
mm³ per unit of E, dose from volume × the lot's drug content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from gcode.analyze import Analysis, analyze
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
    extrusion outside any label, a label count other than the targets', temperatures above
    the profile's limits.
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
    if sorted(reading.objects) != list(range(len(targets))):
        raise DoseGateFailed(
            "gcode.objects", sorted(reading.objects), f"do not match the {len(targets)} tablets"
        )
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
