"""Schedules that change the dose (a taper, a titration) at intake: several FHIR
dosageInstructions, or a native `schedule`, read step by step in order; steps that overlap,
leave a gap, disagree with the supply or with themselves are refused naming the element."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosing.errors import InvalidPrescription
from printmed.intake.fhir_order import fhir_field
from tests.api.payloads import fixture
from tests.intake.orders import UCUM, fhir, native

MR = "MedicationRequest"


def taper() -> dict[str, Any]:
    """The bundled taper: 10, 7.5, 5 mg twice a day, 25 Nov to 15 Dec 2026 (boundsPeriods)."""
    return copy.deepcopy(fixture("propranolol-taper.fhir.json"))


def native_taper() -> dict[str, Any]:
    return copy.deepcopy(fixture("propranolol-taper.json"))


def period(order: dict[str, Any], step: int) -> dict[str, Any]:
    found: dict[str, Any] = order["dosageInstruction"][step]["timing"]["repeat"]["boundsPeriod"]
    return found


def refused(order: dict[str, Any]) -> InvalidPrescription:
    with pytest.raises(InvalidPrescription) as caught:
        fhir(order)
    return caught.value


def test_the_bundled_taper_is_read_as_three_steps_in_order():
    rx = fhir(taper())
    assert rx.schedule is not None
    steps = [(s.dose.value, s.frequency_per_day, s.days, s.max_single_dose_mg) for s in rx.schedule]
    assert steps == [(10.0, 2, 7, 40.0), (7.5, 2, 7, 40.0), (5.0, 2, 7, 40.0)]
    assert (rx.units, rx.dose.value, rx.frequency_per_day) == (42, 10.0, 2)
    assert rx.max_single_dose_mg is None  # each step carries its own


def test_the_native_taper_reads_as_the_fhir_one():
    fhir_steps = fhir(taper()).schedule
    native_rx = native(native_taper())
    assert native_rx.schedule is not None and fhir_steps is not None
    assert [(s.dose, s.frequency_per_day, s.days) for s in native_rx.schedule] == [
        (s.dose, s.frequency_per_day, s.days) for s in fhir_steps
    ]
    assert native_rx.units == 42


def test_a_step_that_overlaps_the_one_before_is_refused_naming_its_start():
    order = taper()
    period(order, 1)["start"] = "2026-12-01"
    error = refused(order)
    assert error.field == f"{MR}.dosageInstruction[1].timing.repeat.boundsPeriod.start"
    assert "overlaps the step before" in error.reason


def test_a_step_that_leaves_a_gap_after_the_one_before_is_refused_naming_its_start():
    order = taper()
    period(order, 2)["start"] = "2026-12-10"
    period(order, 2)["end"] = "2026-12-16"
    error = refused(order)
    assert error.field == f"{MR}.dosageInstruction[2].timing.repeat.boundsPeriod.start"
    assert "leaves a gap after" in error.reason


def test_a_supply_other_than_the_sum_of_the_steps_is_refused_naming_the_quantity():
    order = taper()
    order["dispenseRequest"]["quantity"]["value"] = 40
    error = refused(order)
    assert (error.field, error.value) == (f"{MR}.dispenseRequest.quantity.value", 40)
    assert "schedule's 42 (14 + 14 + 14" in error.reason


def test_a_supply_duration_other_than_the_steps_days_is_refused():
    order = taper()
    order["dispenseRequest"]["expectedSupplyDuration"]["value"] = 28
    assert refused(order).field == f"{MR}.dispenseRequest.expectedSupplyDuration"


def test_a_step_without_a_sequence_is_refused_naming_it():
    order = taper()
    del order["dosageInstruction"][1]["sequence"]
    assert refused(order).field == f"{MR}.dosageInstruction[1].sequence"


def test_steps_listed_out_of_sequence_are_refused_naming_the_one_out_of_place():
    order = taper()
    order["dosageInstruction"][1]["sequence"] = 4
    error = refused(order)
    assert (error.field, error.value) == (f"{MR}.dosageInstruction[2].sequence", 3)


def test_two_dosages_at_once_are_refused():
    order = taper()
    order["dosageInstruction"][2]["sequence"] = 2
    error = refused(order)
    assert error.field == f"{MR}.dosageInstruction[2].sequence"
    assert "two dosages at once" in error.reason


def test_a_step_without_bounds_is_refused_naming_where_they_belong():
    order = taper()
    del order["dosageInstruction"][1]["timing"]["repeat"]["boundsPeriod"]
    assert refused(order).field == f"{MR}.dosageInstruction[1].timing.repeat.boundsDuration"


def test_a_step_of_part_of_a_day_is_refused():
    order = taper()
    repeat = order["dosageInstruction"][2]["timing"]["repeat"]
    del repeat["boundsPeriod"]
    repeat["boundsDuration"] = {"value": 36, "unit": "h", "system": UCUM, "code": "h"}
    error = refused(order)
    assert error.field == f"{MR}.dosageInstruction[2].timing.repeat.boundsDuration"
    assert "whole number of days" in error.reason


def test_a_count_that_disagrees_with_its_step_is_refused():
    order = taper()
    order["dosageInstruction"][1]["timing"]["repeat"]["count"] = 12
    assert refused(order).field == f"{MR}.dosageInstruction[1].timing.repeat.count"


def test_a_step_given_by_another_route_is_refused_naming_that_step():
    order = taper()
    order["dosageInstruction"][2]["route"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "37161004"}]
    }
    assert refused(order).field == f"{MR}.dosageInstruction[2].route"


def test_a_step_element_not_read_is_refused_naming_that_step():
    order = taper()
    order["dosageInstruction"][1]["additionalInstruction"] = [{"text": "halve it on the last day"}]
    assert refused(order).field == f"{MR}.dosageInstruction[1].additionalInstruction"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o: o.__setitem__("units", 40), "units"),
        (lambda o: o.__setitem__("frequency_per_day", 3), "frequency_per_day"),
        (lambda o: o.__setitem__("dose", {"value": 5.0, "unit": "mg"}), "dose"),
        (lambda o: o["schedule"][1]["dose"].__setitem__("value", -1), "schedule[1].dose.value"),
        (lambda o: o["schedule"][2].__setitem__("days", 0), "schedule[2].days"),
        (lambda o: o["schedule"][0].__setitem__("weeks", 1), "schedule[0].weeks"),
        (lambda o: o.__setitem__("schedule", o["schedule"][:1]), "schedule"),
    ],
    ids=["units", "frequency", "dose", "a step's dose", "a step's days", "unknown", "one step"],
)
def test_a_native_schedule_that_disagrees_is_refused_naming_the_field(change, field):
    order = native_taper()
    change(order)
    with pytest.raises(InvalidPrescription) as caught:
        native(order)
    assert caught.value.field == field


def test_a_native_schedule_may_repeat_its_first_step_and_supply_when_they_agree():
    order = native_taper() | {
        "dose": {"value": 10.0, "unit": "mg"},
        "frequency_per_day": 2,
        "units": 42,
    }
    assert native(order) == native(native_taper())


def test_a_step_refused_after_intake_names_the_orders_element():
    assert (
        fhir_field("schedule[2].dose") == f"{MR}.dosageInstruction[2].doseAndRate[0].doseQuantity"
    )
    assert fhir_field("schedule[1].dose.value") == (
        f"{MR}.dosageInstruction[1].doseAndRate[0].doseQuantity.value"
    )
    assert fhir_field("schedule[0].max_single_dose_mg") == (
        f"{MR}.dosageInstruction[0].maxDosePerAdministration"
    )
    assert fhir_field("schedule[2].days") == f"{MR}.dosageInstruction[2].timing.repeat"


STEP = st.tuples(
    st.sampled_from([2.5, 5.0, 7.5, 10.0, 12.5]),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=1, max_value=10),
)


@given(steps=st.lists(STEP, min_size=2, max_size=5))
def test_any_schedule_written_as_fhir_steps_reads_back_as_written(steps):
    order = taper()
    template = order["dosageInstruction"][0]
    dosages = []
    for sequence, (mg, per_day, days) in enumerate(steps, 1):
        dosage = copy.deepcopy(template)
        dosage["sequence"] = sequence
        dosage["timing"]["repeat"] = {
            "boundsDuration": {"value": days, "unit": "d", "system": UCUM, "code": "d"},
            "frequency": per_day,
            "period": 1,
            "periodUnit": "d",
        }
        dosage["doseAndRate"][0]["doseQuantity"]["value"] = mg
        dosages.append(dosage)
    order["dosageInstruction"] = dosages
    order["dispenseRequest"] = {"quantity": {"value": sum(n * d for _, n, d in steps)}}
    rx = fhir(order)
    assert rx.schedule is not None
    assert [(s.dose.value, s.frequency_per_day, s.days) for s in rx.schedule] == steps
    assert rx.units == sum(step.doses for step in rx.schedule)


# ------------------------------------------------------------------ the command line


def make(path: Path, output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "printmed", "make", str(path), "--printer", "fdm-pharma-04"]
    return subprocess.run(
        [*command, "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_refuses_an_overlapping_fhir_step_in_one_line_exit_2_writing_nothing(
    tmp_path: Path,
):
    order = taper()
    period(order, 1)["start"] = "2026-11-30"
    rx_path, output = tmp_path / "taper.fhir.json", tmp_path / "taper.gcode"
    rx_path.write_text(json.dumps(order))
    result = make(rx_path, output)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "printmed make: error: "
        f"{MR}.dosageInstruction[1].timing.repeat.boundsPeriod.start: '2026-11-30' overlaps "
        f"the step before ({MR}.dosageInstruction[0].timing.repeat.boundsPeriod "
        '{"start":"2026-11-25","end":"2026-12-01"}): each step starts when the one before '
        "ends (a date is the whole day)"
    ]
    assert not output.exists()


def test_the_cli_refuses_a_native_step_no_tablet_can_hold_naming_the_step(tmp_path: Path):
    order = native_taper()
    order["schedule"][2]["dose"]["value"] = 2.0
    rx_path, output = tmp_path / "taper.json", tmp_path / "taper.gcode"
    rx_path.write_text(json.dumps(order))
    result = make(rx_path, output)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("printmed make: error: schedule[2].dose: 2 mg cannot be made: shape")
    assert not output.exists()
