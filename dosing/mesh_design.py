"""The dose → tablet solver for a shape given as a mesh (a star, a heart, an uploaded file).

A mesh is scaled so its volume holds the dose exactly: its height is rounded to whole printer
layers (as every built-in tablet's is) and its plan is then scaled to make the volume exact, so
the slicer's layers coincide with the design and no sliver layer is merged at the top. The
G-code gate, as for every tablet, is what proves the dose.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from dosing.calculate import Dose
from dosing.design import VOLUME_TOLERANCE, FloatArray, TabletDesign, _area_mm2, _volume_mm3
from dosing.errors import DosingError, ShapeCannotHoldDose
from dosing.formulation import Formulation

if TYPE_CHECKING:
    import trimesh

# a repair may close small holes only: few triangles added, the volume nearly unchanged
MAX_REPAIR_FACE_FRACTION = 0.01
MAX_REPAIR_VOLUME_CHANGE = 0.001
# rounding the height to whole layers may stretch a shape in z by at most half a layer;
# below this many layers that stretch would change the shape a child sees
MIN_LAYERS = 4
# a stretch of cross-section narrower than two line widths, longer than a sharp tip's
# (a 36° star point leaves 1.8 w² uncovered; a 20° spike 4.3 w²), is a thin feature
THIN_PIECE_MAX_AREA_LINE_WIDTHS2 = 4.0
# an uploaded shape's largest plan dimension, mm (the bundled ones carry their own range)
UPLOAD_SIZE_RANGE_MM = (5.0, 20.0)


class MeshShapeRefused(ShapeCannotHoldDose):
    """A mesh that cannot be a tablet: open, too thin, or outside its size range for the dose."""


@dataclass(frozen=True)
class MeshShape:
    """A tablet shape given as a mesh, as read from its file.

    triangles: (n, 3, 3) float mm as in the file; sha256: of the file's bytes;
    size_range_mm: (min, max) of the largest plan dimension (x or y extent), mm.
    """

    name: str
    sha256: str
    triangles: FloatArray
    size_range_mm: tuple[float, float]


def file_sha256(data: bytes) -> str:
    """SHA-256 of a mesh file's bytes, hex: the shape's identity in the batch record."""
    return hashlib.sha256(data).hexdigest()


def closed_mesh(triangles: FloatArray, field: str = "mesh") -> trimesh.Trimesh:
    """The triangles as a watertight trimesh wound outward, repaired only when safe.

    Repair (trimesh's fill_holes and fix_normals) is kept only if the result is watertight and
    added at most 1 % triangles and changed the volume by at most 0.1 %; otherwise refused.
    """
    import trimesh

    mesh = trimesh.Trimesh(**trimesh.triangles.to_kwargs(triangles), process=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    if len(mesh.faces) < 4:
        raise MeshShapeRefused(f"{field}.triangles", len(mesh.faces), "is not a solid")
    if mesh.is_watertight and mesh.is_winding_consistent:
        if mesh.volume < 0:
            mesh.invert()
        return mesh
    before_faces, before_volume = len(mesh.faces), abs(float(mesh.volume))
    trimesh.repair.fill_holes(mesh)
    trimesh.repair.fix_normals(mesh)
    if not mesh.is_watertight:
        open_edges = len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
        raise MeshShapeRefused(
            f"{field}.open_edges", open_edges, "remain after repair: the shape is not watertight"
        )
    added = len(mesh.faces) - before_faces
    change = abs(abs(float(mesh.volume)) - before_volume) / max(before_volume, 1e-9)
    if added > MAX_REPAIR_FACE_FRACTION * before_faces or change > MAX_REPAIR_VOLUME_CHANGE:
        raise MeshShapeRefused(
            f"{field}.holes",
            f"{added} triangles, {change:.2%} of volume",
            "are too large to close safely",
        )
    return mesh


def design_mesh_tablet(
    dose: Dose,
    formulation: Formulation,
    shape: MeshShape,
    layer_height_mm: float,
    line_width_mm: float,
) -> TabletDesign:
    """Design the unit of `shape` that holds `dose.dose_mg` of `formulation`.

    layer_height_mm: the printer profile's layer; the height is a whole number of layers.
    line_width_mm: the profile's line; every layer must be at least two lines wide.
    """
    if not (math.isfinite(layer_height_mm) and 0.05 <= layer_height_mm <= 1.0):
        raise DosingError("layer_height_mm", layer_height_mm, "is outside 0.05–1.0 mm")
    field = f"mesh:{shape.name}"
    mesh = closed_mesh(shape.triangles, field)
    low, high = mesh.bounds
    base = np.asarray(mesh.triangles, dtype=np.float64) - [
        (low[0] + high[0]) / 2.0,
        (low[1] + high[1]) / 2.0,
        low[2],
    ]
    base_volume = _volume_mm3(base)
    plan0 = float(max(high[0] - low[0], high[1] - low[1]))
    height0 = float(high[2] - low[2])
    content = formulation.drug_mg_per_mm3
    volume = dose.dose_mg / content

    size_low, size_high = shape.size_range_mm

    def scaled(layers: int) -> tuple[float, float, float]:
        """(height mm, height scale, plan scale) with `layers` whole layers and the volume."""
        height = round(layers * layer_height_mm, 9)
        z_scale = height / height0
        return height, z_scale, math.sqrt(volume / (base_volume * z_scale))

    # the size range holds the shape scaled uniformly: the doses it holds are one interval
    uniform = (volume / base_volume) ** (1.0 / 3.0)
    low_mm3, high_mm3 = volume_range_mm3(shape)
    held = f"{low_mm3 * content:.4g}–{high_mm3 * content:.4g} mg of {formulation.id}"
    if uniform * plan0 < size_low * (1 - 1e-9):
        raise MeshShapeRefused(
            "shape",
            field,
            f"is too small to hold {dose.dose_mg:g} mg: at {uniform * plan0:.3f} mm it is under "
            f"its {size_low:g} mm minimum (it holds {held} within {size_low:g}–{size_high:g} mm)",
        )
    if uniform * plan0 > size_high * (1 + 1e-9):
        raise MeshShapeRefused(
            "shape",
            field,
            f"would be {uniform * plan0:.3f} mm to hold {dose.dose_mg:g} mg, larger than its "
            f"{size_high:g} mm maximum (it holds {held} within {size_low:g}–{size_high:g} mm)",
        )
    # then the whole-layer height next to the uniform one, nearest first, that keeps the plan
    # within the range (one of the two always does while max/min ≥ √((n+1)/n))
    layers_uniform = uniform * height0 / layer_height_mm
    candidates = sorted(
        {max(1, math.floor(layers_uniform)), max(1, math.ceil(layers_uniform))},
        key=lambda n: abs(n - layers_uniform),
    )
    fitting = [n for n in candidates if size_low - 1e-6 <= scaled(n)[2] * plan0 <= size_high + 1e-6]
    if not fitting:
        raise MeshShapeRefused(
            "shape", field, f"has no whole number of layers that keeps {dose.dose_mg:g} mg in range"
        )
    layers = fitting[0]
    height, z_scale, plan_scale = scaled(layers)
    if layers < MIN_LAYERS:
        raise MeshShapeRefused(
            "shape", field, f"is {height:g} mm high: fewer than {MIN_LAYERS} layers of the printer"
        )
    triangles = base * np.array([plan_scale, plan_scale, z_scale])
    mesh_volume, mesh_area = _volume_mm3(triangles), _area_mm2(triangles)
    if abs(mesh_volume - volume) > VOLUME_TOLERANCE * volume:
        raise AssertionError(f"{field} mesh volume {mesh_volume} misses {volume}")
    check_line_widths(triangles, layers, layer_height_mm, line_width_mm, field)
    extents = triangles.reshape(-1, 3).max(axis=0) - triangles.reshape(-1, 3).min(axis=0)
    return TabletDesign(
        shape=field,
        formulation_id=formulation.id,
        lot=formulation.lot,
        dimensions_mm={
            "length_mm": float(extents[0]),
            "width_mm": float(extents[1]),
            "height_mm": height,
        },
        height_mm=height,
        layer_height_mm=layer_height_mm,
        layers=layers,
        units_per_dose=1,
        units_total=dose.doses,
        dose_per_administration_mg=dose.dose_mg,
        dose_mg=dose.dose_mg,
        drug_mg_per_mm3=content,
        volume_mm3=volume,
        mesh_volume_mm3=mesh_volume,
        surface_area_mm2=mesh_area,
        sa_v_per_mm=mesh_area / mesh_volume,
        triangles=np.ascontiguousarray(triangles),
        source_mesh={
            "name": shape.name,
            "sha256": shape.sha256,
            "plan_scale": plan_scale,
            "height_scale": z_scale,
            "size_range_mm": list(shape.size_range_mm),
        },
    )


def volume_range_mm3(shape: MeshShape) -> tuple[float, float]:
    """Smallest and largest unit volume (mm³) of the shape: scaled uniformly to the ends of its
    size range (the whole-layer height then moves the plan, within the range)."""
    points = shape.triangles.reshape(-1, 3)
    extents = points.max(axis=0) - points.min(axis=0)
    plan0 = float(max(extents[0], extents[1]))
    v0 = abs(_volume_mm3(shape.triangles))
    size_low, size_high = shape.size_range_mm
    return v0 * (size_low / plan0) ** 3, v0 * (size_high / plan0) ** 3


def check_line_widths(
    triangles: FloatArray, layers: int, layer_mm: float, line_width_mm: float, field: str
) -> None:
    """Refuse a shape with a layer narrower than two line widths anywhere (see thin_layer)."""
    reason = thin_layer(triangles, layers, layer_mm, line_width_mm)
    if reason is not None:
        raise MeshShapeRefused("shape", field, reason)


def check_printable_at_largest(
    mesh: trimesh.Trimesh,
    largest_mm: float,
    layer_mm: float,
    line_width_mm: float,
    field: str,
    value: str,
) -> None:
    """Refuse a closed mesh that is thinner than two line widths even scaled uniformly so its
    largest plan dimension is `largest_mm`: no dose it could hold is printable with lines of
    `line_width_mm` (a printable shape is judged at the size a dose needs, on the chosen
    printer, by design_mesh_tablet when it is ordered).
    """
    low, high = mesh.bounds
    scale = largest_mm / float(max(high[0] - low[0], high[1] - low[1]))
    # scaled about the file's own origin (so a place named is the file's, times the scale),
    # standing on z = 0
    triangles = (np.asarray(mesh.triangles, dtype=np.float64) - [0.0, 0.0, low[2]]) * scale
    layers = max(1, math.floor(float(high[2] - low[2]) * scale / layer_mm))
    reason = thin_layer(triangles, layers, layer_mm, line_width_mm)
    if reason is not None:
        raise MeshShapeRefused(
            field,
            value,
            f"{reason}, even at its largest size of {largest_mm:g} mm: no dose makes it printable",
        )


def thin_layer(
    triangles: FloatArray, layers: int, layer_mm: float, line_width_mm: float
) -> str | None:
    """Why the shape cannot be printed with lines `line_width_mm` wide, or None if it can.

    triangles: (n, 3, 3) float mm, standing on z = 0, `layers` layers of `layer_mm` high.
    Each layer's cross-section (at its mid-height, where the slicer cuts) is opened by one
    line width (eroded, then grown back): what the opening loses is narrower than two lines.
    A region lost whole, or a lost stretch larger than a sharp tip's, cannot be printed.
    """
    import trimesh

    mesh = trimesh.Trimesh(**trimesh.triangles.to_kwargs(triangles))
    heights = (np.arange(layers) + 0.5) * layer_mm
    sections = mesh.section_multiplane([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], heights)
    max_piece = THIN_PIECE_MAX_AREA_LINE_WIDTHS2 * line_width_mm**2
    two_lines = f"thinner than two line widths ({2 * line_width_mm:g} mm)"
    for index, section in enumerate(sections):
        if section is None:
            continue
        # even-odd fill of the closed loops: a loop inside another is a hole (no rtree needed)
        loops = [shapely.Polygon(loop).buffer(0) for loop in section.discrete if len(loop) > 3]
        filled = shapely.GeometryCollection()
        for loop in loops:
            filled = filled.symmetric_difference(loop)
        polygons = [g for g in getattr(filled, "geoms", [filled]) if g.area > 0]
        for polygon in polygons:
            if polygon.buffer(-line_width_mm).is_empty:
                return (
                    f"is {two_lines} in layer {index + 1}: a region of {polygon.area:.2f} mm² "
                    f"near ({polygon.centroid.x:.1f}, {polygon.centroid.y:.1f}) mm would vanish"
                )
        region = shapely.union_all(polygons)
        opened = region.buffer(-line_width_mm).buffer(line_width_mm)
        # what opening loses, less a hair so that pieces touching only at a point separate
        lost = region.difference(opened.buffer(1e-6))
        for piece in getattr(lost, "geoms", [lost]):
            if piece.area > max_piece:
                return (
                    f"is {two_lines} in layer {index + 1}: {piece.area:.2f} mm² narrower near "
                    f"({piece.centroid.x:.1f}, {piece.centroid.y:.1f}) mm"
                )
    return None
