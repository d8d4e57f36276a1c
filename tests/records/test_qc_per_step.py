"""QC of a schedule's batch: each step's units judged against its own dose (Ph. Eur. 2.9.5 and
2.9.40 are tests of one strength), the batch passing only when every step does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printmed.errors import InputError
from printmed.records.qc import StepUnits, assess, assess_steps, qc_lines, unit_weights
from printmed.records.weighing import qc_of, step_targets, step_units
from printmed.store.models import Batch
from tests.records.builders import FORMULATION

# the taper: 10, 7.5 then 5 mg, 14 units each; the test lot is 10 % w/w at 100 % assay
TAPER = [StepUnits(1, 10.0, 14), StepUnits(2, 7.5, 14), StepUnits(3, 5.0, 14)]


def _weights(steps: list[StepUnits], spread: float = 0.002) -> list[float]:
    """Each unit at its own step's target mass (dose ÷ 0.1), within ±2·spread."""
    return [
        s.dose_mg * 10.0 * (1 + spread * (unit % 5 - 2)) for s in steps for unit in range(s.units)
    ]


def test_each_step_of_a_taper_is_judged_against_its_own_dose_and_all_pass() -> None:
    qc = assess_steps(_weights(TAPER), steps=TAPER, formulation=FORMULATION)
    assert qc["passed"] is True
    assert [(s["step"], s["first_unit"], s["last_unit"]) for s in qc["steps"]] == [
        (1, 1, 14),
        (2, 15, 28),
        (3, 29, 42),
    ]
    assert [s["target_unit_mass_mg"] for s in qc["steps"]] == pytest.approx([100.0, 75.0, 50.0])
    assert qc["contents_percent"] == pytest.approx([100.0] * 42, abs=0.5)
    # the batch as a whole has no one dose, mean mass or AV: those are per step
    assert (qc["dose_mg"], qc["mass_uniformity"], qc["acceptance_value"]) == (None, None, None)


def test_the_same_weights_judged_as_one_strength_fail_which_is_why_qc_is_per_step() -> None:
    mixed = assess(_weights(TAPER), dose_mg=10.0, formulation=FORMULATION, units=42)
    assert mixed["passed"] is False
    assert mixed["mass_uniformity"]["outside_twice_limit"] > 0


def test_one_step_out_of_uniformity_fails_the_batch_and_only_that_step() -> None:
    weights = _weights(TAPER)
    weights[20] *= 1.25  # a unit of step 2, 25 % heavy: outside twice the ±10 % limit at 75 mg
    qc = assess_steps(weights, steps=TAPER, formulation=FORMULATION)
    assert [s["passed"] for s in qc["steps"]] == [True, False, True]
    assert qc["steps"][1]["mass_uniformity"]["outside_twice_limit"] == 1
    assert qc["passed"] is False
    assert "step 2 (7.5 mg, units 15–28): 14 of 14 units" in qc_lines(qc)[1]
    assert qc_lines(qc)[-1] == "QC FAILED (every step)"


def test_a_step_with_fewer_than_two_units_weighed_is_not_assessed_and_does_not_pass() -> None:
    # the weights fill the plate in order: 15 units weigh step 1 and one unit of step 2
    qc = assess_steps(_weights(TAPER)[:15], steps=TAPER, formulation=FORMULATION)
    assert qc["steps"][0]["passed"] is True
    assert qc["steps"][1]["units_weighed"] == 1
    assert qc["steps"][1]["mass_uniformity"] is None
    assert qc["steps"][2]["units_weighed"] == 0
    assert qc["passed"] is False
    assert "too few to assess, FAIL" in qc_lines(qc)[1]


def test_more_weights_than_the_steps_have_units_are_refused() -> None:
    with pytest.raises(InputError, match="weights: 43 units weighed; the batch has 42"):
        assess_steps([*_weights(TAPER), 100.0], steps=TAPER, formulation=FORMULATION)


def test_a_bad_weight_is_named_by_its_place_on_the_plate() -> None:
    weights = _weights(TAPER)
    weights[30] = -1.0
    with pytest.raises(InputError, match=r"weights\[30\]"):
        assess_steps(weights, steps=TAPER, formulation=FORMULATION)


def test_a_schedules_typed_weights_keep_their_place_on_the_plate() -> None:
    # a blank unit would move every later weight into the step before it
    assert unit_weights(["100", "101", "", ""], in_plate_order=True) == [100.0, 101.0]
    with pytest.raises(InputError, match="unit 2: '' is blank but unit 3 is weighed"):
        unit_weights(["100", " ", "75"], in_plate_order=True)
    assert unit_weights(["100", " ", "75"]) == [100.0, 75.0]  # one dose: any unit may be skipped


