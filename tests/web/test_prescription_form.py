"""The prescription form's checks without a browser: each problem sits by its field, in words a
technician can act on, and a complete form yields the dose and the tablet.
"""

from __future__ import annotations

import datetime as dt

from printmed.intake.form import blank_values
from printmed.pictures import runs_of
from printmed.web.prescription_form import check_form

PRINTERS = {"fdm-pharma-04": "fdm-pharma-04", "sse-syringe-08": "sse-syringe-08"}
MACHINES = {"fdm-pharma-04-a": "fdm-pharma-04", "sse-syringe-08-a": "sse-syringe-08"}


def days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()


COMPLETE = blank_values() | {
    "id": "RX-FORM-1",
    "patient.id": "TEST-PATIENT-21",
    "patient.weight_kg": "12.4",
    "patient.weighed_on": days_ago(2),
    "drug.name": "propranolol",
    "dose.value": "1",
    "dose.unit": "mg/kg",
    "frequency_per_day": "2",
    "units": "28",
    "formulation": "propranolol-pva-10",
    "printer": "fdm-pharma-04",
}


def check(**changes: str) -> dict[str, str]:
    return check_form(
        COMPLETE | {k.replace("__", "."): v for k, v in changes.items()},
        PRINTERS,
        machines=MACHINES,
        entered_by="tess",
    ).errors


def test_a_complete_form_gives_the_dose_and_the_tablet() -> None:
    result = check_form(COMPLETE, PRINTERS)
    assert result.ok
    assert result.preview() == "12.5 mg per dose → round 6.79 × 2.80 mm, 1 per dose, 28 units"


def test_numbers_out_of_range_or_not_numbers_are_named_by_their_label() -> None:
    assert check(patient__weight_kg="400") == {
        "patient.weight_kg": "Weight (kg) must be at most 350"
    }
    assert check(patient__weight_kg="0") == {"patient.weight_kg": "Weight (kg) must be more than 0"}
    assert check(units="2.5") == {"units": "Doses to supply: '2.5' is not a whole number"}
    assert check(dose__value="one") == {"dose.value": "Dose: 'one' is not a number"}
    assert check(dose__value="nan") == {"dose.value": "Dose: 'nan' is not a number"}


def test_a_decimal_comma_is_read_as_a_point() -> None:
    assert check(patient__weight_kg="12,4") == {}


def test_the_weight_typed_is_kept_as_recorded_with_its_date_and_who_entered_it() -> None:
    result = check_form(COMPLETE, PRINTERS, entered_by="tess")
    assert result.ok and result.prescription is not None and result.plan is not None
    weight = result.prescription.patient.weight
    assert weight is not None
    assert weight.trail_inputs() == {
        "value": 12.4,
        "unit": "kg",
        "effective": f"{days_ago(2)}T00:00:00+00:00",
        "status": "final",
        "subject": "TEST-PATIENT-21",
        "source": "ward scales, entered by tess",
    }
    assert result.plan.dose.trail[0].inputs["effective"] == f"{days_ago(2)}T00:00:00+00:00"
    assert result.plan.dose.trail[0].inputs["source"] == "ward scales, entered by tess"


def test_where_it_was_measured_is_the_source_when_typed() -> None:
    result = check_form(
        COMPLETE | {"patient.measured_with": "clinic scales, outpatients"},
        PRINTERS,
        entered_by="tess",
    )
    assert result.prescription is not None and result.prescription.patient.weight is not None
    assert (
        result.prescription.patient.weight.source == "clinic scales, outpatients, entered by tess"
    )


def test_a_weight_needs_the_date_it_was_weighed_beside_that_date() -> None:
    assert check(patient__weighed_on="") == {
        "patient.weighed_on": "Weighed on is required: the date of the weighing, as on the chart"
    }
    assert check(patient__weighed_on="12/11/2026") == {
        "patient.weighed_on": "Weighed on: '12/11/2026' is not a date (YYYY-MM-DD)"
    }


