"""`printmed batches` (also `printmed jobs`): a prescription made into a verified batch, screened
by a pharmacist and queued, listed and shown; a role the rules refuse is one line, exit 2, and
nothing recorded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from printmed.cli import main
from printmed.records import masterfile
from printmed.store import open_store
from printmed.store.models import AuditEntry, Batch
from tests.records.builders import PASSWORD, add_users

RX = Path(__file__).resolve().parents[2] / "fixtures" / "prescriptions" / "propranolol-child.json"


def cli(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *argv: str, user: str = "") -> int:
    signer = ("--user", user, "--password-stdin") if user else ()
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main([*argv, *signer, "--data-dir", str(data_dir)])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    store = open_store(f"sqlite:///{data / 'printmed.sqlite'}")
    add_users(store, "tech", "pharm", "boss")
    store.dispose()
    return data


def test_a_new_batch_is_gated_recorded_queued_listed_and_shown(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = ("batches", "new", str(RX), "--printer", "sim-1", "--profile", "fdm-pharma-04")
    assert cli(monkeypatch, data_dir, *new, user="tech") == 0
    batch_number, state = capsys.readouterr().out.split(":")[:2]
    assert state.split()[0] == "verified"  # awaiting a pharmacist's screening
    screen = ("batches", "screen", batch_number, "--note", "12.5 mg for 12.4 kg: in range")
    assert cli(monkeypatch, data_dir, *screen, user="pharm") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{batch_number}: SCREENED by")
    assert cli(monkeypatch, data_dir, "batches", "queue", batch_number, user="tech") == 0
    assert capsys.readouterr().out.strip() == f"{batch_number}: queued"
    assert cli(monkeypatch, data_dir, "batches", "list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["batch_number"], listed["state"], listed["printer"]) == (
        batch_number,
        "queued",
        "sim-1",
    )
    assert cli(monkeypatch, data_dir, "jobs", "show", batch_number, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["record"]["dose_json"]["dose_mg"] == 12.5
    assert len(shown["record"]["gate_json"]["tablets"]) == 28


def test_an_admin_may_not_enter_a_prescription_and_nothing_is_recorded(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = ("batches", "new", str(RX), "--printer", "sim-1", "--profile", "fdm-pharma-04")
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}")
    masterfile.start(store)  # the first start's master file, as any command's
    with store.read_session() as session:
        # every sign-in is recorded, refused or not; the refused entry must write nothing else
        entries_before = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity != "sign_in")
        )
    assert cli(monkeypatch, data_dir, *new, user="boss") == 2
    assert "may not enter a prescription: role admin is not pharmacist or technician" in (
        capsys.readouterr().err
    )
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.entity != "sign_in")
            )
            == entries_before
        )
    store.dispose()
