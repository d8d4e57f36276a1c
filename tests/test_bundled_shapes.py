"""Each bundled child-friendly shape, from a prescription to gated G-code, at the smallest and
the largest dose its size range allows: on the FDM printer (propranolol 10 % in PVA) and on the
paste printer (isoleucine 20 % paste, 0.8 mm lines); the bundled children's prescriptions in each
shape; and the shapes as scripts/make_shapes.py makes them, byte for byte."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import runpy
from pathlib import Path
from typing import Any

import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.calculate import Dose
from dosing.formulation import Formulation
from dosing.mesh_design import design_mesh_tablet, volume_range_mm3
from dosing.prescription import parse_prescription
from printmed import catalog
from printmed.manufacture import RELEASE_TOLERANCE, make_batch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ON = dt.date(2026, 11, 25)
INDEX = json.loads((FIXTURES / "meshes" / "shapes.json").read_text())
SHAPES = [entry["name"] for entry in INDEX["shapes"]]
LOT = "propranolol-pva-10"
PROFILE = "fdm-pharma-04"
# (lot, printer profile): one of each process
PROCESSES = [("propranolol-pva-10", "fdm-pharma-04"), ("isoleucine-paste-20", "sse-syringe-08")]
DRUGS = {
    "propranolol-pva-10": {"name": "propranolol", "code": "372772003"},
    "isoleucine-paste-20": {"name": "isoleucine"},
}


def rx_for(shape: str, dose_mg: float, units: int = 2, lot: str = LOT) -> dict[str, Any]:
    return {
        "id": f"RX-{shape.upper()}",
        "patient": {"id": "TEST-PATIENT-7", "weight_kg": 80.0, "height_cm": 175, "age_years": 16},
        "drug": DRUGS[lot],
        "dose": {"value": dose_mg, "unit": "mg"},
        "frequency_per_day": 1,
        "units": units,
        "formulation": lot,
        "shape": "mesh",
        "mesh": {"name": shape},
    }


def dose_range_mg(shape: str, lot_id: str = LOT) -> tuple[float, float]:
    """The smallest and largest dose on the lot's dose step that the shape's size range holds."""
    lot = catalog.formulation(lot_id)
    low, high = volume_range_mm3(catalog.mesh_shape(name=shape))
    step = lot.dose_step_mg
    return (
        math.ceil(low * lot.drug_mg_per_mm3 / step) * step,
        math.floor(high * lot.drug_mg_per_mm3 / step) * step,
    )


def uniform_mm(shape: str, dose_mg: float, lot: Formulation) -> tuple[float, float]:
    """The largest plan dimension and height (mm) of the shape scaled uniformly to hold the dose."""
    solid = trimesh.Trimesh(**trimesh.triangles.to_kwargs(catalog.mesh_shape(name=shape).triangles))
    scale = (dose_mg / lot.drug_mg_per_mm3 / abs(solid.volume)) ** (1 / 3)
    return float(scale * max(solid.extents[:2])), float(scale * solid.extents[2])


def test_the_bundled_set_is_indexed_with_files_pictures_and_size_ranges() -> None:
    shapes = catalog.bundled_shapes()
    assert set(shapes) == {"star", "heart", "bear", "letter-h"}
    for shape in shapes.values():
        assert shape.file.is_file() and shape.picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        low, high = shape.size_range_mm
        assert 0 < low < high <= 20


@pytest.mark.parametrize("end", ["smallest", "largest"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("lot", "profile"), PROCESSES, ids=["fdm", "sse"])
def test_bundled_shape_is_made_into_gated_gcode_at_both_ends_of_its_range(
    lot: str, profile: str, shape: str, end: str
) -> None:
    smallest, largest = dose_range_mg(shape, lot)
    dose_mg = smallest if end == "smallest" else largest
    rx = parse_prescription(rx_for(shape, dose_mg, lot=lot))
    formulation, printer = catalog.formulation(lot), catalog.printer_profile(profile)
    batch = make_batch(rx, formulation, printer, on=ON)

    low, high = catalog.bundled_shapes()[shape].size_range_mm
    design = batch.design
    largest_plan = max(design.dimensions_mm["length_mm"], design.dimensions_mm["width_mm"])
    assert low - 1e-6 <= largest_plan <= high + 1e-6
    # the end of the range: a dose step further would not fit the shape scaled uniformly
    step = formulation.dose_step_mg
    if end == "smallest":
        assert uniform_mm(shape, dose_mg - step, formulation)[0] < low
    else:
        assert uniform_mm(shape, dose_mg + step, formulation)[0] > high
    # and the plan is the uniform one's, moved only by the whole-layer height
    plan_mm, height_mm = uniform_mm(shape, dose_mg, formulation)
    assert abs(design.height_mm - height_mm) <= printer.layer_height_mm + 1e-9
    assert largest_plan == pytest.approx(plan_mm * math.sqrt(height_mm / design.height_mm))
    assert abs(design.mesh_volume_mm3 - design.volume_mm3) <= 1e-9 * design.volume_mm3
    assert len(batch.tablets) == 2
    for tablet in batch.tablets:
        assert tablet.target_mg == pytest.approx(dose_mg, rel=1e-12)
        assert abs(tablet.gcode_mg - dose_mg) <= RELEASE_TOLERANCE * dose_mg
    file_bytes = catalog.bundled_shapes()[shape].file.read_bytes()
    source = batch.to_dict()["design"]["source_mesh"]
    assert source["name"] == shape
    assert source["sha256"] == hashlib.sha256(file_bytes).hexdigest()


@settings(max_examples=40, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    process=st.sampled_from(PROCESSES),
    fraction=st.floats(0.0, 1.0),
)
def test_every_dose_on_the_lots_step_within_a_shapes_range_is_designed_within_it(
    shape: str, process: tuple[str, str], fraction: float
) -> None:
    lot_id, profile_id = process
    lot, profile = catalog.formulation(lot_id), catalog.printer_profile(profile_id)
    smallest, largest = dose_range_mg(shape, lot_id)
    steps = round(fraction * (largest - smallest) / lot.dose_step_mg)
    dose_mg = smallest + steps * lot.dose_step_mg
    dose = Dose("RX-RANGE", lot.drug_name, lot.id, dose_mg, dose_mg, 0.0, False, 2, 1)
    mesh = catalog.mesh_shape(name=shape)
    design = design_mesh_tablet(dose, lot, mesh, profile.layer_height_mm, profile.line_width_mm)
    low, high = mesh.size_range_mm
    largest_plan = max(design.dimensions_mm["length_mm"], design.dimensions_mm["width_mm"])
    assert low - 1e-6 <= largest_plan <= high + 1e-6
    assert abs(design.mesh_volume_mm3 - design.volume_mm3) <= 1e-9 * design.volume_mm3


CHILDREN = ["propranolol-child", "hydrocortisone-bsa"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("prescription", CHILDREN)
def test_the_bundled_childrens_prescriptions_are_made_in_each_shape_within_the_gate(
    prescription: str, shape: str
) -> None:
    rx = parse_prescription(
        json.loads((FIXTURES / "prescriptions" / f"{prescription}.json").read_text())
        | {"shape": "mesh", "mesh": {"name": shape}}
    )
    lot = catalog.formulation(rx.formulation)
    profile = {"fdm": "fdm-pharma-04", "sse": "sse-syringe-08"}[lot.process]
    batch = make_batch(rx, lot, catalog.printer_profile(profile), on=ON)

    dose_mg = {"propranolol-child": 12.5, "hydrocortisone-bsa": 3.0}[prescription]
    assert batch.design.shape == f"mesh:{shape}"
    assert len(batch.tablets) == rx.units
    for tablet in batch.tablets:
        assert tablet.target_mg == dose_mg
        assert abs(tablet.gcode_mg - dose_mg) <= RELEASE_TOLERANCE * dose_mg


def test_every_feature_of_each_shape_is_two_lines_wide_at_its_smallest_size() -> None:
    finest_line_mm = min(p.line_width_mm for p in catalog.printer_profiles().values())
    for entry in INDEX["shapes"]:
        assert entry["narrowest_feature_mm"] >= 2 * finest_line_mm, entry["name"]


def test_making_the_shapes_again_writes_the_same_files(tmp_path: Path) -> None:
    made = runpy.run_path(str(FIXTURES.parent / "scripts" / "make_shapes.py"))
    with contextlib.redirect_stdout(io.StringIO()):
        made["main"](tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    indexed = [name for e in INDEX["shapes"] for name in (e["file"], e["picture"])]
    assert written == sorted([*indexed, "shapes.json"])
    for name in written:
        assert (tmp_path / name).read_bytes() == (FIXTURES / "meshes" / name).read_bytes(), name


@pytest.mark.parametrize("shape", SHAPES)
def test_a_dose_just_outside_the_range_is_refused_naming_the_range(shape: str) -> None:
    from dosing.mesh_design import MeshShapeRefused

    smallest, largest = dose_range_mg(shape)
    lot, profile = catalog.formulation(LOT), catalog.printer_profile(PROFILE)
    for dose_mg, words in ((smallest - 0.5, "too small"), (largest + 0.5, "larger than")):
        with pytest.raises(MeshShapeRefused) as refused:
            make_batch(parse_prescription(rx_for(shape, dose_mg)), lot, profile, on=ON)
        assert refused.value.field == "shape"
        assert refused.value.value == f"mesh:{shape}"
        assert words in refused.value.reason
        assert "mg of propranolol-pva-10 within" in refused.value.reason
