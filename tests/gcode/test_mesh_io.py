"""Mesh files and meshes: what is read, repaired, or refused with the field and value."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from gcode.errors import MeshNotWatertight, MeshRefused, PartTooLarge
from gcode.mesh_io import check_fits, check_mesh, read_mesh_file


@pytest.fixture
def tablet() -> trimesh.Trimesh:
    return trimesh.creation.cylinder(5.0, 4.0, sections=64)


def test_binary_and_ascii_stl_and_3mf_read_the_same_part(tmp_path: Path, tablet):
    binary = tmp_path / "t.stl"
    binary.write_bytes(tablet.export(file_type="stl"))
    ascii_ = tmp_path / "a.stl"
    ascii_.write_text(tablet.export(file_type="stl_ascii"))
    three_mf = tmp_path / "t.3mf"
    three_mf.write_bytes(tablet.export(file_type="3mf"))
    volumes = [read_mesh_file(p).volume_mm3 for p in (binary, ascii_, three_mf)]
    assert volumes == pytest.approx([tablet.volume] * 3, rel=1e-6)


def test_a_part_is_placed_on_the_bed_and_centred(tablet):
    tablet.apply_translation((30.0, -7.0, 12.0))
    part = check_mesh(tablet)
    low = part.triangles.reshape(-1, 3).min(axis=0)
    high = part.triangles.reshape(-1, 3).max(axis=0)
    assert low[2] == pytest.approx(0.0)
    assert (low[:2] + high[:2]) == pytest.approx([0.0, 0.0])


def test_an_inside_out_mesh_is_turned_outward(tablet):
    tablet.invert()
    assert check_mesh(tablet).volume_mm3 == pytest.approx(abs(tablet.volume))


def test_nan_coordinates_are_refused_naming_the_vertices(tmp_path: Path, tablet):
    path = tmp_path / "nan.stl"
    data = bytearray(tablet.export(file_type="stl"))
    struct.pack_into("<f", data, 84 + 12, float("nan"))
    path.write_bytes(bytes(data))
    with pytest.raises(MeshRefused) as refusal:
        read_mesh_file(path)
    assert refusal.value.field == "mesh.vertices"


def test_a_triangle_count_larger_than_the_file_is_refused(tmp_path: Path, tablet):
    data = bytearray(tablet.export(file_type="stl"))
    struct.pack_into("<I", data, 80, 10_000_000)
    path = tmp_path / "short.stl"
    path.write_bytes(bytes(data))
    with pytest.raises(MeshRefused) as refusal:
        read_mesh_file(path)
    assert (refusal.value.field, refusal.value.value) == ("mesh.triangle_count", 10_000_000)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path, tablet):
    path = tmp_path / "big.stl"
    path.write_bytes(tablet.export(file_type="stl"))
    with pytest.raises(MeshRefused) as refusal:
        read_mesh_file(path, max_bytes=1000)
    assert refusal.value.field == "mesh.file_bytes"


def test_a_flat_mesh_with_no_volume_is_refused():
    flat = trimesh.creation.box((5.0, 5.0, 0.0))  # top and bottom on each other: closed, empty
    with pytest.raises(MeshRefused) as refusal:
        check_mesh(flat, name="flat")
    assert refusal.value.field == "flat.volume_mm3"


def test_degenerate_triangles_only_are_refused():
    triangles = np.zeros((5, 3, 3))
    soup = trimesh.Trimesh(**trimesh.triangles.to_kwargs(triangles), process=False)
    with pytest.raises(MeshRefused):
        check_mesh(soup, name="dots")


def test_a_small_hole_is_repaired_and_a_large_one_refused(tablet):
    one_missing = tablet.copy()
    one_missing.update_faces(np.arange(1, len(tablet.faces)))
    repaired = check_mesh(one_missing)
    assert repaired.repaired
    assert repaired.volume_mm3 == pytest.approx(tablet.volume, rel=1e-6)
    open_side = tablet.copy()
    open_side.update_faces(np.arange(40, len(tablet.faces)))
    with pytest.raises(MeshNotWatertight):
        check_mesh(open_side)


def test_a_part_larger_than_the_bed_is_refused_naming_the_axis(fdm):
    tall = trimesh.creation.box((10.0, 10.0, 250.0))
    with pytest.raises(PartTooLarge) as refusal:
        check_fits(check_mesh(tall, name="tower"), fdm)
    assert refusal.value.field == "tower.size_mm[z]"


def test_the_shipped_example_meshes_read_as_closed_solids():
    folder = Path(__file__).resolve().parents[2] / "fixtures" / "meshes"
    round_ = read_mesh_file(folder / "round-10x4.stl")
    ring = read_mesh_file(folder / "ring-13x4.3mf")
    assert round_.extents_mm == pytest.approx((10.0, 10.0, 4.0), abs=0.01)
    assert ring.extents_mm == pytest.approx((13.0, 13.0, 4.0), abs=0.01)
    assert not round_.repaired and not ring.repaired
