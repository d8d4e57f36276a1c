"""Each bundled child-friendly shape, from a prescription to gated G-code, at the smallest and
the largest dose its size range allows: on the FDM printer (propranolol 10 % in PVA) and on the
paste printer (isoleucine 20 % paste, 0.8 mm lines)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from dosing.mesh_design import volume_range_mm3
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
    batch = make_batch(rx, catalog.formulation(lot), catalog.printer_profile(profile), on=ON)

    low, high = catalog.bundled_shapes()[shape].size_range_mm
    largest_plan = max(
        batch.design.dimensions_mm["length_mm"], batch.design.dimensions_mm["width_mm"]
    )
    assert low - 1e-6 <= largest_plan <= high + 1e-6
    # near its end of the range: off by the dose step and the whole-layer height only
    assert (largest_plan < 1.08 * low) if end == "smallest" else (largest_plan > 0.95 * high)
    assert (
        abs(batch.design.mesh_volume_mm3 - batch.design.volume_mm3)
        <= 1e-9 * batch.design.volume_mm3
    )
    assert len(batch.tablets) == 2
    for tablet in batch.tablets:
        assert tablet.target_mg == pytest.approx(dose_mg, rel=1e-12)
        assert abs(tablet.gcode_mg - dose_mg) <= RELEASE_TOLERANCE * dose_mg
    file_bytes = catalog.bundled_shapes()[shape].file.read_bytes()
    source = batch.to_dict()["design"]["source_mesh"]
    assert source["name"] == shape
    assert source["sha256"] == hashlib.sha256(file_bytes).hexdigest()


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
