"""The dose → tablet solver: drug-bearing volume from the lot, dimensions from the shape, a mesh.

The mesh is a watertight prism whose volume equals the target to 0.1 % (in practice to float
precision): it is what the G-code step must deposit. Heights are whole printer layers. Prisms are
built here with NumPy and earcut, triangle for triangle as trimesh's `extrude_polygon` builds
them (trimesh takes ~0.4 s to import: it is loaded only for chamfers and for `mesh`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from shapely.geometry import Polygon

from dosing.calculate import Dose
from dosing.errors import DosingError, ShapeCannotHoldDose
from dosing.formulation import Formulation
from dosing.shapes import (
    CIRCLE_SEGMENTS,
    MAX_MINITABLETS_PER_DOSE,
    SHAPES,
    Round,
    Shape,
    ring_wall_mm,
)

if TYPE_CHECKING:
    import trimesh

FloatArray = npt.NDArray[np.float64]

VOLUME_TOLERANCE = 1e-3
SA_V_TOLERANCE = 0.05
MIN_RING_WALL_MM = 1.6
# SA/V of a 10 × 4 mm round tablet: 2/H + 4/D; the usual reference for release matching
REFERENCE_SA_V_PER_MM = 2.0 / 4.0 + 4.0 / 10.0


@dataclass(frozen=True)
class TabletDesign:
    """One printed unit: its shape, dimensions (mm), target volume and the mesh to print."""

    shape: str
    formulation_id: str
    lot: str
    dimensions_mm: dict[str, float]
    height_mm: float
    layer_height_mm: float
    layers: int
    units_per_dose: int
    units_total: int
    dose_per_administration_mg: float
    dose_mg: float
    drug_mg_per_mm3: float
    volume_mm3: float
    mesh_volume_mm3: float
    surface_area_mm2: float
    sa_v_per_mm: float
    # (n, 3, 3) float mm, wound outward, z from 0 to height_mm, centred on the origin in plan
    triangles: FloatArray = field(repr=False, compare=False)
    # a tablet from a mesh (dosing.mesh_design): its name, file SHA-256 and scaling; else None
    source_mesh: dict[str, Any] | None = None

    @cached_property
    def mesh(self) -> trimesh.Trimesh:
        """The unit as a trimesh (same triangles, vertices merged), for export and pictures."""
        import trimesh

        return trimesh.Trimesh(**trimesh.triangles.to_kwargs(self.triangles))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["triangles"]
        return data


@dataclass(frozen=True)
class _Fit:
    size_mm: float
    height_mm: float
    layers: int
    score: float


def design_tablet(
    dose: Dose,
    formulation: Formulation,
    shape: str,
    layer_height_mm: float,
    *,
    chamfer_mm: float = 0.0,
    sa_v_per_mm: float | None = None,
) -> TabletDesign:
    """Design the unit that holds `dose.dose_mg` of `formulation` in the given shape.

    layer_height_mm: the printer profile's layer; heights are whole layers.
    chamfer_mm: edge chamfer for round tablets (0 for none).
    sa_v_per_mm: keep surface-area-to-volume at this ratio (1/mm) instead of the usual aspect.
    """
    if shape not in SHAPES:
        raise ShapeCannotHoldDose("shape", shape, f"is not one of {', '.join(SHAPES)}")
    if not (math.isfinite(layer_height_mm) and 0.05 <= layer_height_mm <= 1.0):
        raise DosingError("layer_height_mm", layer_height_mm, "is outside 0.05–1.0 mm")
    if sa_v_per_mm is not None and not (math.isfinite(sa_v_per_mm) and 0.1 <= sa_v_per_mm <= 10):
        raise DosingError("sa_v_per_mm", sa_v_per_mm, "is outside 0.1–10 per mm")
    kind = SHAPES[shape]
    content = formulation.drug_mg_per_mm3
    dose_volume = dose.dose_mg / content

    units_per_dose, fit = _fit_units(kind, dose_volume, layer_height_mm, sa_v_per_mm)
    if fit is None:
        low, high = _volume_range(kind, layer_height_mm)
        raise ShapeCannotHoldDose(
            "shape",
            shape,
            f"cannot hold {dose.dose_mg:g} mg ({dose_volume:.1f} mm³ of {formulation.id}) within "
            f"{kind.size_label} {kind.size_range_mm[0]:g}–{kind.size_range_mm[1]:g} mm and height "
            f"{kind.height_range_mm[0]:g}–{kind.height_range_mm[1]:g} mm; it holds "
            f"{low * content:.3g}–{high * content * _max_units(kind):.3g} mg",
        )
    unit_volume = dose_volume / units_per_dose
    if sa_v_per_mm is not None and fit.score > SA_V_TOLERANCE:
        raise ShapeCannotHoldDose(
            "sa_v_per_mm",
            sa_v_per_mm,
            f"is not reachable by a {shape} of {unit_volume:.1f} mm³ within its limits "
            f"(closest is {fit.score:.0%} away)",
        )
    chamfer_mm = _check_chamfer(kind, chamfer_mm, fit)
    triangles, size_mm, mesh_volume, mesh_area = _checked_mesh(kind, fit, chamfer_mm, unit_volume)
    low_size, high_size = kind.size_range_mm
    if not low_size - 1e-6 <= size_mm <= high_size + 1e-6:
        raise ShapeCannotHoldDose(
            "chamfer_mm", chamfer_mm, f"pushes {kind.size_label} to {size_mm:.2f} mm, out of limits"
        )
    dimensions = {**kind.dimensions(size_mm), "height_mm": fit.height_mm}
    if chamfer_mm:
        dimensions["chamfer_mm"] = chamfer_mm * size_mm / fit.size_mm
    return TabletDesign(
        shape=shape,
        formulation_id=formulation.id,
        lot=formulation.lot,
        dimensions_mm=dimensions,
        height_mm=fit.height_mm,
        layer_height_mm=layer_height_mm,
        layers=fit.layers,
        units_per_dose=units_per_dose,
        units_total=units_per_dose * dose.doses,
        dose_per_administration_mg=dose.dose_mg,
        dose_mg=dose.dose_mg / units_per_dose,
        drug_mg_per_mm3=content,
        volume_mm3=unit_volume,
        mesh_volume_mm3=float(mesh_volume),
        surface_area_mm2=float(mesh_area),
        sa_v_per_mm=float(mesh_area / mesh_volume),
        triangles=triangles,
    )


@functools.lru_cache(maxsize=64)
def _checked_mesh(
    kind: Shape, fit: _Fit, chamfer_mm: float, unit_volume: float
) -> tuple[FloatArray, float, float, float]:
    """The unit's mesh (read-only), its plan size, volume and area, checked to be a watertight
    solid of the target volume. A function of its arguments alone, so the same tablet (every
    child on one standard dose) is built and checked once in a process."""
    triangles, size_mm = _mesh(kind, fit, chamfer_mm, unit_volume)
    mesh_volume, mesh_area = _volume_mm3(triangles), _area_mm2(triangles)
    if not _closed(triangles) or mesh_volume <= 0:
        raise AssertionError(f"{kind.name} mesh is not a watertight solid")
    if abs(mesh_volume - unit_volume) > VOLUME_TOLERANCE * unit_volume:
        raise AssertionError(f"{kind.name} mesh volume {mesh_volume} misses {unit_volume}")
    triangles.setflags(write=False)
    return triangles, size_mm, mesh_volume, mesh_area


def _max_units(kind: Shape) -> int:
    return MAX_MINITABLETS_PER_DOSE if kind.name == "minitablet" else 1


def _fit_units(
    kind: Shape, dose_volume: float, layer: float, sa_v: float | None
) -> tuple[int, _Fit | None]:
    """Fewest units per dose (1 unless minitablets) for which a unit fits the shape's limits."""
    for units in range(1, _max_units(kind) + 1):
        fit = _fit(kind, dose_volume / units, layer, sa_v)
        if fit is not None:
            return units, fit
    return 1, None


