"""Pharmacopoeial uniformity: Ph. Eur. 2.9.5 (mass) and 2.9.40 / USP <905> (acceptance value).

Pure functions on the weighed units, used by QC before a pharmacist releases a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dosing.errors import UniformityInputError

MASS_SAMPLE_UNITS = 20
AV_K = {10: 2.4, 30: 2.0}
L1 = 15.0
L2 = 25.0
REFERENCE_LOW, REFERENCE_HIGH = 98.5, 101.5


@dataclass(frozen=True)
class MassUniformity:
    """Ph. Eur. 2.9.5 on the weighed units: deviations in % of the mean mass."""

    units: int
    mean_mg: float
    limit_percent: float
    deviations_percent: tuple[float, ...]
    outside_limit: int
    outside_twice_limit: int
    sample_size_ok: bool
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AcceptanceValue:
    """Ph. Eur. 2.9.40: AV = |M − X̄| + k·s on contents in % of label claim."""

    units: int
    mean_percent: float
    sd_percent: float
    k: float
    reference_percent: float
    value: float
    stage: int
    outside_l2: int
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mass_limit_percent(mean_mg: float) -> float:
    """2.9.5 tablets: 10 % at ≤ 80 mg, 7.5 % between 80 and 250 mg, 5 % at ≥ 250 mg."""
    if mean_mg <= 80.0:
        return 10.0
    if mean_mg < 250.0:
        return 7.5
    return 5.0


def mass_uniformity(masses_mg: Sequence[float]) -> MassUniformity:
    """At most 2 units outside the limit and none outside twice it (20 units make the test)."""
    masses = _positive_finite(masses_mg, "masses_mg")
    mean = float(masses.mean())
    limit = mass_limit_percent(mean)
    deviations = (masses - mean) / mean * 100.0
    outside = int(np.sum(np.abs(deviations) > limit))
    outside_twice = int(np.sum(np.abs(deviations) > 2 * limit))
    return MassUniformity(
        units=len(masses),
        mean_mg=mean,
        limit_percent=limit,
        deviations_percent=tuple(float(d) for d in deviations),
        outside_limit=outside,
        outside_twice_limit=outside_twice,
        sample_size_ok=len(masses) >= MASS_SAMPLE_UNITS,
        passed=outside <= 2 and outside_twice == 0,
    )


def acceptance_value(contents_percent: Sequence[float], k: float | None = None) -> AcceptanceValue:
    """Acceptance value of 10 (stage 1) or 30 (stage 2) units; contents in % of label claim.

    Stage 1 passes at AV ≤ L1 = 15; stage 2 at AV ≤ L1 with every unit within
    (1 ± L2/100)·M, L2 = 25. Other unit counts need an explicit k.
    """
    contents = _positive_finite(contents_percent, "contents_percent")
    n = len(contents)
    if k is None:
        if n not in AV_K:
            raise UniformityInputError("units", n, "has no k in 2.9.40 (10 or 30 units); pass k")
        k = AV_K[n]
    if n < 2:
        raise UniformityInputError("units", n, "is too few for a standard deviation")
    mean = float(contents.mean())
    sd = float(contents.std(ddof=1))
    reference = min(max(mean, REFERENCE_LOW), REFERENCE_HIGH)
    value = abs(reference - mean) + k * sd
    stage = 2 if n >= 30 else 1
    low, high = (1 - L2 / 100) * reference, (1 + L2 / 100) * reference
    outside_l2 = int(np.sum((contents < low) | (contents > high)))
    passed = value <= L1 and (stage == 1 or outside_l2 == 0)
    return AcceptanceValue(n, mean, sd, k, reference, value, stage, outside_l2, passed)


def _positive_finite(values: Sequence[float], field: str) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if array.ndim != 1 or len(array) == 0:
        raise UniformityInputError(field, list(values), "needs at least one value")
    for index, value in enumerate(array):
        if not math.isfinite(value) or value <= 0:
            raise UniformityInputError(
                f"{field}[{index}]", float(value), "is not a positive number"
            )
    return array
