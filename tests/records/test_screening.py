"""Clinical screening through the service: a pharmacist who neither entered nor made the batch
screens it (password, note: a 'screened' e-signature) or returns it with a reason; nothing is
queued unscreened, and every refusal leaves the batch and its trail as they were.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dosing.prescription import parse_prescription
from printmed.audit import entries_for
from printmed.auth.users import AuthenticationFailed, NotPermitted
from printmed.cli import main
from printmed.cli.batches import print_sheet
from printmed.errors import InputError
from printmed.jobs import service
from printmed.jobs.making import enter_prescription
from printmed.jobs.states import IllegalTransition, NotScreened
from printmed.records.batch_record import load_record
from printmed.records.pharmacy import pharmacy_of
from printmed.records.record_pdf import batch_record_pdf
from printmed.records.release import release
from printmed.records.screening import (
    NotAwaitingScreening,
    return_batch,
    screen,
    screening_sheet,
)
from printmed.records.signatures import authenticate_signer, sign
from printmed.records.weighing import record_weights
from printmed.settings import load_settings
from printmed.store import Store, open_store
from printmed.store.models import Signature, User
from tests.records.builders import (
    PASSWORD,
    PRESCRIPTION,
    PROFILE_ID,
    add_users,
    good_weights,
    printed_job,
    verified_job,
)

NOTE = "12.5 mg (1 mg/kg) for 12.4 kg, 2.5 y: within 2 mg/kg a dose; indication per ward"


def _trail(store: Store, batch: str) -> list[str]:
    with store.session() as session:
        return [e.action for e in entries_for(session, batch)]


def _state(store: Store, batch: str) -> str:
    with store.session() as session:
        return service.get_batch(session, batch).state


def _screen(
    store: Store, batch: str, username: str, password: str = PASSWORD, note: str = NOTE
) -> Signature:
    with store.session() as session:
        signer = authenticate_signer(session, username, password, "screened")
        return screen(session, batch, signer, note)


def _queue(store: Store, batch: str, user: User) -> None:
    with store.session() as session:
        service.queue(session, service.get_batch(session, batch), user)


def test_screened_with_password_and_note_can_then_be_queued(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    signature = _screen(store, batch, "pharm")
    assert (signature.meaning, signature.username) == ("screened", "pharm")
    assert _state(store, batch) == "screened"
    _queue(store, batch, users["tech"])
    assert _state(store, batch) == "queued"
    assert _trail(store, batch) == [
        "job.create",
        "job.verify",
        "record.sign.screened",
        "record.screen",
        "job.queue",
    ]
    with store.session() as session:
        screened = next(e for e in entries_for(session, batch) if e.action == "record.screen")
        assert (screened.actor, screened.reason) == ("pharm", NOTE)
        assert load_record(session, batch).integrity.intact


def test_a_wrong_password_screens_nothing(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    with pytest.raises(AuthenticationFailed):
        _screen(store, batch, "pharm", password="not the password")
    assert _state(store, batch) == "verified"
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_a_screening_without_a_note_is_refused_naming_the_note(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    with pytest.raises(InputError) as refused:
        _screen(store, batch, "pharm", note="   ")
    assert (refused.value.field, refused.value.value) == ("note", "   ")
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_the_pharmacist_who_entered_the_batch_cannot_screen_it(store: Store) -> None:
    users = add_users(store, "pharm")
    batch = verified_job(store, users["pharm"])
    with pytest.raises(NotPermitted, match="four eyes") as refused:
        _screen(store, batch, "pharm")
    assert (refused.value.field, refused.value.value) == ("user", "pharm")
    assert _state(store, batch) == "verified"
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_a_technician_neither_screens_nor_returns(store: Store) -> None:
    users = add_users(store, "tech", "tech2")
    batch = verified_job(store, users["tech"])
    with pytest.raises(NotPermitted, match="screen a batch clinically"):
        _screen(store, batch, "tech2")
    with pytest.raises(NotPermitted, match="role technician"), store.session() as session:
        return_batch(session, batch, users["tech2"], "dose too high")
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_a_performer_signature_bars_screening_as_it_bars_release(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    with store.session() as session:
        signer = authenticate_signer(session, "pharm", PASSWORD, "performed")
        sign(session, service.get_batch(session, batch), signer, "performed")
    with pytest.raises(NotPermitted, match="four eyes"):
        _screen(store, batch, "pharm")
    assert _state(store, batch) == "verified"


def test_a_screened_signature_is_given_only_by_screening(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    with store.session() as session, pytest.raises(InputError) as refused:
        signer = authenticate_signer(session, "pharm", PASSWORD, "screened")
        sign(session, service.get_batch(session, batch), signer, "screened")
    assert (refused.value.field, refused.value.value) == ("meaning", "screened")
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_queueing_an_unscreened_batch_is_refused_naming_its_state(store: Store) -> None:
    users = add_users(store, "tech")
    batch = verified_job(store, users["tech"])
    with pytest.raises(NotScreened, match="is not screened") as refused:
        _queue(store, batch, users["tech"])
    assert (refused.value.field, refused.value.value) == ("state", "verified")
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_a_returned_batch_cannot_be_queued_and_is_ended_by_rejection(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    with store.session() as session:
        return_batch(session, batch, users["pharm"], "weight is 6 months old for a 2-year-old")
    assert _state(store, batch) == "returned"
    with pytest.raises(NotScreened) as refused:
        _queue(store, batch, users["tech"])
    assert (refused.value.field, refused.value.value) == ("state", "returned")
    with pytest.raises(NotAwaitingScreening):
        _screen(store, batch, "pharm")
    with store.session() as session:
        service.reject(
            session, service.get_batch(session, batch), users["tech"], "re-entered as a new batch"
        )
        sheet = screening_sheet(session, batch)
    assert sheet.state == "rejected"
    assert [(d.decision, d.by, d.note) for d in sheet.decisions] == [
        ("returned", "pharm", "weight is 6 months old for a 2-year-old")
    ]


def test_a_return_needs_a_reason(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = verified_job(store, users["tech"])
    with pytest.raises(InputError) as refused, store.session() as session:
        return_batch(session, batch, users["pharm"], "")
    assert (refused.value.field, refused.value.value) == ("reason", "")
    assert _state(store, batch) == "verified"


def test_a_batch_is_screened_once(store: Store) -> None:
    users = add_users(store, "tech", "pharm", "pharm2")
    batch = verified_job(store, users["tech"])
    _screen(store, batch, "pharm")
    with pytest.raises(IllegalTransition) as refused:
        _screen(store, batch, "pharm2")
    assert (refused.value.field, refused.value.value) == ("state", "screened")
    assert _trail(store, batch).count("record.screen") == 1


def test_the_sheet_shows_the_patient_dose_trail_maxima_lot_and_tablet(store: Store) -> None:
    users = add_users(store, "tech")
    batch = verified_job(store, users["tech"])
    with store.session() as session:
        sheet = screening_sheet(session, batch)
    assert sheet.patient["age_years"] == 2.5
    assert sheet.patient["weight"] == {
        "value": 12.4,
        "unit": "kg",
        "as_recorded": "12.4 kg",
        "status": None,
        "source": "entered on the order",
        "measured_at": None,
    }
    assert sheet.prescribed["dose"] == {"value": 1.0, "unit": "mg/kg"}
    assert sheet.formulary is not None and sheet.formulary["max_mg_per_kg_per_dose"] == 2.0
    assert sheet.dose["dose_mg"] == 12.5
    assert next(step["step"] for step in sheet.dose["trail"]) == "weight-based dose"
    assert sheet.lot["lot"] == "LOT-TEST-001"
    assert sheet.design["shape"] == "round"
    assert sheet.decisions == []


WORDS = [
    {"kind": "dosage", "text": "1 mg/kg twice a day (max 40 mg a dose)"},
    {"kind": "patient", "text": "with milk, morning and evening"},
]


def _with_words(store: Store, user: User) -> str:
    """A verified batch of PRESCRIPTION (2 tablets) carrying the prescriber's words."""
    rx = parse_prescription(PRESCRIPTION | {"units": 2, "prescriber_words": WORDS})
    with store.session() as session:
        return enter_prescription(
            session, user, rx, printer=PROFILE_ID, profile_id=PROFILE_ID
        ).batch_number