def test_a_weighing_too_old_for_the_patients_age_is_refused_beside_its_date() -> None:
    # a child of 2.5: at most 90 days (PRINTMED_OBSERVATION_MAX_AGE_DAYS_UNDER_18)
    assert check(patient__age_years="2.5", patient__weighed_on=days_ago(90)) == {}
    assert check(patient__age_years="2.5", patient__weighed_on=days_ago(100)) == {
        "patient.weighed_on": f"Weighed on: {days_ago(100)} is 100 days old; for a patient aged "
        "2.5 years it must be at most 90 days old"
    }
    # of unknown age: the strictest window, 30 days
    assert list(check(patient__weighed_on=days_ago(31))) == ["patient.weighed_on"]


def test_a_weighing_in_the_future_is_refused_beside_its_date() -> None:
    assert check(patient__weighed_on=days_ago(-2)) == {
        "patient.weighed_on": f"Weighed on: {days_ago(-2)} is in the future"
    }


def test_a_height_needs_its_date_too() -> None:
    assert check(patient__height_cm="88") == {
        "patient.height_measured_on": "Height measured on is required: the date of the "
        "measurement, as on the chart"
    }
    assert check(patient__height_cm="88", patient__height_measured_on=days_ago(3)) == {}


def test_a_machine_of_the_printer_chosen_may_be_named() -> None:
    result = check_form(COMPLETE | {"printer_name": "fdm-pharma-04-a"}, PRINTERS, machines=MACHINES)
    assert result.ok


def test_a_machine_of_another_profile_or_not_offered_is_refused_beside_it() -> None:
    assert check(printer_name="sse-syringe-08-a") == {
        "printer_name": "Which machine: sse-syringe-08-a is a printer of profile sse-syringe-08, "
        "not fdm-pharma-04 (chosen under Printer)"
    }
    assert check(printer_name="elsewhere-9") == {
        "printer_name": "Which machine: 'elsewhere-9' is not a printer of your site in service"
    }


def test_a_dose_per_square_metre_needs_the_height_next_to_the_height() -> None:
    assert check(dose__unit="mg/m2", dose__value="4") == {
        "patient.height_cm": "Height (cm) is required for a dose in mg/m2"
    }


def test_a_printer_of_another_process_is_refused_next_to_the_printer() -> None:
    assert check(printer="sse-syringe-08") == {
        "printer": "Printer: sse-syringe-08 prints sse, but lot propranolol-pva-10 is fdm"
    }


def test_a_printer_not_of_this_pharmacy_is_refused() -> None:
    assert check(printer="elsewhere-1") == {
        "printer": "Printer 'elsewhere-1' is not one of this pharmacy's printers"
    }


def test_the_layer_picture_tells_closed_loops_from_open_runs() -> None:
    square = [(0, 0, 1, 0), (1, 0, 1, 1), (1, 1, 0, 1), (0, 1, 0, 0)]
    fill = [(0.2, 0.2, 0.8, 0.8), (0.8, 0.8, 0.8, 0.6)]
    runs = runs_of(square + fill)
    assert [len(run) for run in runs] == [4, 2]


def test_a_daily_maximum_the_rounding_cannot_keep_sits_by_the_daily_maximum() -> None:
    # a 6.4 kg infant, 1 mg/kg twice a day, at most 12.8 mg a day: 6.5 mg is above it and
    # 6 mg is 6.25 % below the calculation
    errors = check(patient__weight_kg="6.4", max_daily_dose_mg="12.8")
    assert list(errors) == ["max_daily_dose_mg"]
    assert errors["max_daily_dose_mg"].startswith(
        "Maximum daily dose (mg): 12.8 mg a day allows at most 6.4 mg a dose"
    )


def test_a_daily_maximum_that_rounding_would_cross_rounds_down() -> None:
    result = check_form(COMPLETE | {"max_daily_dose_mg": "24.8"}, PRINTERS, entered_by="tess")
    assert result.ok
    assert result.plan is not None and result.plan.dose.dose_mg == 12.0


def test_a_dose_above_the_drugs_limit_sits_by_the_dose_naming_the_limit() -> None:
    errors = check(dose__value="3")  # 3 mg/kg a dose; propranolol's limit on file is 2 mg/kg
    assert list(errors) == ["dose.value"]
    assert "propranolol's max_mg_per_kg_per_dose of 2 mg/kg a dose" in errors["dose.value"]
