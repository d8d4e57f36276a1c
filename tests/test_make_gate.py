"""The dose gate on real plates: different doses pass; a tampered G-code is refused."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from dosing.calculate import calculate
from dosing.design import design_tablet
from dosing.prescription import parse_prescription
from gcode.profile import load_profile
from printmed.catalog import formulation
from printmed.intake import read_prescription
from printmed.manufacture import PlateItem, make_batch, make_plate
from printmed.manufacture.gate import DoseGateFailed, GateTarget, check_dose
from tests.gcode.tampering import scale_tablet_e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ON = dt.date(2026, 11, 25)
RX: dict[str, Any] = {
    "id": "RX-PLATE",
    "patient": {"id": "TEST-PATIENT-9", "weight_kg": 20.0, "height_cm": 110, "age_years": 6},
    "drug": {"name": "propranolol", "code": "372772003"},
    "dose": {"value": 10.0, "unit": "mg"},
    "frequency_per_day": 1,
    "units": 1,
    "formulation": "propranolol-pva-10",
    "shape": "round",
}


@pytest.fixture(scope="module")
def fdm():
    return load_profile("fdm-pharma-04")


@pytest.fixture(scope="module")
def lot():
    return formulation("propranolol-pva-10")


@pytest.fixture(scope="module")
def mixed_plate(fdm, lot):
    """Three tablets of 5, 12.5 and 20 mg of one lot on one plate."""
    items = []
    for dose_mg in (5.0, 12.5, 20.0):
        data = copy.deepcopy(RX)
        data["dose"]["value"] = dose_mg
        dose = calculate(parse_prescription(data), lot, on=ON)
        design = design_tablet(dose, lot, "round", fdm.layer_height_mm)
        items.append(PlateItem(design, design.dose_mg))
    return make_plate(items, lot, fdm, job_id="plate-test")


def test_a_plate_of_different_doses_passes_the_gate_within_half_a_percent(mixed_plate):
    targets = [t.target_mg for t in mixed_plate.tablets]
    assert targets == [5.0, 12.5, 20.0]
    for tablet in mixed_plate.tablets:
        assert abs(tablet.deviation) < 0.005
        assert tablet.gcode_volume_mm3 == pytest.approx(tablet.target_volume_mm3, rel=0.005)
    assert mixed_plate.sha256 == hashlib.sha256(mixed_plate.gcode.encode()).hexdigest()


def _targets(plate) -> list[GateTarget]:
    return [GateTarget(t.name, t.target_mg, t.target_volume_mm3) for t in plate.tablets]


def test_one_tablet_with_its_e_scaled_by_5_percent_fails_the_gate_naming_it(mixed_plate, fdm, lot):
    tampered = scale_tablet_e(mixed_plate.gcode, 1, 1.05)
    with pytest.raises(DoseGateFailed) as refusal:
        check_dose(tampered, _targets(mixed_plate), fdm, mixed_plate.mm3_per_e, lot.drug_mg_per_mm3)
    assert refusal.value.field == "tablet[1]"
    assert refusal.value.value.startswith("+5.0")


def test_a_tampered_header_does_not_move_the_gate(mixed_plate, fdm, lot):
    tampered = re.sub(
        r"\d+\.\d+ mm3 per unit of E", "9.999999 mm3 per unit of E", mixed_plate.gcode
    )
    checks, _ = check_dose(
        tampered, _targets(mixed_plate), fdm, mixed_plate.mm3_per_e, lot.drug_mg_per_mm3
    )
    assert [c.gcode_mg for c in checks] == [t.gcode_mg for t in mixed_plate.tablets]


def _before_first_tablet(text: str, line: str) -> str:
    """`line` inserted after the prime line, just before tablet 0's label opens."""
    return text.replace("\nM486 S0\n", f"\n{line}\nM486 S0\n", 1)


def test_extrusion_outside_any_tablet_fails_the_gate(mixed_plate, fdm, lot):
    tampered = _before_first_tablet(mixed_plate.gcode, "G1 X1 Y1 E0.5")
    with pytest.raises(DoseGateFailed) as refusal:
        check_dose(tampered, _targets(mixed_plate), fdm, mixed_plate.mm3_per_e, lot.drug_mg_per_mm3)
    assert refusal.value.field == "gcode.unlabelled_volume_mm3"


def test_a_flow_override_in_the_file_fails_the_gate_naming_its_line(mixed_plate, fdm, lot):
    tampered = _before_first_tablet(mixed_plate.gcode, "M221 S105")
    line = tampered.splitlines().index("M221 S105") + 1
    with pytest.raises(DoseGateFailed) as refusal:
        check_dose(tampered, _targets(mixed_plate), fdm, mixed_plate.mm3_per_e, lot.drug_mg_per_mm3)
    assert refusal.value.field == f"gcode.line[{line}]"


def test_a_missing_tablet_fails_the_gate(mixed_plate, fdm, lot):
    with pytest.raises(DoseGateFailed) as refusal:
        check_dose(
            mixed_plate.gcode,
            [*_targets(mixed_plate), _targets(mixed_plate)[0]],
            fdm,
            mixed_plate.mm3_per_e,
            lot.drug_mg_per_mm3,
        )
    assert refusal.value.field == "gcode.objects"


def test_make_batch_prints_every_unit_of_a_prescription_on_an_sse_printer():
    rx = read_prescription(FIXTURES / "prescriptions" / "hydrocortisone-bsa.json")
    lot = formulation(rx.formulation)
    batch = make_batch(rx, lot, load_profile("sse-syringe-08"), on=ON)
    assert len(batch.tablets) == batch.design.units_total
    assert all(abs(t.deviation) < 0.005 for t in batch.tablets)
    assert "M83" in batch.gcode
    data = batch.to_dict()
    assert data["sha256"] == batch.sha256 and len(data["tablets"]) == len(batch.tablets)
