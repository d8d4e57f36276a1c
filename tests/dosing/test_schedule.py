"""A schedule dosed step by step: each step its own dose, trail and days of the course; the
prescribed maxima and the drug's limits per dose and per day hold for every step; a step that
cannot be dosed refuses the whole order naming the step."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosing.calculate import calculate, calculate_schedule
from dosing.design import design_tablet
from dosing.errors import DoseOutOfRange, InvalidPrescription
from dosing.prescription import parse_prescription
from tests.dosing.conftest import TODAY, lot, rx_data


def step(value: float, per_day: int = 2, days: int = 7, unit: str = "mg") -> dict[str, Any]:
    return {"dose": {"value": value, "unit": unit}, "frequency_per_day": per_day, "days": days}


def schedule_rx(*steps: dict, **changes: Any):
    data = rx_data(**{"dose": ..., "frequency_per_day": ..., "units": ..., **changes})
    data["schedule"] = list(steps)
    return parse_prescription(data)


def taper():
    return schedule_rx(step(10.0), step(7.5), step(5.0))


def test_each_step_of_a_taper_is_dosed_with_its_own_trail_and_days():
    dosed = calculate_schedule(taper(), lot(), on=TODAY)
    assert [(s.step, s.first_day, s.last_day, s.dose.dose_mg, s.dose.doses) for s in dosed] == [
        (1, 1, 7, 10.0, 14),
        (2, 8, 14, 7.5, 14),
        (3, 15, 21, 5.0, 14),
    ]
    for s in dosed:
        assert s.dose.trail[0].step == f"schedule step {s.step} of 3"
        assert s.dose.trail[0].inputs["first_day"] == s.first_day
        assert s.dose.trail[-1].step == "round to dose step"
        assert s.dose.trail[-1].result == s.dose.dose_mg


def test_an_order_without_a_schedule_is_one_step():
    dosed = calculate_schedule(parse_prescription(rx_data()), lot(), on=TODAY)
    assert [(s.step, s.first_day, s.days, s.dose.dose_mg) for s in dosed] == [(1, 1, 14, 12.5)]


def test_a_weight_based_titration_rises_with_each_step():
    rx = schedule_rx(step(0.5, unit="mg/kg"), step(1.0, unit="mg/kg"), step(1.5, unit="mg/kg"))
    dosed = calculate_schedule(rx, lot(), on=TODAY)
    # 12.4 kg: 6.2, 12.4, 18.6 mg, each on the lot's 0.5 mg step
    assert [s.dose.dose_mg for s in dosed] == [6.0, 12.5, 18.5]
    assert [s.dose.calculated_mg for s in dosed] == pytest.approx([6.2, 12.4, 18.6])


def test_a_step_above_the_prescribed_maximum_refuses_the_order_naming_the_step():
    rx = schedule_rx(step(10.0), step(45.0), step(5.0))  # max_single_dose_mg 40
    with pytest.raises(DoseOutOfRange) as refused:
        calculate_schedule(rx, lot(), on=TODAY)
    assert (refused.value.field, refused.value.value) == ("schedule[1].dose.value", 45.0)
    assert "above max_single_dose_mg 40" in refused.value.reason


def test_the_drugs_daily_limit_holds_for_each_step_at_its_own_frequency():
    # 12 mg a dose: twice a day is 24 mg (within 30), three times a day is 36 mg (above)
    limits = {"max_mg_per_dose": 20.0, "max_mg_per_day": 30.0}
    rx = schedule_rx(step(12.0, per_day=2), step(12.0, per_day=3))
    with pytest.raises(DoseOutOfRange) as refused:
        calculate_schedule(rx, lot(limits=limits), on=TODAY)
    assert refused.value.field == "schedule[1].dose"
    assert "max_mg_per_day of 30" in refused.value.reason
    assert calculate_schedule(schedule_rx(step(12.0), step(15.0)), lot(limits=limits), on=TODAY)


def test_a_step_that_rounds_too_far_refuses_naming_the_step():
    rx = schedule_rx(step(10.0), step(0.3))  # 0.3 mg rounds to 0.5 mg with a 0.5 mg step
    with pytest.raises(DoseOutOfRange) as refused:
        calculate_schedule(rx, lot(), on=TODAY)
    assert refused.value.field == "schedule[1].dose"
    assert "more than 5% is refused" in refused.value.reason


def test_an_order_wide_maximum_broken_by_a_step_says_which_step():
    rx = schedule_rx(step(10.0), step(20.0), max_daily_dose_mg=30)
    with pytest.raises(DoseOutOfRange) as refused:
        calculate_schedule(rx, lot(), on=TODAY)
    assert refused.value.field == "schedule[1].dose.value"


def test_a_steps_own_maximum_that_forbids_its_rounding_is_named_as_the_steps():
    # 1.2 mg/kg × 12.4 kg = 14.88 mg; at most 29.9 mg a day (14.95 a dose) this step, so the
    # lot's 5 mg step cannot round up to 15 mg, and 10 mg is more than 5 % below
    own = step(1.2, unit="mg/kg") | {"max_daily_dose_mg": 29.9}
    rx = schedule_rx(step(10.0), own)
    with pytest.raises(DoseOutOfRange) as refused:
        calculate_schedule(rx, lot(dose_step_mg=5.0), on=TODAY)
    assert (refused.value.field, refused.value.value) == ("schedule[1].max_daily_dose_mg", 29.9)


def test_each_step_gets_a_tablet_that_holds_its_own_dose():
    pva = lot()
    designs = [design_tablet(s.dose, pva, "round", 0.2) for s in calculate_schedule(taper(), pva)]
    assert [d.dose_mg for d in designs] == [10.0, 7.5, 5.0]
    for design in designs:
        assert design.volume_mm3 * pva.drug_mg_per_mm3 == pytest.approx(design.dose_mg, rel=1e-9)
        assert design.units_total == 14


STEPS = st.lists(
    st.tuples(
        st.sampled_from([5.0, 7.5, 10.0, 12.5, 15.0]),
        st.integers(min_value=1, max_value=4),
        st.integers(min_value=1, max_value=8),
    ),
    min_size=2,
    max_size=6,  # at most 6 × 4 × 8 = 192 doses: the supply's limit is 200
)


@given(steps=STEPS)
def test_a_schedule_covers_its_days_end_to_end_each_step_at_its_dose(steps):
    rx = schedule_rx(*(step(mg, per_day, days) for mg, per_day, days in steps))
    dosed = calculate_schedule(rx, lot(), on=TODAY)
    assert [s.dose.dose_mg for s in dosed] == [mg for mg, _, _ in steps]
    assert dosed[0].first_day == 1
    for before, after in itertools.pairwise(dosed):
        assert after.first_day == before.last_day + 1
    assert dosed[-1].last_day == sum(days for _, _, days in steps)
    assert sum(s.dose.doses for s in dosed) == rx.units


def test_a_schedule_is_never_dosed_as_its_first_step_for_the_whole_supply():
    with pytest.raises(InvalidPrescription) as refused:
        calculate(taper(), lot(), on=TODAY)
    assert refused.value.field == "schedule"
    assert "step by step" in refused.value.reason
