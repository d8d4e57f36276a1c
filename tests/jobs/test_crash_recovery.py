"""The service process is killed (SIGKILL) while a job prints on the simulated printer; on
restart the job is interrupted, never resumed, its record is whole and `records verify` passes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from printmed.cli import main
from printmed.jobs import service
from printmed.records.integrity import verify_records
from printmed.store import open_store
from printmed.store.models import PrintProgress
from tests.records.builders import PROFILE_ID, add_users, queued_job

# One real tablet: heating and about 2300 lines, half a minute and more at speed factor 1, so
# the kill lands mid-print; the simulator stands in for a printer of the batch's profile.
SIMULATED = ("--printer", "sim-1", "--sim-profile", PROFILE_ID)


def _printmed(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "printmed", *args, "--data-dir", str(data_dir)]


def _wait_for_acknowledged_lines(store_url: str, batch: str, lines: int, timeout_s: float) -> int:
    store = open_store(store_url, migrate=False)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with store.session() as session:
                job = service.get_batch(session, batch)
                progress = session.get(PrintProgress, job.id)
                if job.state == "printing" and progress and progress.lines_acknowledged >= lines:
                    return progress.lines_acknowledged
            time.sleep(0.1)
    finally:
        store.dispose()
    raise AssertionError(f"{batch} did not reach {lines} acknowledged lines in {timeout_s} s")


def test_sigkill_while_printing_leaves_an_interrupted_job_and_a_whole_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'printmed.sqlite'}"
    store = open_store(url)
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    store.dispose()

    service_process = subprocess.Popen(
        _printmed(tmp_path, "worker", *SIMULATED, "--speed-factor", "1", "--poll-s", "0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = _wait_for_acknowledged_lines(url, batch, 20, timeout_s=60)
    finally:
        os.kill(service_process.pid, signal.SIGKILL)
        service_process.wait(timeout=10)
    assert service_process.returncode == -signal.SIGKILL

    store = open_store(url, migrate=False)
    with store.session() as session:
        assert service.get_batch(session, batch).state == "printing"

    restarted = subprocess.run(
        _printmed(tmp_path, "worker", *SIMULATED, "--until-idle", "--poll-s", "0.1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert f"{batch}: interrupted" in restarted.stderr
    assert f"{batch}: done" not in restarted.stdout  # never resumed silently

    with store.session() as session:
        job = service.get_batch(session, batch)
        report = service.column_value(job, "stream_report_json")
        assert job.state == "interrupted"
        assert report["complete"] is False
        assert seen <= report["lines_acknowledged"] < report["lines_total"]
        file_lines = len(service.program_to_print(session, job).splitlines())
        assert 0 < report["last_acknowledged_line"] < file_lines
        assert verify_records(session).intact
    store.dispose()

    # The restarted service is what matters above; the record commands run in this process.
    assert main(["records", "verify", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("intact: ")
    assert main(["records", "show", batch, "--data-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "job.print.start" in shown
    assert "job.print.interrupted — the service stopped while printing; not resumed" in shown
    assert "record intact" in shown
