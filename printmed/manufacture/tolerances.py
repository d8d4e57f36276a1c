"""The numerical tolerances of manufacture in one place, named and with units.

Like `trimesh.constants.tol`: one frozen object, read where a tolerance is applied, so a change
of a limit is one line that every check sees.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ManufactureTolerances:
    """dose_relative: each tablet's read-back dose within ±this of its target (0.01 = ±1 %).
    unlabelled_volume_mm3: material the G-code may extrude outside any tablet label (float
    noise only). filament_mismatch_mm: a lot's measured filament diameter may differ from the
    printer's feeder by at most this."""

    dose_relative: float = 0.01
    unlabelled_volume_mm3: float = 1e-6
    filament_mismatch_mm: float = 0.15


TOL = ManufactureTolerances()
