"""Calibration of a lot on a printer: weighed mass against programmed volume, least squares.

Printed mass is linear in programmed volume (R² ≥ 0.99 in published FDM and SSE work); a fit
worse than that says the process is not under control, and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dosing.errors import CalibrationRejected

MIN_R_SQUARED = 0.99
MIN_POINTS = 3


@dataclass(frozen=True)
class CalibrationFit:
    """mass_mg = slope_mg_per_mm3 × volume_mm3 + intercept_mg, with its goodness of fit."""

    points: int
    slope_mg_per_mm3: float
    intercept_mg: float
    r_squared: float
    residuals_mg: tuple[float, ...]

    def mass_mg(self, volume_mm3: float) -> float:
        return self.slope_mg_per_mm3 * volume_mm3 + self.intercept_mg

    def volume_mm3(self, mass_mg: float) -> float:
        """Programmed volume that prints `mass_mg`."""
        return (mass_mg - self.intercept_mg) / self.slope_mg_per_mm3

    def factor_for(self, density_g_cm3: float, volume_mm3: float) -> float:
        """Calibration factor at a volume: printed mass over nominal (density × volume)."""
        return self.mass_mg(volume_mm3) / (density_g_cm3 * volume_mm3)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_calibration(volumes_mm3: Sequence[float], masses_mg: Sequence[float]) -> CalibrationFit:
    """Least-squares line through (volume, mass); refused below R² 0.99 or with too few points."""
    volumes = np.asarray(list(volumes_mm3), dtype=float)
    masses = np.asarray(list(masses_mg), dtype=float)
    if volumes.shape != masses.shape or volumes.ndim != 1:
        raise CalibrationRejected(
            "masses_mg", len(list(masses_mg)), f"does not pair with {len(volumes)} volumes"
        )
    if len(volumes) < MIN_POINTS:
        raise CalibrationRejected("points", len(volumes), f"is fewer than {MIN_POINTS}")
    for name, array in (("volumes_mm3", volumes), ("masses_mg", masses)):
        for index, value in enumerate(array):
            if not math.isfinite(value) or value <= 0:
                raise CalibrationRejected(
                    f"{name}[{index}]", float(value), "is not a positive number"
                )
    if np.ptp(volumes) == 0:
        raise CalibrationRejected("volumes_mm3", float(volumes[0]), "are all equal; no slope")
    slope, intercept = np.polyfit(volumes, masses, 1)
    predicted = slope * volumes + intercept
    residuals = masses - predicted
    total = float(np.sum((masses - masses.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else 0.0
    if slope <= 0:
        raise CalibrationRejected("slope_mg_per_mm3", float(slope), "is not positive")
    if r_squared < MIN_R_SQUARED:
        raise CalibrationRejected("r_squared", round(r_squared, 4), f"is below {MIN_R_SQUARED}")
    return CalibrationFit(
        points=len(volumes),
        slope_mg_per_mm3=float(slope),
        intercept_mg=float(intercept),
        r_squared=r_squared,
        residuals_mg=tuple(float(r) for r in residuals),
    )


@dataclass(frozen=True)
class FactorProposal:
    """A new calibration factor for a lot on a printer, from a fit of its weighed units.

    factor: printed mass per programmed mm³ over the lot's density, at the points' mean volume
    (what `Formulation.calibration_factor` must be for programmed volume to hold the dose);
    off_percent: how far the factor in use is from it, % of the factor in use.
    """

    factor_in_use: float
    factor: float
    off_percent: float
    at_volume_mm3: float
    fit: CalibrationFit

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fit": self.fit.to_dict()}


FACTOR_BOUNDS = (0.5, 1.5)  # Formulation.calibration_factor's own: beyond, the lot is wrong


def propose_factor(
    volumes_mm3: Sequence[float],
    masses_mg: Sequence[float],
    *,
    density_g_cm3: float,
    factor_in_use: float,
    margin_percent: float,
) -> FactorProposal | None:
    """Fit mass on programmed volume (R² ≥ 0.99 or CalibrationRejected) and propose the factor
    the fit gives when it differs from `factor_in_use` by more than `margin_percent`; None when
    the factor in use is within the margin.

    volumes_mm3: (n,) programmed volume of each weighed unit, mm³ (the gate's read-back of the
    G-code); masses_mg: (n,) its weighed mass, mg; density_g_cm3 = mg/mm³.
    """
    fit = fit_calibration(volumes_mm3, masses_mg)
    at_volume = float(np.mean(np.asarray(list(volumes_mm3), dtype=float)))
    factor = fit.factor_for(density_g_cm3, at_volume)
    low, high = FACTOR_BOUNDS
    if not low < factor < high:
        raise CalibrationRejected("factor", round(factor, 4), f"is outside {low}–{high}")
    off_percent = (factor / factor_in_use - 1.0) * 100.0
    if abs(off_percent) <= margin_percent:
        return None
    return FactorProposal(factor_in_use, factor, off_percent, at_volume, fit)
