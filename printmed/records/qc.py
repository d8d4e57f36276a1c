"""QC from unit weights: estimated content per unit, Ph. Eur. 2.9.5 and 2.9.40, pass or fail.

Content is estimated from mass with the lot's drug fraction (loading × assay): a patient batch
of 7–30 units is released on per-unit weights, not by destroying units for assay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dosing.uniformity import AV_K, acceptance_value, mass_uniformity
from printmed.errors import InputError

MIN_UNITS = 2


def drug_fraction(formulation: Mapping[str, Any]) -> float:
    """mg of drug per mg of printed material: loading w/w × assay."""
    assay = formulation.get("assay_percent")
    if assay is None:
        raise InputError(
            "formulation.assay_percent", None, "is missing; content cannot be estimated"
        )
    return float(formulation["loading_percent_w_w"]) / 100.0 * float(assay) / 100.0


def target_unit_mass_mg(dose_mg: float, formulation: Mapping[str, Any]) -> float:
    """The mass (mg) of printed material that holds `dose_mg` of drug."""
    return dose_mg / drug_fraction(formulation)


def _number(field: str, text: str, reason: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(field, text, reason) from None


def unit_weights(typed: Sequence[str]) -> list[float]:
    """The masses (mg) typed one per unit, unit 1 first, blanks skipped; a decimal comma is read
    as a point. The first that is not a positive mass is refused naming its unit (`unit 3`)."""
    weights = []
    for number, raw in enumerate(typed, start=1):
        text = raw.strip().replace(",", ".")
        if not text:
            continue
        value = _number(f"unit {number}", text, "is not a mass in mg")
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"unit {number}", text, "is not a positive mass in mg")
        weights.append(value)
    return weights


def parse_weights(text: str) -> list[float]:
    """`101.2,99.8,…` (mg) as numbers; each must be a positive finite mass."""
    weights = []
    for index, part in enumerate(text.replace(";", ",").split(",")):
        part = part.strip()
        if not part:
            continue
        weights.append(_number(f"weights[{index}]", part, "is not a number (mg)"))
    return weights


def assess(
    weights_mg: Sequence[float], *, dose_mg: float, formulation: Mapping[str, Any], units: int
) -> dict[str, Any]:
    """QC of one batch from its unit weights (mg, one per unit, in unit order).

    Returns the estimated content of each unit (mg and % of `dose_mg`), the mass uniformity
    (2.9.5, all units), the acceptance value (2.9.40 with k = 2.0 from 30 units, else 2.4) and
    `passed`, which needs both. A batch of fewer than 10 units is assessed with k = 2.4 and
    marked `reduced_sample` for the pharmacist to judge.
    """
    if not MIN_UNITS <= len(weights_mg) <= units:
        raise InputError("weights", len(weights_mg), f"units weighed; the batch has {units}")
    for index, weight in enumerate(weights_mg):
        if not math.isfinite(weight) or weight <= 0:
            raise InputError(f"weights[{index}]", weight, "is not a positive mass in mg")
    fraction = drug_fraction(formulation)
    contents_mg = [w * fraction for w in weights_mg]
    contents_percent = [c / dose_mg * 100.0 for c in contents_mg]
    mass = mass_uniformity(weights_mg)
    k = AV_K[30] if len(weights_mg) >= 30 else AV_K[10]
    av = acceptance_value(contents_percent, k=k)
    return {
        "units_weighed": len(weights_mg),
        "units_in_batch": units,
        "dose_mg": dose_mg,
        "drug_fraction": fraction,
        "target_unit_mass_mg": target_unit_mass_mg(dose_mg, formulation),
        "weights_mg": list(weights_mg),
        "contents_mg": contents_mg,
        "contents_percent": contents_percent,
        "mass_uniformity": mass.to_dict(),
        "acceptance_value": av.to_dict(),
        "reduced_sample": len(weights_mg) < 10,
        "passed": bool(mass.passed and av.passed),
    }
