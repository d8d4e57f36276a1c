"""Body surface area formulas for mg/m² dosing; each takes height in cm and weight in kg.

The formula used is named in the dose trail, since they differ by a few per cent in children.
"""

from __future__ import annotations

import math
from collections.abc import Callable

BsaFunction = Callable[[float, float], float]


def mosteller(height_cm: float, weight_kg: float) -> float:
    """Mosteller (1987): √(height_cm × weight_kg / 3600), m²."""
    return math.sqrt(height_cm * weight_kg / 3600.0)


def du_bois(height_cm: float, weight_kg: float) -> float:
    """Du Bois & Du Bois (1916): 0.007184 × H^0.725 × W^0.425, m²."""
    return 0.007184 * height_cm**0.725 * weight_kg**0.425


def haycock(height_cm: float, weight_kg: float) -> float:
    """Haycock et al. (1978): 0.024265 × H^0.3964 × W^0.5378, m²."""
    return 0.024265 * height_cm**0.3964 * weight_kg**0.5378


BSA_FORMULAS: dict[str, tuple[BsaFunction, str]] = {
    "mosteller": (mosteller, "sqrt(height_cm * weight_kg / 3600)"),
    "dubois": (du_bois, "0.007184 * height_cm^0.725 * weight_kg^0.425"),
    "haycock": (haycock, "0.024265 * height_cm^0.3964 * weight_kg^0.5378"),
}