def test_the_sheet_shows_the_prescribers_words_as_written(store: Store) -> None:
    users = add_users(store, "tech")
    batch = _with_words(store, users["tech"])
    with store.session() as session:
        sheet = screening_sheet(session, batch)
    assert sheet.prescribed["prescriber_words"] == [
        {"kind": "dosage", "step": None, "text": WORDS[0]["text"], "said": "the dose in words"},
        {
            "kind": "patient",
            "step": None,
            "text": WORDS[1]["text"],
            "said": "instruction for the patient",
        },
    ]


def test_the_cli_sheet_prints_the_prescribers_words(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    users = add_users(store, "tech")
    batch = _with_words(store, users["tech"])
    with store.session() as session:
        print_sheet(screening_sheet(session, batch))
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("prescriber's words")] == [
        'prescriber\'s words: "1 mg/kg twice a day (max 40 mg a dose)" (the dose in words)',
        'prescriber\'s words: "with milk, morning and evening" (instruction for the patient)',
    ]


def test_the_screening_pharmacist_releases_and_the_record_pdf_lists_the_screening(
    store: Store, tmp_path: Path
) -> None:
    users = add_users(store, "tech", "pharm")
    batch = printed_job(store, users["tech"])  # screened by pharm (builders.screener_for)
    with store.session() as session:
        record_weights(session, service.get_batch(session, batch), users["tech"], good_weights())
        signer = authenticate_signer(session, "pharm", PASSWORD, "released")
        release(session, batch, signer)
        record = load_record(session, batch)
    assert [s["meaning"] for s in record.signatures] == ["screened", "released"]
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(batch_record_pdf(record, pharmacy_of(load_settings(dict(os.environ)), store)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Clinical screening" in text
    assert "SCREENED" in text and "Paula Pharmacist" in text
    assert "dose checked" in text  # the builders' screening note


# The command line: `printmed batches screen|return`, the password from standard input.


def _cli(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, *argv: str, user: str, password: str = PASSWORD
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main([*argv, "--user", user, "--password-stdin", "--data-dir", str(data_dir)])


@dataclass(frozen=True)
class CliBench:
    """A store in `data_dir` with tech and pharm, and a batch `tech` entered and verified."""

    data_dir: Path
    store: Store
    batch: str


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[CliBench]:
    data = tmp_path / "data"
    opened = open_store(f"sqlite:///{data / 'printmed.sqlite'}")
    users = add_users(opened, "tech", "pharm")
    yield CliBench(data, opened, verified_job(opened, users["tech"]))
    opened.dispose()


def test_the_cli_shows_the_order_then_screens_with_the_password_from_stdin(
    monkeypatch: pytest.MonkeyPatch,
    bench: CliBench,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir, store, batch = bench.data_dir, bench.store, bench.batch
    assert (
        _cli(monkeypatch, data_dir, "batches", "screen", batch, "--note", NOTE, user="pharm") == 0
    )
    out = capsys.readouterr().out
    assert "patient TEST-PATIENT-1, age 2.5 y" in out
    assert "weight 12.4 kg (as recorded 12.4 kg; entered on the order)" in out
    assert "formulary max 2 mg/kg and 160 mg a dose" in out
    assert "indication not stated on the order: ask the prescriber" in out  # none on this order
    assert "prescriber's words: none beside the structured dose" in out
    assert "1. weight-based dose" in out
    assert "lot LOT-TEST-001" in out
    assert out.splitlines()[-1].startswith(f"{batch}: SCREENED by Paula Pharmacist at ")
    assert _state(store, batch) == "screened"


def test_the_cli_refuses_a_wrong_password_with_exit_2_and_screens_nothing(
    monkeypatch: pytest.MonkeyPatch,
    bench: CliBench,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir, store, batch = bench.data_dir, bench.store, bench.batch
    argv = ("batches", "screen", batch, "--note", NOTE)
    assert _cli(monkeypatch, data_dir, *argv, user="pharm", password="not it") == 2
    assert capsys.readouterr().err.startswith("printmed batches: error: ")
    assert _trail(store, batch) == ["job.create", "job.verify"]


def test_the_cli_returns_with_a_reason_and_a_returned_batch_is_not_queued(
    monkeypatch: pytest.MonkeyPatch,
    bench: CliBench,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir, store, batch = bench.data_dir, bench.store, bench.batch
    argv = ("batches", "return", batch, "--reason", "weight not recent enough")
    assert _cli(monkeypatch, data_dir, *argv, user="pharm") == 0
    assert capsys.readouterr().out.strip() == (
        f"{batch}: returned to the technician (weight not recent enough)"
    )
    assert _cli(monkeypatch, data_dir, "batches", "queue", batch, user="tech") == 2
    assert "state: 'returned' is not screened" in capsys.readouterr().err
    assert _state(store, batch) == "returned"


def test_the_cli_refuses_screening_by_the_technician_who_entered_it(
    monkeypatch: pytest.MonkeyPatch,
    bench: CliBench,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir, store, batch = bench.data_dir, bench.store, bench.batch
    argv = ("batches", "screen", batch, "--note", NOTE)
    assert _cli(monkeypatch, data_dir, *argv, user="tech") == 2
    assert "may not screen a batch clinically" in capsys.readouterr().err
    assert _cli(monkeypatch, data_dir, "batches", "queue", batch, user="tech") == 2
    assert "state: 'verified' is not screened" in capsys.readouterr().err
    assert _trail(store, batch) == ["job.create", "job.verify"]
