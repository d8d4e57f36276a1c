"""Clinical screening: a pharmacist checks the order before anything is made, and screens it
(password, note: an e-signature meaning 'screened') or returns it to the technician with a reason.

What the pharmacist needs to judge the order is one `ScreeningSheet`: the patient's age, weight
and height with where and when they were measured, the prescribed dose and maxima beside the
formulary's, the dose with its trail, the drug and lot, and the tablet. Who may screen is one
function, `check_screenable`: a pharmacist who neither entered nor made the batch (four eyes,
by `release.manufacturers`); screening is not a manufacturing step, so they may release it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from printmed.audit import decoded, entries_for, lock_chain
from printmed.auth.rules import Action, require
from printmed.auth.users import NotPermitted
from printmed.errors import InputError
from printmed.jobs.service import column_value, get_batch, record_change
from printmed.jobs.states import BatchState, IllegalTransition
from printmed.records.record_pdf import (
    RecordedMeasurement,
    number,
    prescribed_maxima,
    recorded_measurements,
    schedule_text,
)
from printmed.records.release import manufacturers
from printmed.records.signatures import SCREENED, Signer, screening_signature, signatures_of
from printmed.store.models import Batch, Signature, User

SCREEN_ACTION = "record.screen"
RETURN_ACTION = "record.return"
NOTE_CHARS = 2000
Json = dict[str, Any]


class NotAwaitingScreening(IllegalTransition):
    """Screening (or a return) asked of a batch that is not verified and waiting for it."""

    def __init__(self, batch_number: str, state: str) -> None:
        InputError.__init__(
            self,
            "state",
            state,
            f"is not verified: {batch_number} is screened once, after the dose gate and "
            "before it is queued",
        )


@dataclass(frozen=True)
class ScreeningDecision:
    """The pharmacist's decision on the order as the trail records it."""

    decision: str  # screened | returned
    by: str  # username
    at: str  # ISO-8601 UTC
    note: str  # the screening note, or the reason it was returned
    signature_id: int | None  # the 'screened' e-signature (none for a return)
    printed_name: str | None


@dataclass(frozen=True)
class ScreeningSheet:
    """Everything the pharmacist screens the order on, as recorded at entry and verification.

    patient: id, age_years, and weight and height each as {value, unit, as_recorded, status,
    source, measured_at} (source "entered on the order" when typed in, no date then);
    prescribed: the order's dose, frequency, supply, maxima (mg; `maxima` as one phrase), when
    it was written, its indication (None when the prescriber gave none) and the prescriber's
    words (`prescriber_words`: each as written, with `said` saying what it is; empty when
    none were written beside the structured order);
    formulary: the drug's maxima on file (mg/kg and mg, per dose and per day) or None;
    dose: dose_mg, calculated_mg, the trail; design: the tablet (shape, size mm, volume mm³);
    for a schedule (a taper, a titration) `dose` and `design` are the first step's with every
    step in their `steps`, and `steps` gives each step whole (`schedule_steps`).
    """

    batch_number: str
    state: str
    entered_by: str
    entered_at: str
    prescription_id: str
    patient: Json
    drug: Json
    prescribed: Json
    formulary: Json | None
    lot: Json
    dose: Json
    design: Json
    decisions: list[ScreeningDecision]
    steps: list[Json]

    def to_dict(self) -> Json:
        return asdict(self)


def schedule_steps(prescription: Json, dose: Json, design: Json) -> list[Json]:
    """Each step of a schedule as ordered, dosed and designed, in step order (empty for an order
    of one dose): step, first_day, last_day, days; `ordered` (dose, frequency_per_day, the
    step's own maxima); the dose (dose_mg, calculated_mg, capped, rounding_difference_mg, doses,
    trail); `tablet` (shape, dimensions_mm, size_text, volume_mm3, dose_mg per unit,
    units_per_dose, units_total)."""
    ordered = prescription.get("schedule") or []
    dosed = dose.get("steps") or []
    designed = {int(d["step"]): d for d in design.get("steps") or []}
    steps = []
    for index, step in enumerate(dosed):
        tablet = designed.get(int(step["step"]), {})
        dims = tablet.get("dimensions_mm", {})
        steps.append(
            {
                key: step.get(key)
                for key in (
                    "step",
                    "first_day",
                    "last_day",
                    "days",
                    "dose_mg",
                    "calculated_mg",
                    "capped",
                    "rounding_difference_mg",
                    "doses",
                    "frequency_per_day",
                    "trail",
                )
            }
            | {
                "ordered": ordered[index] if index < len(ordered) else None,
                "tablet": {
                    key: tablet.get(key)
                    for key in (
                        "shape",
                        "dimensions_mm",
                        "volume_mm3",
                        "dose_mg",
                        "units_per_dose",
                        "units_total",
                    )
                }
                | {"size_text": " × ".join(f"{v:.2f}" for v in dims.values())},
            }
        )
    return steps


WORDS_SAID = {"dosage": "the dose in words", "patient": "instruction for the patient"}


def prescriber_words(prescription: Json) -> list[Json]:
    """The prescriber's words on the order, as written, each with `said`: what they are and the
    step they belong to ("the dose in words, step 2")."""
    shown = []
    for words in prescription.get("prescriber_words") or []:
        said = WORDS_SAID.get(words.get("kind"), str(words.get("kind")))
        if words.get("step") is not None:
            said += f", step {words['step']}"
        shown.append({**words, "said": said})
    return shown


