"""The fast path makes what the slow one made: the bundled prescriptions' G-code byte for byte,
and a plate of copies of one sliced tablet prints as tablets sliced one by one."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.calculate import calculate
from dosing.design import design_tablet
from dosing.prescription import parse_prescription
from printmed.catalog import formulation, printer_profile
from printmed.intake import read_prescription
from printmed.manufacture.batch import make_batch
from printmed.manufacture.plate import PlateItem, make_plate
from tests.gcode.reference_cases import without_prime
from tests.test_make_gate import RX

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prescriptions"
ON = dt.date(2026, 11, 25)

# SHA-256 of make_batch's G-code (= `printmed make` with the date fixed), recorded at commit
# 3930256 before the speed work of issue 12 (numpy prisms, batched cuts, sorted edge checks);
# the text as it was before the prime line (issue 14): `without_prime` of today's must be it.
BEFORE_PRIME = {
    ("hydrocortisone-bsa.json", "sse-syringe-08"): (
        "170589b273467fa1cd3c81fbe0fc78e439e03dfe3ba04a3ca71a039217fd6415"
    ),
    ("isoleucine-minitablets.json", "sse-syringe-08"): (
        "87148930bb8b8fa84301c2d6f3358486db57a5cb339c435ef82434d1613d95b1"
    ),
    ("propranolol-child.fhir.json", "fdm-pharma-04"): (
        "8cecd34abd8d92fb4a8c6b24f89b48f5f154a29a336d1f341b2901969c00ff15"
    ),
    ("propranolol-child.json", "fdm-pharma-04"): (
        "e86a4c457f1738ebf580c66bb2d0875ce81211490fe610d2292ea717b2dbd29c"
    ),
    ("theophylline-adult.fhir.json", "fdm-pharma-04"): (
        "6875950e9dfaa481d881909a32487e832c743be2a64c5238d065fdfae331694d"
    ),
    ("theophylline-adult.json", "fdm-pharma-04"): (
        "852fb054844904e76a1e11fa90aa2d20c52e1095def65570257cb32617d61b43"
    ),
}


# The same with the prime line, recorded deliberately when it was added (issue 14).
RECORDED = {
    ("hydrocortisone-bsa.json", "sse-syringe-08"): (
        "d32f75ba584d87a613c8ba045856f71dd5db7cd4d5c74c9e584d7819d421cce3"
    ),
    ("isoleucine-minitablets.json", "sse-syringe-08"): (
        "cf9fd393ff77e0887c6871e1da5dad543e298a20507474c0e4cb7c3cc9f0f7c2"
    ),
    ("propranolol-child.fhir.json", "fdm-pharma-04"): (
        "e7ee70c60c94ab0362d0dc9c52d816fd988a74114a443ad238d8222619495b3b"
    ),
    ("propranolol-child.json", "fdm-pharma-04"): (
        "dfc49b24b3eeebafc21f29ef16bb5fb74ad153762872d7eaa9cfc178b8aa5385"
    ),
    ("theophylline-adult.fhir.json", "fdm-pharma-04"): (
        "5a685c19678fe9faccc63adcdb5b551744d5a9e1917098a0de9a5fa7adb1774d"
    ),
    ("theophylline-adult.json", "fdm-pharma-04"): (
        "1bc42963d9ce0451cc90ad54f6cba079b120467377bd4e03105b123aa189443f"
    ),
}


@pytest.mark.parametrize(("prescription", "printer"), sorted(RECORDED))
def test_each_bundled_prescription_makes_the_gcode_recorded_with_its_prime_line(
    prescription, printer
):
    rx = read_prescription(FIXTURES / prescription)
    batch = make_batch(rx, formulation(rx.formulation), printer_profile(printer), on=ON)
    assert hashlib.sha256(batch.gcode.encode()).hexdigest() == batch.sha256
    assert batch.sha256 == RECORDED[(prescription, printer)]
    # the prime added lines and nothing else: the tablets are byte for byte as before it
    before = hashlib.sha256(without_prime(batch.gcode).encode()).hexdigest()
    assert before == BEFORE_PRIME[(prescription, printer)]


def _design(dose_mg: float, shape: str):
    data = copy.deepcopy(RX)
    data["dose"]["value"] = dose_mg
    data["shape"] = shape
    lot = formulation("propranolol-pva-10")
    dose = calculate(parse_prescription(data), lot, on=ON)
    return design_tablet(dose, lot, shape, printer_profile("fdm-pharma-04").layer_height_mm)


@settings(max_examples=8, deadline=None)
@given(
    doses=st.lists(st.sampled_from([8.0, 12.5, 20.0, 35.0]), min_size=1, max_size=2, unique=True),
    shape=st.sampled_from(["round", "caplet", "ring"]),
    picks=st.lists(st.integers(min_value=0, max_value=1), min_size=1, max_size=9),
)
def test_copies_of_one_sliced_tablet_print_exactly_as_tablets_sliced_one_by_one(
    doses, shape, picks
):
    designs = [_design(dose, shape) for dose in doses]
    chosen = [designs[k % len(designs)] for k in picks]
    shared = [PlateItem(design, design.dose_mg) for design in chosen]
    # a copy of a design is another object: make_plate slices it again
    alone = [PlateItem(dataclasses.replace(design), design.dose_mg) for design in chosen]
    lot, fdm = formulation("propranolol-pva-10"), printer_profile("fdm-pharma-04")
    once = make_plate(shared, lot, fdm, job_id="copies")
    each = make_plate(alone, lot, fdm, job_id="copies")
    assert once.gcode == each.gcode
    assert [t.gcode_mg for t in once.tablets] == [t.gcode_mg for t in each.tablets]
    assert all(abs(t.deviation) < 0.005 for t in once.tablets)
