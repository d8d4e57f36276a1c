"""Make the bundled child-friendly tablet shapes: fixtures/meshes/<name>.stl, their pictures and
fixtures/meshes/shapes.json (name, label, file, size range of the largest plan dimension, picture).

Procedural (shapely outlines extruded by trimesh), so the files are reproducible byte for byte:
    .venv/bin/python scripts/make_shapes.py [FOLDER]     (default: fixtures/meshes)

Each shape's smallest size is checked here: every feature (a star's points, a heart's lobes, a
bear's ears, a letter's strokes and the material around them) holds a disc two line widths
across of the narrowest bundled printer profile (fixtures/printers/*.json), so it is printed
with a wall on each side. Nothing is written when one does not.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
import trimesh
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcode.mesh_io import check_triangles  # noqa: E402
from printmed.pictures import tablet_png  # noqa: E402

OUT = ROOT / "fixtures" / "meshes"
PROFILES = ROOT / "fixtures" / "printers"
SEGMENTS = 48  # per circle: modest triangle counts, smooth enough at 6–18 mm


def _circle(x: float, y: float, r: float) -> Polygon:
    return Point(x, y).buffer(r, quad_segs=SEGMENTS // 4)


def width_mm(region: BaseGeometry) -> float:
    """The diameter of the largest disc inside `region` (mm): how wide a feature prints."""
    return 2.0 * float(shapely.maximum_inscribed_circle(region, 1e-4).length)


# A plump five-pointed star (inner radius 0.55 of the outer), its tips rounded
STAR_OUTER_MM, STAR_INNER_MM = 5.0, 2.75


def _star_corner(k: int) -> tuple[float, float]:
    angle = math.pi / 2 + k * math.pi / 5
    radius = STAR_OUTER_MM if k % 2 == 0 else STAR_INNER_MM
    return radius * math.cos(angle), radius * math.sin(angle)


def star_outline() -> BaseGeometry:
    points = [_star_corner(k) for k in range(10)]
    return Polygon(points).buffer(-0.4, quad_segs=4).buffer(0.4, quad_segs=4)


def star_features() -> dict[str, float]:
    """Each point: the star beyond the line joining the inner corners on either side of it."""
    outline = star_outline()
    points = [
        outline.intersection(Polygon([_star_corner(k), _star_corner(k - 1), _star_corner(k + 1)]))
        for k in range(0, 10, 2)
    ]
    return {"point": min(width_mm(p) for p in points)}


def heart_outline() -> BaseGeometry:
    """The classic parametric heart curve, 10 mm across."""
    t = np.linspace(0.0, 2.0 * math.pi, 72, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
    return shapely.simplify(Polygon(np.column_stack([x, y]) * (10.0 / 32.0)), 0.01)


def heart_features() -> dict[str, float]:
    """Each lobe: the heart above the bottom of the cleft between them, on its side."""
    outline = heart_outline()
    cleft_y = (13.0 - 5.0 - 2.0 - 1.0) * (10.0 / 32.0)  # the curve at t = 0
    left, _, right, top = outline.bounds
    lobes = [
        outline.intersection(shapely.box(left, cleft_y, 0.0, top)),
        outline.intersection(shapely.box(0.0, cleft_y, right, top)),
    ]
    return {"lobe": min(width_mm(lobe) for lobe in lobes)}


BEAR_FACE = (0.0, 0.0, 4.0)
BEAR_EARS = ((-3.1, 3.1, 1.7), (3.1, 3.1, 1.7))


def bear_outline() -> BaseGeometry:
    """A bear's head: a round face with two round ears."""
    return shapely.union_all([_circle(*c) for c in (BEAR_FACE, *BEAR_EARS)]).simplify(0.005)


def bear_features() -> dict[str, float]:
    """Each ear: the part of its circle outside the face."""
    outline, face = bear_outline(), _circle(*BEAR_FACE)
    ears = [outline.intersection(_circle(*ear)).difference(face) for ear in BEAR_EARS]
    return {"ear": min(width_mm(ear) for ear in ears)}