def test_a_step_of_fewer_than_ten_units_holds_every_unit_within_85_to_115_percent() -> None:
    # nine units: AV (k 2.4) 13.2 and 2.9.5 (one outside ±7.5 %, none outside 15 %) both pass,
    # but one unit holds 84.5 % of its dose: too few units for the AV alone to be trusted
    small = [StepUnits(1, 12.5, 9)]
    weights = [126.25] * 8 + [105.625]
    qc = assess_steps(weights, steps=small, formulation=FORMULATION)
    step = qc["steps"][0]
    assert step["mass_uniformity"]["passed"] is True
    assert step["acceptance_value"]["passed"] is True
    assert step["acceptance_value"]["value"] == pytest.approx(13.2, abs=0.1)
    assert step["unit_limits"] == {
        "low_percent": 85.0,
        "high_percent": 115.0,
        "outside": 1,
        "passed": False,
    }
    assert (step["reduced_sample"], step["passed"], qc["passed"]) == (True, False, False)


def test_ten_units_or_more_are_judged_by_the_acceptance_value_without_unit_limits() -> None:
    qc = assess_steps(_weights(TAPER), steps=TAPER, formulation=FORMULATION)
    assert all(s["unit_limits"] is None and not s["reduced_sample"] for s in qc["steps"])


steps_strategy = st.lists(
    st.tuples(st.sampled_from([2.5, 5.0, 7.5, 10.0, 12.5]), st.integers(2, 16)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(steps=steps_strategy, data=st.data())
def test_a_steps_verdict_is_its_own_units_alone_and_the_batch_passes_only_if_all_do(
    steps: list[tuple[float, int]], data: st.DataObject
) -> None:
    plan = [StepUnits(n + 1, dose, units) for n, (dose, units) in enumerate(steps)]
    weights = [
        data.draw(st.floats(0.8, 1.2)) * s.dose_mg * 10.0 for s in plan for _ in range(s.units)
    ]
    qc = assess_steps(weights, steps=plan, formulation=FORMULATION)
    first = 0
    for s, judged in zip(plan, qc["steps"], strict=True):
        alone = assess(
            weights[first : first + s.units],
            dose_mg=s.dose_mg,
            formulation=FORMULATION,
            units=s.units,
        )
        assert {k: judged[k] for k in alone} == alone
        first += s.units
    assert qc["passed"] == all(s["passed"] for s in qc["steps"])


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    relative=st.lists(st.floats(0.9, 1.1), min_size=14, max_size=14),
    doses=st.lists(st.sampled_from([2.5, 5.0, 7.5, 10.0, 20.0]), min_size=2, max_size=3),
)
def test_units_at_the_same_fraction_of_their_own_dose_get_the_same_verdict_in_every_step(
    relative: list[float], doses: list[float]
) -> None:
    # the rules are relative (% of the mean mass, % of label): a step's verdict depends on its
    # units' masses relative to its own target only, except where 2.9.5's limit changes band
    plan = [StepUnits(n + 1, dose, 14) for n, dose in enumerate(doses)]
    weights = [r * s.dose_mg * 10.0 for s in plan for r in relative]
    qc = assess_steps(weights, steps=plan, formulation=FORMULATION)
    percents = [s["contents_percent"] for s in qc["steps"]]
    assert all(p == pytest.approx(percents[0]) for p in percents)
    values = [s["acceptance_value"]["value"] for s in qc["steps"]]
    assert values == pytest.approx([values[0]] * len(values))


# ------------------------------------------------------------ a recorded batch (qc_of, weighing)


def _taper_batch(targets: list[float] | None = None) -> Batch:
    """A recorded taper as the records see it: design steps, the gate's per-tablet targets."""
    targets = targets or [10.0] * 14 + [7.5] * 14 + [5.0] * 14
    design: dict[str, Any] = {
        "dose_mg": 10.0,
        "units_total": 42,
        "steps": [
            {"step": 1, "dose_mg": 10.0, "units_total": 14},
            {"step": 2, "dose_mg": 7.5, "units_total": 14},
            {"step": 3, "dose_mg": 5.0, "units_total": 14},
        ],
    }
    # the gate lists tablets in plate order; shuffled here to show the order is by index
    tablets = [{"index": i, "target_mg": t} for i, t in enumerate(targets)][::-1]
    return Batch(
        batch_number="PM-TEST-TAPER",
        design_json=json.dumps(design),
        gate_json=json.dumps({"tablets": tablets}),
        formulation_json=json.dumps(FORMULATION),
        prescription_json=json.dumps({"units": 42}),
    )


def test_a_recorded_taper_takes_each_units_target_from_the_gate_in_plate_order() -> None:
    job = _taper_batch()
    assert step_units(job) == TAPER
    assert [
        (t.step, t.target_unit_mass_mg, t.first_unit, t.last_unit) for t in step_targets(job)
    ] == [
        (1, pytest.approx(100.0), 1, 14),
        (2, pytest.approx(75.0), 15, 28),
        (3, pytest.approx(50.0), 29, 42),
    ]
    qc = qc_of(job, _weights(TAPER))
    assert qc["passed"] is True
    assert [s["dose_mg"] for s in qc["steps"]] == [10.0, 7.5, 5.0]


def test_gate_targets_that_differ_within_a_step_are_refused_naming_the_tablet() -> None:
    job = _taper_batch([10.0] * 14 + [7.5] * 13 + [5.0] * 15)
    with pytest.raises(InputError, match=r"gate_json.tablets\[27\].target_mg: 5"):
        qc_of(job, _weights(TAPER))
