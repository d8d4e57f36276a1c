"""Make the bundled child-friendly tablet shapes: fixtures/meshes/<name>.stl, their pictures and
fixtures/meshes/shapes.json (name, label, file, size range of the largest plan dimension, picture).

Procedural (shapely outlines extruded by trimesh), so the files are reproducible:
    .venv/bin/python scripts/make_shapes.py
"""

from __future__ import annotations

import io
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import shapely
import trimesh
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcode.mesh_io import check_triangles  # noqa: E402
from printmed.pictures import tablet_png  # noqa: E402

OUT = ROOT / "fixtures" / "meshes"
SEGMENTS = 48  # per circle: modest triangle counts, smooth enough at 10–18 mm


def _circle(x: float, y: float, r: float) -> Polygon:
    return Point(x, y).buffer(r, quad_segs=SEGMENTS // 4)


def star_outline() -> BaseGeometry:
    """A plump five-pointed star (inner radius 0.55 of the outer), tips rounded, 10 mm across."""
    points = []
    for k in range(10):
        angle = math.pi / 2 + k * math.pi / 5
        radius = 5.0 if k % 2 == 0 else 2.75
        points.append((radius * math.cos(angle), radius * math.sin(angle)))
    return Polygon(points).buffer(-0.4, quad_segs=4).buffer(0.4, quad_segs=4)


def heart_outline() -> BaseGeometry:
    """The classic parametric heart curve, 10 mm across."""
    t = np.linspace(0.0, 2.0 * math.pi, 72, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
    return shapely.simplify(Polygon(np.column_stack([x, y]) * (10.0 / 32.0)), 0.01)


def bear_outline() -> BaseGeometry:
    """A bear's head: a round face with two round ears."""
    return shapely.union_all(
        [_circle(0.0, 0.0, 4.0), _circle(-3.1, 3.1, 1.7), _circle(3.1, 3.1, 1.7)]
    ).simplify(0.005)


def letter_h(size: float) -> BaseGeometry:
    """The letter H as three strokes, `size` mm tall."""
    half, stroke = size / 2.0, size * 0.2
    strokes = [
        LineString([(-half * 0.7, -half), (-half * 0.7, half)]),
        LineString([(half * 0.7, -half), (half * 0.7, half)]),
        LineString([(-half * 0.7, 0.0), (half * 0.7, 0.0)]),
    ]
    return shapely.union_all([s.buffer(stroke / 2.0, cap_style="flat") for s in strokes])


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
    pixels = np.asarray(image)
    ink = np.argwhere((pixels < 235).any(axis=2)[60:]) + np.array([60, 0])  # below the title
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0)
    side = int(max(bottom - top, right - left) * 1.15)
    cy, cx = (top + bottom) // 2, (left + right) // 2
    box = (cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
    out = io.BytesIO()
    image.crop(box).resize((192, 192), Image.Resampling.LANCZOS).save(out, format="PNG")
    return out.getvalue()


# name, label, mesh at 10 mm across, (min, max) largest plan dimension mm
SHAPES = [
    ("star", "Star", lambda: prism(star_outline(), 3.0), (10.0, 18.0)),
    ("heart", "Heart", lambda: prism(heart_outline(), 3.0), (10.0, 18.0)),
    ("bear", "Bear", lambda: prism(bear_outline(), 3.0), (10.0, 18.0)),
    (
        "letter-h",
        "Round with a letter H",
        lambda: debossed(_circle(0.0, 0.0, 5.0), letter_h(5.0), 3.5, 0.9),
        (8.0, 15.0),
    ),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    index = []
    for name, label, build, size_range in SHAPES:
        mesh = build()
        if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0):
            raise SystemExit(f"{name}: the generated mesh is not a closed solid")
        stl = OUT / f"{name}.stl"
        stl.write_bytes(mesh.export(file_type="stl"))
        picture = OUT / f"{name}.png"
        part = check_triangles(np.asarray(mesh.triangles, dtype=np.float64), name=label)
        picture.write_bytes(_cropped(tablet_png(part)))
        index.append(
            {
                "name": name,
                "label": label,
                "file": stl.name,
                "size_range_mm": list(size_range),
                "picture": picture.name,
            }
        )
        print(f"{name}: {len(mesh.faces)} triangles, {mesh.volume:.1f} mm³ at 10 mm")
    (OUT / "shapes.json").write_text(json.dumps({"shapes": index}, indent=2) + "\n")


if __name__ == "__main__":
    main()
