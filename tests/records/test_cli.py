"""The record commands as a technician and a pharmacist use them: first start, weigh, verify,
release (with refusals as one line, exit 2), and the PDFs read back as text."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from printmed.cli import main
from printmed.records.batch_record import load_record
from printmed.store import Store, open_store
from tests.records.builders import FIRMWARE, PASSWORD, add_users, good_weights, printed_job


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli_store(data_dir: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}")
    yield store
    store.dispose()


def run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main([*argv, "--data-dir", str(data_dir)])


def signed(monkeypatch: pytest.MonkeyPatch, data_dir: Path, user: str, *argv: str) -> int:
    """Run a command as `user`, who types the test password."""
    args = (*argv, "--user", user, "--password-stdin")
    return run(monkeypatch, data_dir, *args, stdin=PASSWORD + "\n")


def test_first_start_creates_an_admin_with_a_one_time_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passwords = []
    for name in ("one", "two"):
        assert run(monkeypatch, tmp_path / name, "users", "list") == 0
        err = capsys.readouterr().err
        passwords.append(err.split("one-time password: ")[1].split()[0])
        assert run(monkeypatch, tmp_path / name, "users", "list") == 0
        assert "one-time password" not in capsys.readouterr().err  # shown once only
    assert passwords[0] != passwords[1] and len(passwords[0]) >= 20
    code = run(
        monkeypatch,
        tmp_path / "one",
        "users",
        "add",
        "tech",
        "--name",
        "Tina T",
        "--role",
        "technician",
        "--user",
        "admin",
        "--password-stdin",
        stdin=f"{passwords[0]}\n{PASSWORD}\n",
    )
    assert code == 0
    assert "created tech (technician)" in capsys.readouterr().out


def _weighed_batch(
    cli_store: Store, monkeypatch: pytest.MonkeyPatch, data_dir: Path, weigher: str = "tech"
) -> str:
    users = add_users(cli_store, "tech", "pharm")
    batch = printed_job(cli_store, users["tech"])
    weights = ",".join(f"{w:g}" for w in good_weights())
    assert signed(monkeypatch, data_dir, weigher, "weigh", batch, "--weights", weights) == 0
    return batch


def test_weigh_then_release_from_the_command_line(
    cli_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = _weighed_batch(cli_store, monkeypatch, data_dir)
    assert "QC PASSED" in capsys.readouterr().out
    assert signed(monkeypatch, data_dir, "pharm", "release", batch) == 0
    out = capsys.readouterr().out
    assert "audit trail:" in out.split(f"{batch}: RELEASED")[0]  # reviewed before signing
    assert f"{batch}: RELEASED by Paula Pharmacist" in out


def test_release_by_the_weigher_is_one_line_and_exit_2(
    cli_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = _weighed_batch(cli_store, monkeypatch, data_dir, weigher="pharm")
    capsys.readouterr()
    assert signed(monkeypatch, data_dir, "pharm", "release", batch) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"printmed release: error: user: 'pharm' may not release {batch}: they performed a "
        "manufacturing step of this batch (four eyes)"
    ]


def test_bad_weights_are_refused_naming_the_entry(
    cli_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    users = add_users(cli_store, "tech")
    batch = printed_job(cli_store, users["tech"])
    assert signed(monkeypatch, data_dir, "tech", "weigh", batch, "--weights", "125,-3") == 2
    assert "weights[1]: -3.0 is not a positive mass in mg" in capsys.readouterr().err
    with cli_store.session() as session:
        from printmed.jobs.service import get_batch

        assert get_batch(session, batch).state == "printed"


def test_records_verify_names_the_first_broken_entry(
    cli_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = _weighed_batch(cli_store, monkeypatch, data_dir)
    capsys.readouterr()
    assert run(monkeypatch, data_dir, "records", "verify", batch) == 0
    out = capsys.readouterr().out
    assert out.startswith("intact: ") and "audit entries chained and signed" in out
    assert "checkpoints outside the database" in out
    with cli_store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        connection.execute(
            text('UPDATE audit_entries SET new_json = \'{"state":"released"}\' WHERE seq = 5')
        )
    assert run(monkeypatch, data_dir, "records", "verify") == 1
    err = capsys.readouterr().err
    assert (
        err.splitlines()[0] == "BROKEN: audit entry 5: its content does not match its hash (edited)"
    )


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_batch_record_pdf_holds_fields_signatures_and_trail(
    cli_store: Store, monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    batch = _weighed_batch(cli_store, monkeypatch, data_dir)
    deviation = ("records", "deviation", batch, "--what", "unit 4 re-weighed")
    assert signed(monkeypatch, data_dir, "tech", *deviation, "--reason", "balance drift") == 0
    assert signed(monkeypatch, data_dir, "pharm", "release", batch) == 0
    pdf = tmp_path / "record.pdf"
    assert run(monkeypatch, data_dir, "records", "pdf", batch, "-o", str(pdf)) == 0
    content = _pdf_text(pdf)
    for expected in (
        f"Batch record {batch}",
        "RELEASED",
        "LOT-TEST-001",
        "TEST-PATIENT-1",
        "Ph. Eur. 2.9.5",
        "Ph. Eur. 2.9.40",
        "Paula Pharmacist",
        "Electronic signatures",
        "record.release",
        "job.print.start",
        FIRMWARE["name"],
        "Audit chain checkpoints (signed, kept outside the database)",
        "audit chain intact",
        "unit 4 re-weighed",
        "balance drift",
    ):
        assert expected in content, expected
    with cli_store.session() as session:
        covering = load_record(session, batch).checkpoints[0]
    assert covering["head_hash"] in content  # the checkpoint of the released record, on paper


def test_label_pdf_holds_what_the_patient_needs(
    cli_store: Store, monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRINTMED_PHARMACY_NAME", "Test Hospital Pharmacy")
    monkeypatch.setenv("PRINTMED_PHARMACY_ADDRESS", "1 Example Road, Testtown")
    batch = _weighed_batch(cli_store, monkeypatch, data_dir)
    label = tmp_path / "label.pdf"
    assert run(monkeypatch, data_dir, "records", "label", batch, "-o", str(label)) == 0
    content = " ".join(_pdf_text(label).split())
    for expected in (
        "Propranolol 12.5 mg printed tablets",
        "Take 1 tablet TWICE a day",
        "TEST-PATIENT-1",
        "10 tablets",
        batch,
        "Expiry",
        "Keep out of the reach and sight of children",
        "Test Hospital Pharmacy",
        "1 Example Road, Testtown",
        "NOT RELEASED",
    ):
        assert expected in content, expected


@pytest.mark.parametrize("password_stdin", [True, False], ids=["empty stdin", "no terminal"])
def test_a_password_never_given_is_one_line_and_exit_2_and_no_attempt(
    cli_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    password_stdin: bool,
) -> None:
    add_users(cli_store, "tech")
    with cli_store.read_session() as session:
        attempts = session.execute(text("SELECT count(*) FROM sign_in_attempts")).scalar_one()
    # no terminal: getpass falls back to reading the (empty) stdin and meets its end
    monkeypatch.setattr("getpass.getpass", lambda prompt: input(prompt))
    argv = ["lots", "receive", "PVA-PRL-2611-A", "--grams", "10", "--reason", "delivery"]
    argv += ["--user", "tech"] + (["--password-stdin"] if password_stdin else [])
    assert run(monkeypatch, data_dir, *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("printmed lots: error: password: None was not given")
    with cli_store.read_session() as session:
        after = session.execute(text("SELECT count(*) FROM sign_in_attempts")).scalar_one()
        ledger = session.execute(text("SELECT count(*) FROM lot_stock")).scalar_one()
    assert (after, ledger) == (attempts, 0)
