"""`printmed print`: an engineer's print of a file outside any batch — refused without
--engineering-print, for roles the rules do not allow, and for any batch's G-code however its
comments, blank lines, spacing or line ends are changed; recorded in the trail (who, the file's
SHA-256, the printer) before a line is streamed and after it ends."""

from __future__ import annotations

import hashlib
import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from printmed.audit import decoded
from printmed.cli import main
from printmed.store import open_store
from printmed.store.models import AuditEntry, User
from tests.records.builders import PASSWORD, add_users, gated_batch, verified_job

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite

ENGINEER = "boss"  # an admin: the role the rules allow engineering prints


def _gcode(tmp_path: Path, moves: int, feed_mm_min: int = 3000) -> Path:
    lines = ["M104 S190", "M109 S190"]
    for i in range(moves):
        if i % 100 == 0:
            lines.append(f";LAYER:{i // 100}")
        lines.append(f"G1 X{i % 30} Y{i % 20} E0.05 F{feed_mm_min}")
    path = tmp_path / "tablets.gcode"
    path.write_text("\n".join(lines) + "\nM400\n")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    store = open_store(f"sqlite:///{data / 'printmed.sqlite'}")
    add_users(store, "tech", ENGINEER)
    store.dispose()
    return data


def _print(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, path: Path, *options: str, user: str = ENGINEER
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    signer = ("--user", user, "--password-stdin", "--data-dir", str(data_dir))
    return main(["print", str(path), *options, *signer])


def _engineering_entries(data_dir: Path) -> list[dict]:
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}", migrate=False)
    try:
        with store.session() as session:
            entries = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("printer.engineering_print%"))
                .order_by(AuditEntry.seq)
            )
            return [decoded(entry) for entry in entries]
    finally:
        store.dispose()


def test_without_the_engineering_flag_the_file_is_refused_and_nothing_recorded(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _gcode(tmp_path, 3)
    argv = ["print", str(path), "--sim", "--user", ENGINEER, "--data-dir", str(data_dir)]
    assert main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("printmed print: error: --engineering-print: '(missing)' is required")
    assert "batches print through `printmed worker`" in line
    assert _engineering_entries(data_dir) == []


def test_an_engineering_print_is_recorded_before_it_streams_and_when_it_ends(
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _gcode(tmp_path, 300)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (
        _print(monkeypatch, data_dir, path, "--engineering-print", "--sim", "--sim-speed", "200")
        == 0
    )
    err = capsys.readouterr().err
    assert "completed; 303/303 lines acknowledged (300/300 extruding)" in err
    start, end = _engineering_entries(data_dir)
    assert start["action"] == "printer.engineering_print.start"
    assert start["actor"] == ENGINEER
    assert start["new"]["sha256"] == sha256
    assert start["new"]["printer"] == start["entity_id"] == "sim (built-in simulated printer)"
    assert end["action"] == "printer.engineering_print.end"
    assert end["new"]["sha256"] == sha256
    assert end["new"]["report"]["complete"] is True
    assert end["new"]["firmware"]["name"].startswith("Marlin")
    # the start was recorded before the printer was told anything
    assert start["at"] < end["new"]["report"]["started_at"]


def test_a_role_the_rules_do_not_allow_is_refused_and_nothing_recorded(
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _gcode(tmp_path, 3)
    assert _print(monkeypatch, data_dir, path, "--engineering-print", "--sim", user="tech") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "printmed print: error: user: 'tech' may not stream an engineering print (not a batch):"
        " role technician is not admin"
    )
    assert _engineering_entries(data_dir) == []


def _commented(program: str) -> str:
    return program.replace("\n", "\n; printed for the bench\n", 1)


def _respaced(program: str) -> str:
    """Trailing blanks on every line, a blank line after each, runs of spaces inside."""
    return "".join(line.replace(" ", "  ") + " \t\n\n" for line in program.splitlines())


RESPELLINGS = {
    "as stored": lambda program: program,
    "CRLF": lambda program: program.replace("\n", "\r\n"),
    "a comment line added": _commented,
    "CRLF and a comment line": lambda program: _commented(program).replace("\n", "\r\n"),
    "blank lines and whitespace": _respaced,
    "lower case and end-of-line comments": lambda program: "".join(
        f"{line.lower()} ; bench\n" for line in program.splitlines()
    ),
}


@pytest.mark.parametrize("respelled", list(RESPELLINGS), ids=list(RESPELLINGS))
def test_a_batch_gcode_is_refused_naming_the_batch(
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    respelled: str,
) -> None:
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}", migrate=False)
    with store.session() as session:
        tech = session.scalar(select(User).where(User.username == "tech"))
    assert tech is not None
    batch = verified_job(store, tech, units=1)
    store.dispose()
    path = tmp_path / "copied.gcode"
    path.write_bytes(RESPELLINGS[respelled](gated_batch(1).gcode).encode())
    assert _print(monkeypatch, data_dir, path, "--engineering-print", "--sim") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"printmed print: error: file: 'copied.gcode' is the G-code of batch {batch}"
    )
    assert "batches print only through the worker" in line
    assert _engineering_entries(data_dir) == []


def test_missing_port_is_one_line_and_exit_two_and_the_attempt_is_recorded(
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _gcode(tmp_path, 3)
    port = "/dev/ttyUSB-printmed-none"
    assert _print(monkeypatch, data_dir, path, "--engineering-print", "--port", port) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "printmed print: error: port: '/dev/ttyUSB-printmed-none' does not exist"
        " (is the printer plugged in?)"
    )
    start, end = _engineering_entries(data_dir)
    assert start["new"]["printer"] == f"serial {port} at 115200 baud"
    assert end["new"]["report"] is None and end["new"]["firmware"] is None


def test_octoprint_without_api_key_is_refused(
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _gcode(tmp_path, 3)
    options = ("--engineering-print", "--octoprint", "http://127.0.0.1:9")
    assert _print(monkeypatch, data_dir, path, *options) == 2
    assert "--api-key" in capsys.readouterr().err


def test_ctrl_c_pauses_and_cancel_ends_the_job_with_exit_one(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _gcode(tmp_path, 2000, feed_mm_min=600)
    command = [sys.executable, "-m", "printmed", "print", str(path), "--engineering-print"]
    command += ["--sim", "--sim-speed", "5", "--user", ENGINEER, "--password-stdin"]
    command += ["--data-dir", str(data_dir)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stderr is not None
    process.stdin.write(PASSWORD + "\n")
    process.stdin.flush()
    seen = process.stderr.readline()  # the CLI imports the whole product first: wait for it
    while seen and not seen.startswith("streaming "):
        seen = process.stderr.readline()
    assert seen.startswith("streaming "), "the print command never started streaming"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate("c\n", timeout=30)
    assert process.returncode == 1, err
    assert "paused: [r]esume, [c]ancel, [e]mergency stop" in err + out
    assert "cancelled" in err
    start, end = _engineering_entries(data_dir)
    assert start["new"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert end["new"]["report"]["state"] == "cancelled"