def _layer_counts(kind: Shape, layer: float) -> range:
    low, high = kind.height_range_mm
    return range(math.ceil(low / layer - 1e-9), math.floor(high / layer + 1e-9) + 1)


def _volume_range(kind: Shape, layer: float) -> tuple[float, float]:
    counts = _layer_counts(kind, layer)
    low, high = kind.size_range_mm
    area = kind.area_coefficient
    return area * low**2 * counts.start * layer, area * high**2 * (counts.stop - 1) * layer


def _fit(kind: Shape, volume_mm3: float, layer: float, sa_v: float | None) -> _Fit | None:
    """Best (size, height) on the layer grid with size within limits; None if there is none."""
    area, perimeter = kind.area_coefficient, kind.perimeter_coefficient
    low, high = kind.size_range_mm
    best: _Fit | None = None
    for layers in _layer_counts(kind, layer):
        height = round(layers * layer, 9)
        size = math.sqrt(volume_mm3 / (area * height))
        if not low <= size <= high or ring_wall_mm(kind, size) < MIN_RING_WALL_MM:
            continue
        if sa_v is None:
            score = abs(math.log(height / size / kind.preferred_aspect))
        else:
            achieved = 2.0 / height + perimeter / (area * size)
            score = abs(achieved - sa_v) / sa_v
        if best is None or score < best.score:
            best = _Fit(size, height, layers, score)
    return best


