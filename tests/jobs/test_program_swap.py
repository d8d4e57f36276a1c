"""The worker gates the stored G-code again just before streaming: a program swapped or altered
in the database after verification is never streamed, on SQLite and on PostgreSQL.

The tamperer here writes the database directly, as anyone holding it could: a new program row
(append-only tables still take inserts) and the job row pointed at it, the stored text
rewritten in place with the append-only trigger dropped first, or the whole trail rewritten to
match with the project's own functions but without the service key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

from dosing.prescription import parse_prescription
from printers.sim_printer import SimPrinter
from printmed import catalog
from printmed.audit import entries_for
from printmed.jobs import service
from printmed.jobs.worker import PrinterWorker
from printmed.keys import service_key
from printmed.manufacture import GatedBatch, make_batch
from printmed.store import Store
from tests.records.builders import (
    PRESCRIPTION,
    PROFILE_ID,
    add_users,
    draft_job,
    formulation_lot,
    queued_job,
    verify,
)
from tests.records.forgery import forge

UNITS = 2
# Commands a program sends; the connection's own (M115, M155, M110) are not among them.
PROGRAM_COMMANDS = ("G0", "G1", "G28", "G92", "M104", "M109", "M140", "M190", "M486", "M84")


def _other_batch(**changes: object) -> GatedBatch:
    """What the real path makes of PRESCRIPTION with `changes` (another dose, count)."""
    rx = parse_prescription({**PRESCRIPTION, "units": UNITS, **changes})
    return make_batch(rx, formulation_lot(), catalog.printer_profile(PROFILE_ID))


def _other_program(**changes: object) -> str:
    return _other_batch(**changes).gcode


def _swap_program(store: Store, batch: str, program: str) -> str:
    """Insert `program` as a stored program and point the job row at it; its SHA-256."""
    sha256 = hashlib.sha256(program.encode()).hexdigest()
    with store.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO gcode_programs (sha256, text, lines) VALUES (:sha, :text, :lines)"),
            {"sha": sha256, "text": program, "lines": program.count("\n") + 1},
        )
        connection.execute(
            text("UPDATE jobs SET gcode_sha256 = :sha WHERE batch_number = :batch"),
            {"sha": sha256, "batch": batch},
        )
    return sha256


def _rewrite_stored_text(store: Store, sha256: str, program: str) -> None:
    """Rewrite the stored text under its old hash, dropping the append-only trigger first."""
    postgres = store.engine.dialect.name == "postgresql"
    trigger = "gcode_programs_no_change" if postgres else "gcode_programs_no_update"
    with store.engine.begin() as connection:
        connection.execute(
            text(
                f"DROP TRIGGER {trigger} ON gcode_programs"
                if postgres
                else f"DROP TRIGGER {trigger}"
            )
        )
        connection.execute(
            text("UPDATE gcode_programs SET text = :text WHERE sha256 = :sha"),
            {"text": program, "sha": sha256},
        )


def _print_once(store: Store) -> tuple[str | None, list[tuple[int, str]]]:
    """One turn of a worker on a simulated printer of the batch's profile: what it returned
    and every command that reached the printer."""
    printer = SimPrinter(speed_factor=200.0, baud=None, machine_type="Pharma-FDM-04")
    worker = PrinterWorker(store, "sim-1", printer, "w1", poll_s=0.05)
    try:
        taken = worker.run_once()
        assert printer.firmware_side is not None
        return taken, list(printer.firmware_side.executed)
    finally:
        printer.disconnect()


def _assert_failed_unsent(store: Store, batch: str, executed: list[tuple[int, str]]) -> str:
    """The batch failed with nothing of a program sent; the failure entry's reason."""
    assert [c for _, c in executed if c.split()[0] in PROGRAM_COMMANDS] == []
    with store.session() as session:
        job = service.get_batch(session, batch)
        report = service.column_value(job, "stream_report_json")
        assert job.state == "failed"
        assert report["lines_sent"] == report["lines_acknowledged"] == 0
        last = entries_for(session, batch)[-1]
        assert last.action == "job.print.failed"
        return last.reason


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"dose": {"value": 1.5, "unit": "mg/kg"}}, "tablet[0]: '+48.00%' off target"),
        ({"units": UNITS + 1}, "gcode.objects: [0, 1, 2] do not match the 2 tablets"),
    ],
    ids=["tablets of another dose", "another tablet count"],
)
def test_a_program_swapped_in_the_database_is_refused_before_a_line_is_streamed(
    any_store: Store, changes: dict, named: str
) -> None:
    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"], units=UNITS)
    _swap_program(any_store, batch, _other_program(**changes))
    taken, executed = _print_once(any_store)
    assert taken == batch
    reason = _assert_failed_unsent(any_store, batch, executed)
    assert reason.startswith("the dose gate run again before streaming refused it: ")
    assert named in reason


