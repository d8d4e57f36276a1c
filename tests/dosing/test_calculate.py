"""Dose rules: per kg and per m², caps, rounding to the lot's step, refusals, the trail."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from dosing.bsa import du_bois, haycock, mosteller
from dosing.calculate import calculate
from dosing.errors import DoseOutOfRange, FormulationRefused, InvalidPrescription
from dosing.prescription import parse_prescription
from tests.dosing.conftest import TODAY, lot, rx_data


def dose_of(on: dt.date = TODAY, lot_changes: dict | None = None, **changes):
    return calculate(parse_prescription(rx_data(**changes)), lot(**(lot_changes or {})), on=on)


def test_mg_per_kg_multiplies_by_weight_and_rounds_to_the_step():
    dose = dose_of()
    assert dose.calculated_mg == pytest.approx(12.4)
    assert dose.dose_mg == 12.5
    assert dose.rounding_difference_mg == pytest.approx(0.1)
    assert not dose.capped


def test_eight_mg_per_kg_max_300_gives_300_for_40_kg():
    dose = dose_of(
        **{"dose.value": 8, "patient.weight_kg": 40, "max_single_dose_mg": 300},
        lot_changes={"dose_step_mg": 5.0},
    )
    assert dose.calculated_mg == 300
    assert dose.dose_mg == 300
    assert dose.capped
    assert [step.step for step in dose.trail] == ["weight-based dose", "cap", "round to dose step"]
    assert dose.trail[0].result == 320


def test_mosteller_by_hand():
    # sqrt(88 × 12.4 / 3600) = sqrt(0.303111) = 0.550555
    assert mosteller(88, 12.4) == pytest.approx(0.550555, abs=1e-6)


def test_du_bois_and_haycock_by_hand_for_an_adult():
    # 0.007184 × 175^0.725 × 70^0.425 = 0.007184 × 42.2866 × 6.08368 = 1.84814
    assert du_bois(175, 70) == pytest.approx(1.84814, abs=1e-5)
    # 0.024265 × 175^0.3964 × 70^0.5378 = 0.024265 × 7.74712 × 9.82412 = 1.84678
    assert haycock(175, 70) == pytest.approx(1.84678, abs=1e-5)


@pytest.mark.parametrize(
    ("formula", "function"), [("mosteller", mosteller), ("dubois", du_bois), ("haycock", haycock)]
)
def test_mg_per_m2_uses_and_records_the_chosen_bsa_formula(formula, function):
    dose = dose_of(
        **{"dose.unit": "mg/m2", "dose.value": 20, "bsa_formula": formula},
        lot_changes={"dose_step_mg": 0.01},
    )
    bsa = function(88, 12.4)
    assert dose.trail[0].step == f"body surface area ({formula})"
    assert dose.trail[0].result == pytest.approx(bsa)
    assert dose.calculated_mg == pytest.approx(20 * bsa)
    assert dose.dose_mg == pytest.approx(round(20 * bsa, 2))


def test_mg_per_m2_without_height_is_refused_naming_height():
    with pytest.raises(InvalidPrescription, match=r"^patient\.height_cm: \(missing\) is required"):
        dose_of(**{"dose.unit": "mg/m2", "patient.height_cm": ...})


def test_fixed_dose_above_the_cap_is_refused():
    with pytest.raises(DoseOutOfRange, match=r"^dose\.value: 50 mg is above max_single_dose_mg 40"):
        dose_of(**{"dose.unit": "mg", "dose.value": 50})


def test_rounding_more_than_five_percent_away_is_refused():
    # 12.4 mg with a 2 mg step rounds to 12 mg (3.2 %): allowed; with a 5 mg step to 10 mg (19 %)
    assert dose_of(lot_changes={"dose_step_mg": 2.0}).dose_mg == 12
    with pytest.raises(DoseOutOfRange, match=r"rounds to 10 mg .* 19\.4% away"):
        dose_of(lot_changes={"dose_step_mg": 5.0})


def test_rounding_never_goes_above_the_cap():
    dose = dose_of(
        **{"dose.value": 3.3, "max_single_dose_mg": 40.7, "patient.weight_kg": 20},
        lot_changes={"dose_step_mg": 1.0},
    )
    assert dose.calculated_mg == pytest.approx(40.7)
    assert dose.dose_mg == 40


def test_decimal_rounding_has_no_float_artefacts():
    dose = dose_of(
        **{"dose.value": 0.3, "patient.weight_kg": 10.5}, lot_changes={"dose_step_mg": 0.1}
    )
    assert dose.dose_mg == 3.2  # 3.15 rounds half up to 3.2, not 3.1
    assert repr(dose.dose_mg) == "3.2"


def test_expired_lot_is_refused():
    with pytest.raises(FormulationRefused, match=r"TEST-LOT-1' expired on 2026-11-24"):
        dose_of(lot_changes={"expiry": "2026-11-24"})


def test_lot_on_its_expiry_day_is_still_usable():
    assert dose_of(lot_changes={"expiry": TODAY.isoformat()}).dose_mg == 12.5


def test_lot_without_assay_is_refused():
    with pytest.raises(FormulationRefused, match=r"has no assay result"):
        dose_of(lot_changes={"assay_percent": None})


def test_lot_of_another_drug_is_refused():
    with pytest.raises(FormulationRefused, match=r"carries hydrocortisone"):
        dose_of(lot_changes={"drug_name": "hydrocortisone", "drug_code": "396458002"})


def test_a_dose_that_rounds_to_zero_is_refused():
    with pytest.raises(DoseOutOfRange, match=r"rounds to 0 mg"):
        dose_of(**{"dose.value": 0.01}, lot_changes={"dose_step_mg": 1.0})


def test_trail_steps_carry_inputs_formula_and_result():
    step = dose_of().trail[0]
    assert step.inputs == {"dose.value": 1.0, "weight_kg": 12.4}
    assert step.formula == "dose.value * weight_kg"
    assert math.isclose(step.result, 12.4)
    assert step.unit == "mg"
