"""Tablet prisms built with NumPy and earcut are trimesh's `extrude_polygon`, triangle by triangle.

Their volume and area are trimesh's to the bit, so a design's figures do not move."""

from __future__ import annotations

import math

import numpy as np
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.design import _area_mm2, _closed, _volume_mm3, prism_triangles
from dosing.shapes import SHAPES


@st.composite
def outlines(draw: st.DrawFn) -> tuple[str, float, float]:
    name = draw(st.sampled_from(sorted(SHAPES)))
    low, high = SHAPES[name].size_range_mm
    size = draw(st.floats(min_value=low, max_value=high))
    height = draw(st.sampled_from([0.6, 1.0, 2.0, 3.2, 4.0, 6.0]))
    return name, size, height


@settings(max_examples=60, deadline=None)
@given(outlines())
def test_a_prism_has_exactly_the_triangles_volume_and_area_trimesh_extrudes(case):
    name, size, height = case
    outline = SHAPES[name].outline(size)
    theirs = trimesh.creation.extrude_polygon(outline, height)
    mine = prism_triangles(outline, height)
    assert np.array_equal(mine + 0.0, np.asarray(theirs.triangles) + 0.0)  # -0.0 is 0.0
    assert _volume_mm3(mine) == theirs.volume
    assert _area_mm2(mine) == theirs.area


@settings(max_examples=30, deadline=None)
@given(outlines(), st.floats(min_value=0.9, max_value=1.1))
def test_a_prism_scaled_in_plan_matches_trimesh_scaled_the_same_way(case, scale):
    name, size, height = case
    outline = SHAPES[name].outline(size)
    theirs = trimesh.creation.extrude_polygon(outline, height)
    theirs.apply_transform(np.diag([scale, scale, 1.0, 1.0]))
    mine = prism_triangles(outline, height)
    if abs(scale - 1.0) >= 1e-8:  # trimesh leaves a transform this close to none unapplied
        mine[:, :, :2] *= scale
    assert np.array_equal(mine + 0.0, np.asarray(theirs.triangles) + 0.0)
    assert _volume_mm3(mine) == theirs.volume


def test_a_prism_is_closed_and_a_prism_missing_a_triangle_is_not():
    mine = prism_triangles(SHAPES["ring"].outline(10.0), 3.0)
    assert _closed(mine)
    assert not _closed(mine[1:])
    assert _volume_mm3(mine) == np.float64(
        trimesh.creation.extrude_polygon(SHAPES["ring"].outline(10.0), 3.0).volume
    )
    assert math.isclose(_volume_mm3(mine), SHAPES["ring"].outline(10.0).area * 3.0, rel_tol=1e-12)
