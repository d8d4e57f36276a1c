"""Large meshes are cut a batch of layers at a time: the same loops and paths as one whole cut."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from gcode.contours import layer_contours
from gcode.cut import _plane_spans, cut_in_batches, cut_mesh, plane_batches
from gcode.errors import MeshRefused
from gcode.settings import settings_for
from gcode.slice import slice_part
from gcode.weld import topology


def _placed(mesh: trimesh.Trimesh) -> np.ndarray:
    triangles = np.asarray(mesh.triangles, dtype=np.float64)
    return triangles - [0.0, 0.0, triangles[:, :, 2].min()]


def _plate() -> np.ndarray:
    """Six cylinders of different heights and a ring, side by side: (n, 3, 3) float mm."""
    parts = []
    for i in range(6):
        part = trimesh.creation.cylinder(3.0, 1.0 + 0.6 * i, sections=40)
        part.apply_translation((10.0 * i, 0.0, 0.5 + 0.3 * i))
        parts.append(part)
    ring = trimesh.creation.annulus(1.5, 4.0, 3.0, sections=48)
    ring.apply_translation((0.0, 12.0, 1.5))
    parts.append(ring)
    return _placed(trimesh.util.concatenate(parts))


MESHES = {
    "plate": _plate(),
    "torus": _placed(trimesh.creation.torus(6.0, 2.0, major_sections=60, minor_sections=24)),
    "sphere": _placed(trimesh.creation.icosphere(3, radius=4.0)),
}


def _loops_by_layer(cut, n_layers: int) -> list[list[np.ndarray]]:
    return [found.loops for found in layer_contours(cut, n_layers)]


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(MESHES)),
    layer_mm=st.sampled_from([0.1, 0.2, 0.3]),
    budget=st.integers(min_value=1, max_value=5000),
)
def test_cutting_in_batches_gives_every_layer_the_loops_of_one_whole_cut(name, layer_mm, budget):
    triangles = MESHES[name]
    planes = np.arange(layer_mm / 2, triangles[:, :, 2].max(), layer_mm)
    whole = _loops_by_layer(cut_mesh(triangles, planes), len(planes))
    batched: list[list[np.ndarray]] = []
    for first, cut in cut_in_batches(triangles, planes, plane_batches(triangles, planes, budget)):
        assert first == len(batched)
        batched.extend(_loops_by_layer(cut, cut.n_layers))
    assert len(batched) == len(whole)
    for mine, theirs in zip(batched, whole, strict=True):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert np.array_equal(a, b)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(MESHES)), budget=st.integers(min_value=1, max_value=20000))
def test_batches_cover_the_planes_in_order_within_the_segment_budget(name, budget):
    triangles = MESHES[name]
    planes = np.arange(0.1, triangles[:, :, 2].max(), 0.2)
    low, high = _plane_spans(triangles, planes)
    per_plane = [int(((low <= k) & (high > k)).sum()) for k in range(len(planes))]
    runs = plane_batches(triangles, planes, budget)
    assert runs[0][0] == 0 and runs[-1][1] == len(planes)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(runs))
    for first, end in runs:
        assert end > first
        assert end - first == 1 or sum(per_plane[first:end]) <= budget


@pytest.mark.parametrize("name", sorted(MESHES))
def test_a_part_sliced_a_layer_at_a_time_has_exactly_the_paths_of_one_sliced_whole(fdm, name):
    config = settings_for(fdm, fill_density=0.3, perimeters=2)
    whole = slice_part(MESHES[name], config, batch_segments=10**9)
    layered = slice_part(MESHES[name], config, batch_segments=1)  # one layer per batch, threaded
    assert layered.unclosed == whole.unclosed and layered.height_mm == whole.height_mm
    assert len(layered.layers) == len(whole.layers)
    for a, b in zip(layered.layers, whole.layers, strict=True):
        assert (a.z_mm, a.thickness_mm, a.area_mm2, a.solid) == (
            b.z_mm,
            b.thickness_mm,
            b.area_mm2,
            b.solid,
        )
        assert [(p.kind, p.closed) for p in a.paths] == [(p.kind, p.closed) for p in b.paths]
        for p, q in zip(a.paths, b.paths, strict=True):
            assert np.array_equal(p.points, q.points)


def test_progress_counts_every_layer_once_in_order_across_batches(fdm):
    seen: list[tuple[int, int]] = []
    part = slice_part(MESHES["torus"], settings_for(fdm), lambda d, t: seen.append((d, t)), 1)
    n = len(part.layers)
    assert seen == [(k, n) for k in range(1, n + 1)]


def test_a_fan_whose_hub_has_thousands_of_edges_is_closed():
    cylinder = trimesh.creation.cylinder(5.0, 4.0, sections=5000)  # caps fan from one centre
    shape = topology(np.asarray(cylinder.triangles))
    assert shape.closed and shape.n_vertices == len(cylinder.vertices)


def test_a_missing_face_opens_its_three_edges_and_a_doubled_face_repeats_them():
    triangles = np.asarray(trimesh.creation.cylinder(5.0, 4.0, sections=300).triangles)
    holed = topology(triangles[1:])
    assert (holed.open_edges, holed.repeated_edges) == (3, 0)
    doubled = topology(np.concatenate([triangles, triangles[:1]]))
    assert (doubled.open_edges, doubled.repeated_edges) == (0, 3)


def test_negative_zero_and_zero_weld_into_one_vertex():
    box = np.asarray(trimesh.creation.box((2.0, 2.0, 2.0)).triangles) + 1.0
    box[box == 0.0] = 0.0
    signed = box.copy()
    signed[signed == 0.0] = -0.0
    assert topology(signed).n_vertices == topology(box).n_vertices == 8
    assert topology(signed).closed


def test_a_refusal_in_a_threaded_batch_is_raised_as_in_one_whole_slice(fdm):
    inside_out = MESHES["torus"][:, ::-1, :]  # every triangle wound inward
    config = settings_for(fdm)
    with pytest.raises(MeshRefused) as whole:
        slice_part(inside_out, config, batch_segments=10**9)
    with pytest.raises(MeshRefused) as layered:
        slice_part(inside_out, config, batch_segments=1)
    assert (layered.value.field, layered.value.value) == (whole.value.field, whole.value.value)
