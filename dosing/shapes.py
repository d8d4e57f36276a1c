"""Tablet shapes: plan outline as a function of one size, their limits and surface formulas.

Every shape is a prism (plan outline × height), so volume = plan area × height exactly; the
plan scales with its main size, so area = area_coefficient × size² and the solver is closed-form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

CIRCLE_SEGMENTS = 128


@dataclass(frozen=True)
class Shape:
    """A family of tablets of one outline: `size_mm` is the main plan dimension.

    size: diameter (round, minitablet), length (caplet) or outer diameter (ring), mm.
    """

    name: str
    size_label: str
    size_range_mm: tuple[float, float]
    height_range_mm: tuple[float, float]
    preferred_aspect: float  # height / size a pharmacist would expect
    description: str

    def outline(self, size_mm: float) -> BaseGeometry:
        """Plan outline centred on the origin, as a shapely polygon (mm)."""
        raise TypeError(f"shape {self.name} has no outline")

    def dimensions(self, size_mm: float) -> dict[str, float]:
        """Named plan dimensions for the record, mm."""
        return {self.size_label: size_mm}

    @property
    def area_coefficient(self) -> float:
        """Plan area at size 1 mm, mm² (area scales with size²)."""
        return float(self.outline(1.0).area)

    @property
    def perimeter_coefficient(self) -> float:
        """Plan perimeter at size 1 mm (outer plus holes), mm."""
        return float(self.outline(1.0).length)


def _disc(diameter_mm: float) -> Polygon:
    # quad_segs counts segments per quarter circle
    return Point(0.0, 0.0).buffer(diameter_mm / 2.0, quad_segs=CIRCLE_SEGMENTS // 4)


@dataclass(frozen=True)
class Round(Shape):
    def outline(self, size_mm: float) -> BaseGeometry:
        return _disc(size_mm)


@dataclass(frozen=True)
class Minitablet(Round):
    pass


@dataclass(frozen=True)
class Caplet(Shape):
    width_ratio: float = 0.45

    def outline(self, size_mm: float) -> BaseGeometry:
        width = size_mm * self.width_ratio
        straight = size_mm - width
        core = shapely.LineString([(-straight / 2.0, 0.0), (straight / 2.0, 0.0)])
        return core.buffer(width / 2.0, quad_segs=CIRCLE_SEGMENTS // 4)

    def dimensions(self, size_mm: float) -> dict[str, float]:
        return {"length_mm": size_mm, "width_mm": size_mm * self.width_ratio}


@dataclass(frozen=True)
class Ring(Shape):
    hole_ratio: float = 0.4

    def outline(self, size_mm: float) -> BaseGeometry:
        return _disc(size_mm).difference(_disc(size_mm * self.hole_ratio))

    def dimensions(self, size_mm: float) -> dict[str, float]:
        return {"outer_diameter_mm": size_mm, "hole_diameter_mm": size_mm * self.hole_ratio}


SHAPES: dict[str, Shape] = {
    "round": Round(
        "round",
        "diameter_mm",
        (5.0, 15.0),
        (2.0, 6.0),
        0.4,
        "round tablet (cylinder, optional edge chamfer)",
    ),
    "caplet": Caplet(
        "caplet",
        "length_mm",
        (8.0, 20.0),
        (2.0, 6.0),
        0.3,
        "caplet (stadium outline), easier for children to swallow",
    ),
    "ring": Ring(
        "ring",
        "outer_diameter_mm",
        (6.0, 15.0),
        (2.0, 6.0),
        0.35,
        "ring; the hole adds surface and speeds release",
    ),
    "minitablet": Minitablet(
        "minitablet",
        "diameter_mm",
        (1.5, 4.0),
        (1.0, 4.0),
        1.0,
        "mini-tablet, several per dose when one cannot hold it",
    ),
}

MAX_MINITABLETS_PER_DOSE = 30


def ring_wall_mm(shape: Shape, size_mm: float) -> float:
    """Wall of a ring (half the outer minus hole diameter), mm; inf for solid shapes."""
    if isinstance(shape, Ring):
        return size_mm * (1.0 - shape.hole_ratio) / 2.0
    return math.inf
