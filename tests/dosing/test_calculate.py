"""Dose rules: per kg and per m², caps, rounding to the lot's step, refusals, the trail."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.bsa import du_bois, haycock, mosteller
from dosing.calculate import calculate, calculate_schedule
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


# ------------------------------------------------------------------ the prescribed maxima


def test_rounding_up_across_the_daily_maximum_rounds_down_instead_and_says_so():
    # issue 13: 1 mg/kg × 12.4 kg = 12.4 mg → 12.5 mg; twice a day 25 mg > 24.8 mg a day
    dose = dose_of(**{"max_daily_dose_mg": 24.8, "max_single_dose_mg": ...})
    assert dose.calculated_mg == pytest.approx(12.4)
    assert dose.dose_mg == 12.0
    assert not dose.capped
    last = dose.trail[-1]
    assert last.step == "round down to stay within max_daily_dose_mg"
    assert last.inputs["max_daily_dose_mg"] == 24.8
    assert last.inputs["most_allowed_mg"] == pytest.approx(12.4)


def test_a_rounding_down_more_than_five_percent_is_refused_naming_the_maximum():
    # 6.4 mg, at most 12.8 mg a day: 6.5 mg is above, 6 mg is 6.25 % away
    with pytest.raises(DoseOutOfRange) as refused:
        dose_of(**{"patient.weight_kg": 6.4, "max_daily_dose_mg": 12.8})
    assert (refused.value.field, refused.value.value) == ("max_daily_dose_mg", 12.8)
    assert "rounds down to 6 mg" in refused.value.reason


def test_a_fixed_dose_above_the_daily_maximum_is_refused():
    with pytest.raises(DoseOutOfRange, match=r"^dose\.value: 15 mg × 2 a day is above max_daily"):
        dose_of(**{"dose.unit": "mg", "dose.value": 15, "max_daily_dose_mg": 24.8})


def test_a_weight_based_dose_above_the_daily_maximum_is_capped_to_it():
    dose = dose_of(**{"dose.value": 2, "max_daily_dose_mg": 40, "max_single_dose_mg": ...})
    assert dose.capped
    assert dose.calculated_mg == 20
    assert dose.dose_mg == 20
    assert dose.trail[1].formula == "min(dose_mg, max_daily_dose_mg / frequency_per_day)"


# ------------------------------------------------------------------ the drug's formulary limits


@pytest.mark.parametrize(
    ("changes", "limits", "named"),
    [
        ({"dose.value": 2.5}, {"max_mg_per_kg_per_dose": 2.0}, "max_mg_per_kg_per_dose of 2"),
        (
            {"dose.value": 2.0, "frequency_per_day": 3},
            {"max_mg_per_kg_per_dose": 5.0, "max_mg_per_kg_per_day": 5.0},
            "max_mg_per_kg_per_day of 5 mg/kg a day",
        ),
        ({"dose.unit": "mg", "dose.value": 30}, {"max_mg_per_dose": 20.0}, "max_mg_per_dose of 20"),
        (
            {"dose.unit": "mg", "dose.value": 30, "frequency_per_day": 4},
            {"max_mg_per_dose": 100.0, "max_mg_per_day": 100.0},
            "max_mg_per_day of 100 mg a day",
        ),
    ],
)
def test_a_dose_above_the_drugs_limits_is_refused_naming_the_limit(changes, limits, named):
    with pytest.raises(DoseOutOfRange) as refused:
        dose_of(**changes, lot_changes={"limits": limits})
    assert refused.value.field == "dose"
    assert f"propranolol's {named}" in refused.value.reason


def test_the_adult_maximum_holds_whatever_the_weight():
    with pytest.raises(DoseOutOfRange, match="max_mg_per_dose of 160"):
        dose_of(
            **{"dose.value": 2, "patient.weight_kg": 90, "max_single_dose_mg": ...},
            lot_changes={"limits": {"max_mg_per_kg_per_dose": 2.0, "max_mg_per_dose": 160.0}},
        )


def test_rounding_never_crosses_a_drug_limit_either():
    # 12.4 mg is within 1 mg/kg (12.4 mg); the nearest step, 12.5 mg, is not
    dose = dose_of(lot_changes={"limits": {"max_mg_per_kg_per_dose": 1.0}})
    assert dose.dose_mg == 12.0
    assert dose.trail[-1].step == "round down to stay within max_mg_per_kg_per_dose"


def test_a_lot_whose_drug_has_no_limits_on_file_is_not_dosed():
    with pytest.raises(FormulationRefused, match="has no drug limits on file"):
        dose_of(lot_changes={"limits": None})


def test_the_bundled_prescriptions_are_within_the_bundled_drug_limits():
    from printmed import catalog
    from printmed.intake import read_prescription

    folder = catalog.fixtures_dir() / "prescriptions"
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("Observation"):
            continue
        rx = read_prescription(path)
        steps = calculate_schedule(rx, catalog.formulation(rx.formulation), on=TODAY)
        assert len(steps) == (len(rx.schedule) if rx.schedule else 1), path.name
        assert all(step.dose.dose_mg > 0 for step in steps), path.name
        assert sum(step.dose.doses for step in steps) == rx.units, path.name


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    per_kg=st.decimals(min_value="0.1", max_value="5", places=2),
    weight_kg=st.decimals(min_value="2", max_value="120", places=1),
    per_day=st.integers(min_value=1, max_value=6),
    step_mg=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0, 5.0]),
    single=st.none() | st.decimals(min_value="1", max_value="300", places=1),
    daily=st.none() | st.decimals(min_value="1", max_value="1200", places=1),
    kg_dose=st.decimals(min_value="0.5", max_value="10", places=1),
    adult_dose=st.decimals(min_value="5", max_value="500", places=0),
)
def test_no_dose_is_ever_above_any_maximum(
    per_kg, weight_kg, per_day, step_mg, single, daily, kg_dose, adult_dose
):
    changes: dict[str, object] = {
        "dose.value": float(per_kg),
        "patient.weight_kg": float(weight_kg),
        "frequency_per_day": per_day,
        "max_single_dose_mg": ... if single is None else float(single),
    }
    if daily is not None:
        changes["max_daily_dose_mg"] = float(daily)
    limits = {
        "max_mg_per_kg_per_dose": float(kg_dose),
        "max_mg_per_kg_per_day": float(kg_dose) * 4,
        "max_mg_per_dose": float(adult_dose),
        "max_mg_per_day": float(adult_dose) * 4,
    }
    try:
        dose = dose_of(**changes, lot_changes={"dose_step_mg": step_mg, "limits": limits})
    except DoseOutOfRange:
        return  # refused naming a limit or the 5 % rule: nothing is printed
    mg = Decimal(repr(dose.dose_mg))
    ceilings = [Decimal(limits["max_mg_per_dose"]), Decimal(limits["max_mg_per_day"]) / per_day]
    ceilings += [Decimal(repr(limits["max_mg_per_kg_per_dose"])) * weight_kg]
    ceilings += [Decimal(repr(limits["max_mg_per_kg_per_day"])) * weight_kg / per_day]
    if single is not None:
        ceilings.append(single)
    if daily is not None:
        ceilings.append(daily / per_day)
    assert all(mg <= ceiling for ceiling in ceilings)
    assert abs(dose.dose_mg - dose.calculated_mg) <= 0.05 * dose.calculated_mg + 1e-12