def _check_chamfer(kind: Shape, chamfer_mm: float, fit: _Fit) -> float:
    if not math.isfinite(chamfer_mm) or chamfer_mm < 0:
        raise DosingError("chamfer_mm", chamfer_mm, "must be a number ≥ 0")
    if chamfer_mm == 0:
        return 0.0
    if not isinstance(kind, Round) or kind.name != "round":
        raise DosingError(
            "chamfer_mm", chamfer_mm, f"is offered for round tablets, not {kind.name}"
        )
    limit = min(fit.height_mm / 4.0, fit.size_mm / 10.0)
    if chamfer_mm > limit:
        raise DosingError("chamfer_mm", chamfer_mm, f"is above {limit:.2f} mm for this tablet")
    return chamfer_mm


def _mesh(kind: Shape, fit: _Fit, chamfer_mm: float, volume_mm3: float) -> tuple[FloatArray, float]:
    """The unit's (n, 3, 3) float mm triangles, z from 0 to height, scaled in plan so its volume
    is exactly the target; and the scaled size, mm."""
    if chamfer_mm:
        import trimesh

        radius, height, c = fit.size_mm / 2.0, fit.height_mm, chamfer_mm
        profile = np.array(
            [
                [0, 0],
                [radius - c, 0],
                [radius, c],
                [radius, height - c],
                [radius - c, height],
                [0, height],
            ]
        )
        mesh = trimesh.creation.revolve(profile, sections=CIRCLE_SEGMENTS)
        # A plan-only scaling by s multiplies volume by s² and keeps every height a whole layer.
        scale = math.sqrt(volume_mm3 / mesh.volume)
        mesh.apply_transform(np.diag([scale, scale, 1.0, 1.0]))
        mesh.apply_translation([0.0, 0.0, -mesh.bounds[0][2]])
        return np.asarray(mesh.triangles, dtype=np.float64), fit.size_mm * scale
    triangles = prism_triangles(kind.outline(fit.size_mm), fit.height_mm)
    scale = math.sqrt(volume_mm3 / _volume_mm3(triangles))
    # as trimesh's apply_transform: a scaling within 1e-8 of none is not applied
    if abs(scale - 1.0) >= 1e-8:
        triangles[:, :, :2] *= scale
    return triangles, fit.size_mm * scale


