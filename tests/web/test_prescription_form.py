"""The prescription form's checks without a browser: each problem sits by its field, in words a
technician can act on, and a complete form yields the dose and the tablet.
"""

from __future__ import annotations

from printmed.intake.form import blank_values
from printmed.pictures import runs_of
from printmed.web.prescription_form import check_form

PRINTERS = {"fdm-pharma-04": "fdm-pharma-04", "sse-syringe-08": "sse-syringe-08"}
COMPLETE = blank_values() | {
    "id": "RX-FORM-1",
    "patient.id": "TEST-PATIENT-21",
    "patient.weight_kg": "12.4",
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
        COMPLETE | {k.replace("__", "."): v for k, v in changes.items()}, PRINTERS
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
    result = check_form(COMPLETE | {"max_daily_dose_mg": "24.8"}, PRINTERS)
    assert result.ok
    assert result.plan is not None and result.plan.dose.dose_mg == 12.0


def test_a_dose_above_the_drugs_limit_sits_by_the_dose_naming_the_limit() -> None:
    errors = check(dose__value="3")  # 3 mg/kg a dose; propranolol's limit on file is 2 mg/kg
    assert list(errors) == ["dose.value"]
    assert "propranolol's max_mg_per_kg_per_dose of 2 mg/kg a dose" in errors["dose.value"]