# The letter H pressed into a round tablet: bold strokes, so that at the smallest size the
# strokes, the space inside the letter and the rim beside it are each two lines wide
H_DISC_MM, H_HEIGHT_MM, H_DEPTH_MM = 5.0, 2.6, 0.8  # radius, thickness and depth of the letter
H_TALL_MM, H_UPRIGHT_X_MM, H_STROKE_MM = 4.4, 1.5, 1.4


def letter_strokes() -> list[Polygon]:
    """The letter H as three strokes: two uprights and the bar."""
    half, x, w = H_TALL_MM / 2.0, H_UPRIGHT_X_MM, H_STROKE_MM / 2.0
    return [
        shapely.box(-x - w, -half, -x + w, half),
        shapely.box(x - w, -half, x + w, half),
        shapely.box(-x, -w, x, w),
    ]


def letter_h() -> BaseGeometry:
    return shapely.union_all(letter_strokes())


def letter_h_features() -> dict[str, float]:
    """The strokes (pressed in), the material inside the letter (above and below the bar) and
    the rim between the letter and the edge."""
    disc, letter = _circle(0.0, 0.0, H_DISC_MM), letter_h()
    inner = H_UPRIGHT_X_MM - H_STROKE_MM / 2.0
    bays = [
        disc.intersection(shapely.box(-inner, y0, inner, y1)).difference(letter)
        for y0, y1 in ((H_STROKE_MM / 2.0, H_DISC_MM), (-H_DISC_MM, -H_STROKE_MM / 2.0))
    ]
    return {
        "stroke": min(width_mm(stroke) for stroke in letter_strokes()),
        "inside the letter": min(width_mm(bay) for bay in bays),
        "rim": float(letter.distance(disc.exterior)),
    }


def prism(outline: BaseGeometry, height: float) -> trimesh.Trimesh:
    return trimesh.creation.extrude_polygon(outline, height)


def _cap(polygon: Polygon, z: float) -> list[np.ndarray]:
    vertices, faces = trimesh.creation.triangulate_polygon(polygon, engine="earcut")
    points = np.column_stack([vertices, np.full(len(vertices), z)])
    return list(points[faces])


def _wall(ring: np.ndarray, z0: float, z1: float) -> list[np.ndarray]:
    triangles = []
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        a, b = (x0, y0, z0), (x1, y1, z0)
        c, d = (x1, y1, z1), (x0, y0, z1)
        triangles += [np.array([a, b, c]), np.array([a, c, d])]
    return triangles


def debossed(outline: Polygon, mark: BaseGeometry, height: float, depth: float) -> trimesh.Trimesh:
    """`outline` extruded to `height` with `mark` pressed `depth` into its top."""
    top = outline.difference(mark)
    triangles = _cap(outline, 0.0) + _wall(np.array(outline.exterior.coords), 0.0, height)
    for polygon in getattr(top, "geoms", [top]):
        triangles += _cap(polygon, height)
    for polygon in getattr(mark, "geoms", [mark]):
        triangles += _cap(polygon, height - depth)
        for ring in [polygon.exterior, *polygon.interiors]:
            triangles += _wall(np.array(ring.coords), height - depth, height)
    mesh = trimesh.Trimesh(**trimesh.triangles.to_kwargs(np.array(triangles)))
    trimesh.repair.fix_normals(mesh)
    return mesh


