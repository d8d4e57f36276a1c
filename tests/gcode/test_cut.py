"""Cutting meshes into closed, oriented loops per layer (the Numba kernels)."""

from __future__ import annotations

import numpy as np
import trimesh

from gcode.contours import layer_contours
from gcode.cut import cut_mesh
from gcode.polygons import signed_area_mm2


def _loops(cut, layer):
    return [
        cut.points[cut.offsets[c] : cut.offsets[c + 1]]
        for c in range(len(cut.layer))
        if cut.layer[c] == layer
    ]


def test_a_box_cuts_into_one_counter_clockwise_loop_of_its_footprint_per_layer():
    box = trimesh.creation.box((10.0, 6.0, 4.0))
    box.apply_translation((0, 0, 2.0))
    planes = np.arange(0.1, 4.0, 0.2)
    cut = cut_mesh(box.triangles, planes)
    assert cut.closed.all()
    for layer in range(len(planes)):
        (loop,) = _loops(cut, layer)
        assert abs(signed_area_mm2(loop) - 60.0) < 1e-9


def test_a_ring_cuts_into_an_outer_loop_and_a_clockwise_hole():
    ring = trimesh.creation.annulus(2.0, 5.0, 4.0, sections=64)
    ring.apply_translation((0, 0, 2.0))
    cut = cut_mesh(ring.triangles, np.array([1.0]))
    areas = sorted(signed_area_mm2(loop) for loop in _loops(cut, 0))
    polygon = 64 / 2 * np.sin(2 * np.pi / 64)  # area of a unit-radius 64-gon
    assert np.allclose(areas, [-4.0 * polygon, 25.0 * polygon])


def test_planes_through_vertices_still_give_closed_loops():
    box = trimesh.creation.box((4.0, 4.0, 2.0))
    box.apply_translation((0, 0, 1.0))
    cut = cut_mesh(box.triangles, np.array([0.0, 1.0, 2.0]))
    # at z = 0 every vertex is on the plane and counts as above: nothing below, no loop
    assert cut.closed.all()
    assert sorted(set(cut.layer.tolist())) == [1, 2]


def test_a_small_gap_is_closed_within_the_tolerance_and_counted_when_larger():
    cylinder = trimesh.creation.cylinder(5.0, 4.0, sections=64)
    cylinder.apply_translation((0, 0, 2.0))
    side = np.flatnonzero(np.ptp(cylinder.triangles[:, :, 2], axis=1) > 1.0)
    keep = np.setdiff1d(np.arange(len(cylinder.faces)), side[:1])
    cut = cut_mesh(cylinder.triangles[keep], np.array([1.0]))
    assert not cut.closed.all()
    (closed_by_gap,) = layer_contours(cut, 1, gap_mm=1.0)
    assert closed_by_gap.unclosed == 0 and len(closed_by_gap.loops) == 1
    (left_open,) = layer_contours(cut, 1, gap_mm=1e-4)
    assert left_open.unclosed == 1 and left_open.loops == []


def test_a_fine_torus_cuts_into_an_outer_loop_and_a_hole_at_mid_height():
    torus = trimesh.creation.torus(7.5, 2.5, major_sections=400, minor_sections=200)
    cut = cut_mesh(torus.triangles, np.array([0.05]))
    areas = sorted(signed_area_mm2(loop) for loop in _loops(cut, 0))
    assert cut.closed.all()
    assert len(areas) == 2 and areas[0] < 0 < areas[1]