def measurement(patient: Json, recorded: RecordedMeasurement | None, used_key: str) -> Json | None:
    """The value the dose used (`used_key`: weight_kg, height_cm) with where and when it was
    measured, from the order's record of it (`record_pdf.recorded_measurements`); a value typed
    at the form has no record: its source is the order itself. None when absent."""
    value = patient.get(used_key)
    if value is None:
        return None
    unit = used_key.rsplit("_", 1)[1]
    if recorded is None:
        return {
            "value": value,
            "unit": unit,
            "as_recorded": f"{number(value)} {unit}",
            "status": None,
            "source": "entered on the order",
            "measured_at": None,
        }
    return {
        "value": value,
        "unit": unit,
        "as_recorded": recorded.as_written,
        "status": recorded.status,
        "source": recorded.source,
        "measured_at": recorded.effective,
    }


def decisions_of(session: Session, batch_number: str) -> list[ScreeningDecision]:
    """Every screening and return of the batch, oldest first, with the screening signature."""
    screened = [s for s in signatures_of(session, batch_number) if s.meaning == SCREENED]
    by_signer: dict[str, Signature] = {s.username: s for s in screened}
    decisions = []
    for entry in entries_for(session, batch_number):
        if entry.action not in (SCREEN_ACTION, RETURN_ACTION):
            continue
        data = decoded(entry)
        signature = by_signer.get(entry.actor) if entry.action == SCREEN_ACTION else None
        decisions.append(
            ScreeningDecision(
                decision="screened" if entry.action == SCREEN_ACTION else "returned",
                by=entry.actor,
                at=data["at"],
                note=entry.reason,
                signature_id=signature.id if signature else None,
                printed_name=signature.printed_name if signature else None,
            )
        )
    return decisions


def screening_sheet(session: Session, batch_number: str) -> ScreeningSheet:
    """The order of `batch_number` as the pharmacist screens it (UnknownBatch if none)."""
    job = get_batch(session, batch_number)
    rx = column_value(job, "prescription_json") or {}
    lot = column_value(job, "formulation_json") or {}
    patient = rx.get("patient", {})
    recorded = {m.what: m for m in recorded_measurements(rx)}
    dose = column_value(job, "dose_json") or {}
    design = column_value(job, "design_json") or {}
    return ScreeningSheet(
        batch_number=job.batch_number,
        state=job.state,
        entered_by=job.created_by,
        entered_at=job.created_at,
        prescription_id=rx.get("id", ""),
        patient={
            "id": patient.get("id"),
            "age_years": patient.get("age_years"),
            "weight": measurement(patient, recorded.get("Body weight"), "weight_kg"),
            "height": measurement(patient, recorded.get("Body height"), "height_cm"),
        },
        drug=dict(rx.get("drug", {})),
        prescribed={
            "dose": rx.get("dose"),
            "frequency_per_day": rx.get("frequency_per_day"),
            "doses": rx.get("units"),
            "max_single_dose_mg": rx.get("max_single_dose_mg"),
            "max_daily_dose_mg": rx.get("max_daily_dose_mg"),
            "maxima": prescribed_maxima(rx),
            "bsa_formula": rx.get("bsa_formula"),
            "authored_at": rx.get("authored_at"),
            "schedule": rx.get("schedule"),
            "schedule_text": schedule_text(rx["schedule"]) if rx.get("schedule") else None,
            "indication": rx.get("indication"),
            "prescriber_words": prescriber_words(rx),
        },
        formulary=lot.get("drug_limits"),
        lot={
            key: lot.get(key)
            for key in ("id", "lot", "drug_name", "process", "assay_percent", "expiry")
        },
        dose=dose,
        design=design,
        decisions=decisions_of(session, job.batch_number),
        steps=schedule_steps(rx, dose, design),
    )


def check_screenable(session: Session, job: Batch, user: User) -> None:
    """Every condition of screening or returning: a pharmacist (the rule), a verified batch, and
    not one who entered or made it (four eyes)."""
    require(user, Action.SCREEN)
    if job.state != BatchState.VERIFIED:
        raise NotAwaitingScreening(job.batch_number, job.state)
    if user.username in manufacturers(session, job):
        raise NotPermitted(
            user.username,
            "screen " + job.batch_number,
            "they entered or made this batch (four eyes)",
        )


def _text(field: str, value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise InputError(field, value, f"is required to {what}")
    if len(text) > NOTE_CHARS:
        raise InputError(field, f"{text[:40]}…", f"is longer than {NOTE_CHARS} characters")
    return text


def screen(session: Session, batch_number: str, signer: Signer, note: str) -> Signature:
    """Screen the order by `signer`, a pharmacist who has just re-entered their password (the
    sign-in defence's `signatures.admit_signer`, or `authenticate_signer` on the command line):
    the 'screened' e-signature over the record as it stands, and the batch becomes screened
    with the note as the reason. Any refusal leaves nothing written."""
    text = _text("note", note, "screen a batch")
    lock_chain(session)  # before the job's row, as every audited transaction does
    job = get_batch(session, batch_number, for_update=True)
    check_screenable(session, job, signer.user)
    signature = screening_signature(session, job, signer)
    record_change(
        session, job, signer.username, SCREEN_ACTION, {"state": BatchState.SCREENED.value}, text
    )
    return signature


def return_batch(session: Session, batch_number: str, user: User, reason: str) -> Batch:
    """Return the order to the technician with a reason (the pharmacist's password was asked by
    the entry point). A returned batch is never queued: the technician re-enters the order as a
    new batch and rejects this one."""
    text = _text("reason", reason, "return a batch")
    lock_chain(session)
    job = get_batch(session, batch_number, for_update=True)
    check_screenable(session, job, user)
    record_change(
        session, job, user.username, RETURN_ACTION, {"state": BatchState.RETURNED.value}, text
    )
    return job