def _cropped(png: bytes) -> bytes:
    """The rendering cut to the tablet with a margin (the renderer frames a tall box)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    dark = np.asarray((np.asarray(image) < 235).any(axis=2))
    ink = np.argwhere(dark[60:]) + np.array([60, 0])  # below the title
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0)
    side = int(max(bottom - top, right - left) * 1.15)
    cy, cx = (top + bottom) // 2, (left + right) // 2
    box = (cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
    out = io.BytesIO()
    image.crop(box).resize((192, 192), Image.Resampling.LANCZOS).save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Shape:
    """A bundled shape as made: its mesh and features as built (about 10 mm across), and the
    range of its largest plan dimension, mm."""

    name: str
    label: str
    build: Callable[[], trimesh.Trimesh]
    features: Callable[[], dict[str, float]]
    size_range_mm: tuple[float, float]


# The smallest sizes hold a child's dose (12.5 mg of propranolol 10 % in PVA; 3 mg of
# hydrocortisone 5 % paste) and keep every feature two lines wide; the largest are chewable.
SHAPES = [
    Shape("star", "Star", lambda: prism(star_outline(), 3.0), star_features, (6.0, 18.0)),
    Shape("heart", "Heart", lambda: prism(heart_outline(), 3.0), heart_features, (6.0, 18.0)),
    Shape("bear", "Bear", lambda: prism(bear_outline(), 3.0), bear_features, (6.0, 18.0)),
    Shape(
        "letter-h",
        "Round with a letter H",
        lambda: debossed(_circle(0.0, 0.0, H_DISC_MM), letter_h(), H_HEIGHT_MM, H_DEPTH_MM),
        letter_h_features,
        (6.5, 15.0),
    ),
]


def narrowest_line_mm(folder: Path = PROFILES) -> tuple[float, str]:
    """The narrowest line width of the bundled printer profiles, mm, and that profile's id."""
    profiles = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    narrowest = min(profiles, key=lambda p: p["line_width_mm"])
    return float(narrowest["line_width_mm"]), str(narrowest["id"])


def features_at_smallest(shape: Shape, mesh: trimesh.Trimesh) -> dict[str, float]:
    """Each feature's width (mm) with the shape scaled to the smallest size of its range."""
    plan_mm = float(max(mesh.extents[0], mesh.extents[1]))
    scale = shape.size_range_mm[0] / plan_mm
    return {name: width * scale for name, width in shape.features().items()}


def main(out: Path = OUT) -> None:
    line_mm, profile = narrowest_line_mm()
    made = []
    for shape in SHAPES:
        mesh = shape.build()
        if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0):
            raise SystemExit(f"{shape.name}: the generated mesh is not a closed solid")
        widths = features_at_smallest(shape, mesh)
        feature, narrowest = min(widths.items(), key=lambda item: item[1])
        if narrowest < 2.0 * line_mm:
            raise SystemExit(
                f"{shape.name}: its {feature} is {narrowest:.3f} mm wide at "
                f"{shape.size_range_mm[0]:g} mm, under two lines of {profile} "
                f"({2.0 * line_mm:g} mm)"
            )
        made.append((shape, mesh, feature, narrowest))
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for shape, mesh, feature, narrowest in made:
        stl = out / f"{shape.name}.stl"
        data = mesh.export(file_type="stl")
        assert isinstance(data, bytes)  # trimesh exports STL as binary
        stl.write_bytes(data)
        picture = out / f"{shape.name}.png"
        part = check_triangles(np.asarray(mesh.triangles, dtype=np.float64), name=shape.label)
        picture.write_bytes(_cropped(tablet_png(part)))
        index.append(
            {
                "name": shape.name,
                "label": shape.label,
                "file": stl.name,
                "size_range_mm": list(shape.size_range_mm),
                "picture": picture.name,
                # at the smallest size: the narrowest feature and its width, mm
                "narrowest_feature": feature,
                "narrowest_feature_mm": round(narrowest, 2),
            }
        )
        print(
            f"{shape.name}: {len(mesh.faces)} triangles, {mesh.volume:.1f} mm³ as built; "
            f"{shape.size_range_mm[0]:g}–{shape.size_range_mm[1]:g} mm, its {feature} "
            f"{narrowest:.2f} mm wide at {shape.size_range_mm[0]:g} mm"
        )
    (out / "shapes.json").write_text(json.dumps({"shapes": index}, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
