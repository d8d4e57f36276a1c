"""Clinical data questioned, not believed: a body weight or height is used only when its record
is final (or amended, corrected), of the order's patient, and recent enough for the patient's age.

`question` is the one check. The job service runs it on every prescription it records
(`printmed.jobs.making.record_gated_batch`, the path every way in takes to a batch); the live
checks that record nothing (the form's, `/api/v1/prescriptions/check`, `printmed dose`) and the
FHIR intake (to name the order's own elements) run the same function earlier. The measurement's
value, unit, date, status and source go on into the dose trail.

A prescribing system must send each body measurement as recorded (`as_recorded`): a bare
`patient.weight_kg` or `height_cm` has no date, status or source to question. Staff (the form
asks for the date it was weighed; the CLI and the staff API take a number as the user's own
entry) may give the number alone.
Recency is judged against when the order was written (`authored_at`, FHIR `authoredOn`): the
prescriber dosed by the weight of that day. An order that does not say is judged against now,
the stricter choice (now is never before the order was written). A patient of unknown age gets
the strictest window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dosing.errors import InvalidPrescription
from dosing.prescription import Measurement, Prescription
from printmed.settings import ObservationWindows, observation_windows

# FHIR ObservationStatus codes whose value may be used; `preliminary`, `registered`,
# `cancelled`, `entered-in-error` (a weight the ward has withdrawn) and `unknown` may not.
USABLE_STATUS = ("final", "amended", "corrected")
# Clocks of the prescribing system and of this server may differ by this much.
CLOCK_SKEW = dt.timedelta(minutes=5)


def question(
    rx: Prescription,
    *,
    now: dt.datetime | None = None,
    windows: ObservationWindows | None = None,
    fields: Mapping[str, str] | None = None,
    as_recorded: bool = False,
) -> Prescription:
    """`rx` if every recorded body measurement in it may be used; else InvalidPrescription naming
    the measurement's field (native `patient.weight`, or the FHIR path given in `fields`).

    now: the time of intake (default: the clock); windows: days allowed by age (default: the
    PRINTMED_OBSERVATION_MAX_AGE_DAYS_* settings); fields: "weight"/"height"/"authored_at" →
    the name the order gave that element; as_recorded: every measurement must come as recorded
    (an order from a prescribing system): a weight or height given only as a number is refused.
    """
    now = now or dt.datetime.now(dt.UTC)
    windows = windows or observation_windows()
    names = {"weight": "patient.weight", "height": "patient.height", "authored_at": "authored_at"}
    names |= dict(fields or {})
    written_at = now
    if rx.authored_at is not None:
        if rx.authored_at > now + CLOCK_SKEW:
            raise InvalidPrescription(
                names["authored_at"], rx.authored_at.isoformat(), "is in the future"
            )
        written_at = rx.authored_at
    patient = rx.patient
    if as_recorded:
        _require_records(rx)
    for name, record in (("weight", patient.weight), ("height", patient.height)):
        if record is not None:
            _question_measurement(
                record,
                field=names[name],
                patient_id=patient.id,
                age_years=patient.age_years,
                written_at=written_at,
                now=now,
                windows=windows,
                dated_order=rx.authored_at is not None,
            )
    return rx


def _require_records(rx: Prescription) -> None:
    """Refuse a body measurement given only as a number (patient.weight_kg, height_cm)."""
    patient = rx.patient
    for number_field, number, record, record_field in (
        ("patient.weight_kg", patient.weight_kg, patient.weight, "patient.weight"),
        ("patient.height_cm", patient.height_cm, patient.height, "patient.height"),
    ):
        if number is not None and record is None:
            raise InvalidPrescription(
                number_field,
                number,
                f"alone is not accepted from a prescribing system: send {record_field} as "
                "recorded (value, unit, effective, status, subject, source), so that its date "
                "and source can be checked",
            )


def _question_measurement(
    record: Measurement,
    *,
    field: str,
    patient_id: str,
    age_years: float | None,
    written_at: dt.datetime,
    now: dt.datetime,
    windows: ObservationWindows,
    dated_order: bool = True,
) -> None:
    if record.status not in USABLE_STATUS:
        raise InvalidPrescription(
            f"{field}.status",
            record.status,
            f"may not be used: only a {', '.join(USABLE_STATUS[:-1])} or {USABLE_STATUS[-1]} "
            "measurement is",
        )
    if record.subject != patient_id:
        raise InvalidPrescription(
            f"{field}.subject", record.subject, f"is not the order's patient ({patient_id})"
        )
    effective = record.effective.isoformat()
    if record.effective > now + CLOCK_SKEW:
        raise InvalidPrescription(f"{field}.effective", effective, "is in the future")
    days = windows.days_for(age_years)
    age = written_at - record.effective
    # counted in whole days, as the windows are: a weight taken on a day (its first moment, as
    # a date is read) is 90 days old all through the 90th day after
    if age.days > days:
        who = (
            "of unknown age"
            if age_years is None
            else f"aged {age_years:g} year{'s' if age_years != 1 else ''}"
        )
        before = (
            f"{age.days} days before the order was written ({written_at.isoformat()})"
            if dated_order
            else f"{age.days} days old"
        )
        raise InvalidPrescription(
            f"{field}.effective",
            effective,
            f"is {before}; for a patient {who} it must be at most {days} days old",
        )