def prism_triangles(outline: Polygon, height_mm: float) -> FloatArray:
    """A plan outline extruded from z = 0 to height_mm: (n, 3, 3) float mm, wound outward.

    Caps by earcut, each boundary edge a pair of wall triangles: the triangles of
    `trimesh.creation.extrude_polygon`, in its order (tests hold the two equal).
    """
    from mapbox_earcut import triangulate_float64

    rings = [np.array(outline.exterior.coords)]
    rings.extend(np.array(hole.coords) for hole in outline.interiors)
    vertices = np.vstack(rings)
    ends = np.cumsum([len(ring) for ring in rings])
    faces = triangulate_float64(vertices, ends).reshape((-1, 3)).astype(np.int64)
    # wind the caps as the height's sign asks (the first few triangles' mean sign)
    first = faces[:10]
    a, b = (
        vertices[first[:, 0]] - vertices[first[:, 1]],
        vertices[first[:, 1]] - vertices[first[:, 2]],
    )
    if np.sign((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).mean()) != np.sign(height_mm):
        faces = np.fliplr(faces)
    edges = faces[:, [0, 1, 1, 2, 2, 0]].reshape((-1, 2))
    edges_sorted = np.sort(edges, axis=1)
    # edges used once bound the outline; ordered as trimesh's group_rows orders them
    key = (edges_sorted[:, 0] + 2**31).astype(np.uint64) ^ (
        (edges_sorted[:, 1] + 2**31).astype(np.uint64) << np.uint64(32)
    )
    order = key.argsort()
    sorted_key = key[order]
    starts = np.append(0, np.nonzero(sorted_key[1:] != sorted_key[:-1])[0] + 1)
    alone = np.diff(np.concatenate((starts, [len(sorted_key)]))) == 1
    boundary = vertices[edges[order[starts[alone]]]]  # (b, 2, 2) float mm
    n_b = len(boundary)
    low_xy, high_xy = boundary[:, 0], boundary[:, 1]
    zero, top = np.zeros(n_b), np.full(n_b, float(height_mm))
    a0 = np.column_stack([low_xy, zero])  # wall corners: (x0, y0, 0), (x0, y0, h), ...
    a1 = np.column_stack([low_xy, top])
    b0 = np.column_stack([high_xy, zero])
    b1 = np.column_stack([high_xy, top])
    walls = np.stack([b1, a1, b0, b0, a1, a0], axis=1).reshape((-1, 3, 3))
    cap = np.column_stack([vertices, np.zeros(len(vertices))])
    lid = cap + np.array([0.0, 0.0, float(height_mm)])
    return np.concatenate([cap[faces[:, ::-1]], lid[faces], walls])


def _cross(triangles: FloatArray) -> FloatArray:
    """(n, 3) float: the cross product of each triangle's first two edges, mm²."""
    vectors = triangles[:, 1:, :] - triangles[:, :2, :]
    return np.cross(vectors[:, 0], vectors[:, 1])


def _volume_mm3(triangles: FloatArray) -> float:
    """Enclosed volume of outward-wound (n, 3, 3) triangles, mm³ (trimesh's surface integral)."""
    f1 = triangles[:, 0, 0] + triangles[:, 1, 0] + triangles[:, 2, 0]
    return float((_cross(triangles)[:, 0] * f1).sum() / 6.0)


def _area_mm2(triangles: FloatArray) -> float:
    """Surface area of (n, 3, 3) triangles, mm²."""
    return float((np.sqrt((_cross(triangles) ** 2).sum(axis=1)) / 2.0).sum())


def _closed(triangles: FloatArray) -> bool:
    """Whether every directed edge, between exactly equal points, has one partner reversed."""
    points, ids = np.unique(triangles.reshape(-1, 3), axis=0, return_inverse=True)
    faces = ids.reshape(-1, 3)
    n = len(points)
    forward = np.sort(faces[:, [0, 1, 2]] * n + faces[:, [1, 2, 0]], axis=None)
    backward = np.sort(faces[:, [1, 2, 0]] * n + faces[:, [0, 1, 2]], axis=None)
    return bool(np.array_equal(forward, backward) and np.all(forward[1:] != forward[:-1]))
