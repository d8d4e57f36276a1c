"""Perimeters and fill: densities, patterns, solid layers, and the plate's arrangement."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from gcode.errors import PartTooLarge, SettingsInvalid
from gcode.plate import arrange
from gcode.settings import SliceSettings, settings_for
from gcode.slice import layer_tops_mm, slice_part


def _disc_part(fdm, **settings):
    mesh = trimesh.creation.cylinder(8.0, 3.0, sections=128)
    mesh.apply_translation((0, 0, 1.5))
    return slice_part(mesh.triangles, settings_for(fdm, **settings))


def _fill_length(layer) -> float:
    return sum(p.length_mm() for p in layer.paths if p.kind == "fill")


def test_solid_layers_lay_one_line_width_of_path_per_unit_of_area(fdm):
    part = _disc_part(fdm)
    layer = part.layers[5]
    coverage = layer.extrusion_length_mm() * fdm.line_width_mm / layer.area_mm2
    assert 0.9 < coverage < 1.05
    assert [p.kind for p in layer.paths[:2]] == ["perimeter", "perimeter"]


def test_sparse_fill_lays_its_density_of_the_solid_fill(fdm):
    solid = _fill_length(_disc_part(fdm).layers[6])
    for density in (0.2, 0.5):
        sparse = _fill_length(_disc_part(fdm, fill_density=density).layers[6])
        assert sparse / solid == pytest.approx(density, rel=0.15)


def test_top_and_bottom_layers_stay_solid_under_sparse_fill(fdm):
    part = _disc_part(fdm, fill_density=0.2, solid_top_layers=2, solid_bottom_layers=3)
    solid = [layer.solid for layer in part.layers]
    assert solid[:3] == [True] * 3 and solid[-2:] == [True, True]
    assert not any(solid[3:-2])


def test_grid_fill_crosses_lines_and_concentric_fill_lays_rings(fdm):
    grid = _disc_part(
        fdm, fill_density=0.3, fill_pattern="grid", solid_top_layers=0, solid_bottom_layers=0
    ).layers[4]
    directions = {
        round(float(np.degrees(np.arctan2(*(p.points[1] - p.points[0])[::-1]))) % 180)
        for p in grid.paths
        if p.kind == "fill"
    }
    assert directions == {45, 135}
    rings = _disc_part(fdm, fill_pattern="concentric").layers[4]
    assert all(p.closed for p in rings.paths)
    assert sum(p.kind == "fill" for p in rings.paths) > 10


def test_an_out_of_range_fill_density_is_refused(fdm):
    with pytest.raises(SettingsInvalid) as refusal:
        settings_for(fdm, fill_density=1.5)
    assert refusal.value.field == "settings.fill_density"


def test_a_plate_keeps_the_printer_spacing_between_tablets(fdm):
    positions = np.array(arrange([(10.0, 10.0)] * 30, fdm))
    gaps = np.hypot(*(positions[:, None, :] - positions[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() >= 10.0 + fdm.part_spacing_mm - 1e-9
    assert (positions - 5.0 >= fdm.part_spacing_mm).all()
    assert (positions[:, 0] + 5.0 <= fdm.build_volume_mm[0] - fdm.part_spacing_mm).all()


def test_a_plate_that_does_not_fit_the_bed_is_refused(sse):
    with pytest.raises(PartTooLarge) as refusal:
        arrange([(15.0, 15.0)] * 200, sse)
    assert (refusal.value.field, refusal.value.value) == ("plate.tablets", 200)


@settings(max_examples=40, deadline=None)
@given(height=st.floats(0.05, 20.0), layer=st.floats(0.05, 0.6), first=st.floats(0.05, 0.6))
def test_layers_rise_to_the_part_height_without_a_sliver_at_the_top(height, layer, first):
    config = SliceSettings(layer_height_mm=layer, first_layer_height_mm=first, line_width_mm=0.45)
    tops = layer_tops_mm(height, config)
    thickness = np.diff(np.concatenate([[0.0], tops]))
    assert tops[-1] == height
    assert (thickness > 0).all()
    if len(tops) > 1:
        assert thickness[-1] >= 0.2 * layer - 1e-9
        assert (thickness[1:] <= 1.2 * layer + 1e-9).all()