def test_stored_text_rewritten_under_its_hash_is_refused_before_a_line_is_streamed(
    any_store: Store,
) -> None:
    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"], units=UNITS)
    with any_store.session() as session:
        sha256 = service.get_batch(session, batch).gcode_sha256
    assert sha256 is not None
    _rewrite_stored_text(any_store, sha256, _other_program(dose={"value": 1.5, "unit": "mg/kg"}))
    taken, executed = _print_once(any_store)
    assert taken == batch
    reason = _assert_failed_unsent(any_store, batch, executed)
    assert f"gcode_sha256: '{sha256}' is not the hash of the stored G-code" in reason


def test_a_job_row_rewritten_whole_to_another_verified_program_is_refused_by_the_trail(
    any_store: Store,
) -> None:
    """Program, targets, gate figures and parameters of another real verified batch copied into
    the job row: the gate agrees with itself, the trail of this batch does not."""
    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"], units=UNITS)
    donor = draft_job(any_store, users["tech"], units=UNITS, printer="elsewhere")
    verify(any_store, donor, users["tech"], _other_batch(dose={"value": 1.5, "unit": "mg/kg"}))
    columns = ("gcode_sha256", "dose_json", "design_json", "gate_json", "parameters_json")
    with any_store.engine.begin() as connection:
        row = connection.execute(
            text(f"SELECT {', '.join(columns)} FROM jobs WHERE batch_number = :donor"),
            {"donor": donor},
        ).one()
        connection.execute(
            text(
                f"UPDATE jobs SET {', '.join(f'{c} = :{c}' for c in columns)} "
                "WHERE batch_number = :batch"
            ),
            {**dict(zip(columns, row, strict=True)), "batch": batch},
        )
    taken, executed = _print_once(any_store)
    assert taken == batch
    reason = _assert_failed_unsent(any_store, batch, executed)
    assert f"dose_json: '(rewritten)' is not what the trail recorded for {batch}" in reason


SWAPPED = ("gcode_sha256", "dose_json", "design_json", "gate_json", "parameters_json")


@pytest.mark.parametrize(
    ("resign", "problem"),
    [
        (True, "it is signed with key {forger}, which is not a trusted service key"),
        (False, "its service signature does not match (rewritten without the service key)"),
    ],
    ids=["re-signed with the forger's own key", "signatures left as they were"],
)
def test_a_trail_rewritten_to_match_without_the_service_key_is_refused_before_streaming(
    any_store: Store, tmp_path: Path, resign: bool, problem: str
) -> None:
    """Another real verified batch's program, targets and gate figures written into this
    batch's verification entry, every later hash recomputed and the job row replayed from the
    rewritten trail: the gate and the row agree with the trail, its signatures do not."""
    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"], units=UNITS)
    donor = draft_job(any_store, users["tech"], units=UNITS, printer="elsewhere")
    verify(any_store, donor, users["tech"], _other_batch(dose={"value": 1.5, "unit": "mg/kg"}))
    with any_store.session() as session:
        donated = service.get_batch(session, donor)
        values = {column: service.column_value(donated, column) for column in SWAPPED}
        [seq] = [e.seq for e in entries_for(session, batch) if e.action == "job.verify"]
    forge(any_store, seq, values, tmp_path / "forger", resign=resign)
    with any_store.session() as session:
        forged = service.get_batch(session, batch)
        assert forged.gcode_sha256 == values["gcode_sha256"]  # the row is the forged trail's
        assert forged.state == "queued"
    taken, executed = _print_once(any_store)
    assert taken == batch
    reason = _assert_failed_unsent(any_store, batch, executed)
    named = problem.format(forger=service_key(tmp_path / "forger").key_id)
    assert reason == (
        "the dose gate run again before streaming refused it: "
        f"audit entry: {seq} (job.verify, {batch}): {named}"
    )


def test_the_untouched_program_is_streamed_whole(store: Store) -> None:
    """The refusals above are the tampering's: the same batch untouched prints."""
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=UNITS)
    taken, executed = _print_once(store)
    assert taken == batch
    with store.session() as session:
        assert service.get_batch(session, batch).state == "printed"
    assert any(c.startswith("M486 S1") for _, c in executed)
