"""A tablet from a mesh: scaled so its volume holds the dose exactly, whole layers high, within
its size range, at least two line widths wide, and refused with the reason otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.calculate import Dose
from dosing.formulation import Formulation
from dosing.mesh_design import (
    MeshShape,
    MeshShapeRefused,
    check_printable_at_largest,
    design_mesh_tablet,
    file_sha256,
    volume_range_mm3,
)
from tests.dosing.conftest import lot

LAYER_MM, LINE_MM = 0.2, 0.45
CONTENT = lot().drug_mg_per_mm3


def dose(mg: float, doses: int = 10) -> Dose:
    return Dose("RX-MESH", "propranolol", "propranolol-pva-10", mg, mg, 0.0, False, doses, 1)


def shape_of(mesh: trimesh.Trimesh, size_range: tuple[float, float] = (10.0, 18.0)) -> MeshShape:
    data = mesh.export(file_type="stl")
    assert isinstance(data, bytes)
    return MeshShape("test", file_sha256(data), np.asarray(mesh.triangles), size_range)


def star() -> trimesh.Trimesh:
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 5.0, 2.75)
    outline = shapely.Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))
    return trimesh.creation.extrude_polygon(outline, 3.0)


STAR = shape_of(star())
LOW_MM3, HIGH_MM3 = volume_range_mm3(STAR)


@pytest.fixture(scope="module")
def pva() -> Formulation:
    return lot()


@settings(max_examples=80, deadline=None)
@given(fraction=st.floats(0.0, 1.0), printer=st.sampled_from([(0.2, 0.45), (0.4, 0.8)]))
def test_every_dose_the_range_holds_is_designed_with_its_volume_to_float_precision(
    fraction: float, printer: tuple[float, float]
) -> None:
    layer_mm, line_mm = printer
    volume = LOW_MM3 + fraction * (HIGH_MM3 - LOW_MM3)
    design = design_mesh_tablet(dose(volume * CONTENT), lot(), STAR, layer_mm, line_mm)
    assert abs(design.mesh_volume_mm3 - design.volume_mm3) <= 1e-9 * design.volume_mm3
    assert design.volume_mm3 == pytest.approx(volume, rel=1e-12)
    assert design.layers * layer_mm == pytest.approx(design.height_mm, abs=1e-9)
    largest = max(design.dimensions_mm["length_mm"], design.dimensions_mm["width_mm"])
    assert 10.0 - 1e-6 <= largest <= 18.0 + 1e-6


def test_the_shape_keeps_its_proportions_within_half_a_layer(pva: Formulation) -> None:
    design = design_mesh_tablet(dose(60.0), pva, STAR, LAYER_MM, LINE_MM)
    source = design.source_mesh
    assert source is not None
    stretch = source["height_scale"] / source["plan_scale"]
    assert abs(stretch - 1.0) <= (LAYER_MM / 2.0) / design.height_mm + 1e-9


def test_the_file_hash_and_scaling_are_in_the_design_record(pva: Formulation) -> None:
    record = design_mesh_tablet(dose(60.0), pva, STAR, LAYER_MM, LINE_MM).to_dict()
    assert record["source_mesh"]["sha256"] == STAR.sha256
    assert record["shape"] == "mesh:test"
    assert "triangles" not in record


def test_a_dose_below_the_smallest_size_is_refused_naming_what_the_shape_holds(
    pva: Formulation,
) -> None:
    with pytest.raises(MeshShapeRefused) as refused:
        design_mesh_tablet(dose(LOW_MM3 * CONTENT * 0.9), pva, STAR, LAYER_MM, LINE_MM)
    assert refused.value.field == "shape"
    assert "too small" in refused.value.reason and "10 mm minimum" in refused.value.reason
    assert f"{LOW_MM3 * CONTENT:.4g}" in refused.value.reason


def test_a_dose_above_the_largest_size_is_refused(pva: Formulation) -> None:
    with pytest.raises(MeshShapeRefused) as refused:
        design_mesh_tablet(dose(HIGH_MM3 * CONTENT * 1.1), pva, STAR, LAYER_MM, LINE_MM)
    assert "larger than its 18 mm maximum" in refused.value.reason


def test_a_mesh_with_a_missing_face_is_refused_as_not_safely_repairable(pva: Formulation) -> None:
    box = trimesh.creation.box((12.0, 12.0, 4.0))
    box.update_faces(np.arange(len(box.faces)) > 1)  # one side of the box gone
    with pytest.raises(MeshShapeRefused) as refused:
        design_mesh_tablet(dose(60.0), pva, shape_of(box), LAYER_MM, LINE_MM)
    assert refused.value.field == "mesh:test.holes"
    assert "too large to close safely" in refused.value.reason


def test_a_fine_mesh_missing_one_small_triangle_is_repaired(pva: Formulation) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=6.0)
    sphere.update_faces(np.arange(len(sphere.faces)) != 7)
    design = design_mesh_tablet(dose(60.0), pva, shape_of(sphere, (5.0, 20.0)), LAYER_MM, LINE_MM)
    assert abs(design.mesh_volume_mm3 - design.volume_mm3) <= 1e-9 * design.volume_mm3


def test_a_fin_narrower_than_two_line_widths_is_refused(pva: Formulation) -> None:
    body = shapely.Point(0, 0).buffer(4.0)
    fin = shapely.box(3.5, -0.25, 8.0, 0.25)  # 0.5 mm wide at 12 mm: under 2 × 0.45 mm scaled
    mesh = trimesh.creation.extrude_polygon(body.union(fin), 3.0)
    with pytest.raises(MeshShapeRefused) as refused:
        design_mesh_tablet(
            dose(mesh.volume * CONTENT), pva, shape_of(mesh, (8.0, 14.0)), LAYER_MM, LINE_MM
        )
    assert "thinner than two line widths (0.9 mm)" in refused.value.reason


def test_a_separate_sliver_that_would_vanish_is_refused(pva: Formulation) -> None:
    body = shapely.Point(0, 0).buffer(4.0)
    sliver = shapely.box(5.0, -1.0, 5.5, 1.0)
    mesh = trimesh.util.concatenate(
        [trimesh.creation.extrude_polygon(part, 3.0) for part in (body, sliver)]
    )
    assert isinstance(mesh, trimesh.Trimesh)
    with pytest.raises(MeshShapeRefused) as refused:
        design_mesh_tablet(
            dose(mesh.volume * CONTENT), pva, shape_of(mesh, (8.0, 14.0)), LAYER_MM, LINE_MM
        )
    assert "would vanish" in refused.value.reason


def test_a_star_point_is_not_a_thin_feature(pva: Formulation) -> None:
    low_mg = LOW_MM3 * CONTENT * 1.0001
    design = design_mesh_tablet(dose(low_mg), pva, STAR, LAYER_MM, LINE_MM)
    assert design.dose_mg == low_mg


def finned_disc(fin_mm: float) -> trimesh.Trimesh:
    """A disc 8 mm across and 3 mm high with a fin `fin_mm` wide reaching 8 mm out (12 mm)."""
    body = shapely.Point(0, 0).buffer(4.0)
    fin = shapely.box(3.5, -fin_mm / 2, 8.0, fin_mm / 2)
    return trimesh.creation.extrude_polygon(body.union(fin), 3.0)


def test_a_shape_too_thin_even_at_its_largest_size_is_refused_naming_the_given_field() -> None:
    with pytest.raises(MeshShapeRefused) as refused:
        check_printable_at_largest(finned_disc(0.2), 20.0, LAYER_MM, LINE_MM, "mesh.file", "f.stl")
    assert (refused.value.field, refused.value.value) == ("mesh.file", "f.stl")
    assert refused.value.reason.startswith("is thinner than two line widths (0.9 mm) in layer 1")
    assert refused.value.reason.endswith(
        "even at its largest size of 20 mm: no dose makes it printable"
    )


def test_a_shape_wide_enough_at_its_largest_size_is_left_to_the_dose_to_judge(
    pva: Formulation,
) -> None:
    mesh = finned_disc(0.6)  # 1 mm at 20 mm across; 0.5 mm at 10 mm
    check_printable_at_largest(mesh, 20.0, LAYER_MM, LINE_MM, "mesh.file", "f.stl")
    at_10_mm = mesh.volume * (10.0 / 12.0) ** 3 * CONTENT
    with pytest.raises(MeshShapeRefused) as refused:
        design_mesh_tablet(dose(at_10_mm), pva, shape_of(mesh, (5.0, 20.0)), LAYER_MM, LINE_MM)
    assert refused.value.field == "shape"
    assert "thinner than two line widths (0.9 mm)" in refused.value.reason
