"""The printer register: physical printers of a profile share its queue, each takes only the
batch its line is cleared for, and only while it is in service and calibrated."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from printers.interface import StreamProgress, StreamReport
from printers.program import GcodeProgram
from printers.sim_printer import SimPrinter
from printmed import audit
from printmed.auth.rules import NotPermitted
from printmed.errors import InputError
from printmed.jobs import register, service
from printmed.jobs.worker import PrinterWorker
from printmed.records.batch_record import load_record
from printmed.records.integrity import verify_records
from printmed.records.pharmacy import pharmacy_of
from printmed.records.record_pdf import batch_record_pdf
from printmed.settings import load_settings
from printmed.store import Store
from printmed.store.models import AuditEntry, RegisteredPrinter, User
from tests.records.builders import FIRMWARE, PROFILE_ID, add_users, queued_job

FDM_MACHINE = "Pharma-FDM-04"
LOT = "LOT-TEST-001"  # the test lot's number (tests.records.builders.FORMULATION)
CALIBRATED = {"e_steps": 100.2, "bed_level": 0.04, "nozzle_temperature": -1.5}


def _register(store: Store, pharmacist: User, name: str, serial: str) -> None:
    with store.session() as session:
        register.add_printer(
            session,
            pharmacist,
            name=name,
            profile_id=PROFILE_ID,
            serial_number=serial,
            location="clean room 2, bench A",
            connection=register.Connection("sim"),
        )
        register.record_calibration(session, pharmacist, name, CALIBRATED)


def _clear(store: Store, technician: User, name: str, batch: str, lot: str = LOT) -> None:
    with store.session() as session:
        register.clear_line(session, technician, name, batch, plate_clear=True, lot_number=lot)


def _claim(store: Store, name: str) -> str | None:
    with store.session() as session:
        job = service.claim_next(session, name, f"w-{name}", FIRMWARE)
        return job.batch_number if job is not None else None


def _state(store: Store, batch: str) -> str:
    with store.session() as session:
        return service.get_batch(session, batch).state


def _printed_by_its_worker(store: Store, name: str) -> list[str]:
    """The batches a worker driving registered printer `name` prints until it finds nothing
    more it may take."""
    worker = PrinterWorker(
        store,
        name,
        SimPrinter(speed_factor=200.0, baud=None, machine_type=FDM_MACHINE),
        f"w-{name}",
        poll_s=0.05,
    )
    try:
        return worker.run(threading.Event(), until_idle=True)
    finally:
        worker.printer.disconnect()


@pytest.fixture
def users(store: Store) -> dict[str, User]:
    return add_users(store, "tech", "pharm")


class RendezvousPrinter(SimPrinter):
    """The built-in simulated printer, which streams only once every printer sharing
    `together` has begun streaming: two prints that both finish were under way at once."""

    def __init__(self, together: threading.Barrier, **options: Any) -> None:
        super().__init__(**options)
        self.together = together

    def stream(
        self, program: GcodeProgram, on_progress: Callable[[StreamProgress], None] | None = None
    ) -> StreamReport:
        self.together.wait(timeout=60)
        return super().stream(program, on_progress)


def test_two_registered_printers_of_one_profile_print_two_queued_batches_at_once(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    _register(store, users["pharm"], "fdm-b", "SN-FDM-0002")
    first = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    second = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    _clear(store, users["tech"], "fdm-a", first)
    _clear(store, users["tech"], "fdm-b", second)
    together = threading.Barrier(2)
    workers = [
        PrinterWorker(
            store,
            name,
            RendezvousPrinter(together, speed_factor=200.0, baud=None, machine_type=FDM_MACHINE),
            f"w-{name}",
            poll_s=0.05,
        )
        for name in ("fdm-a", "fdm-b")
    ]
    printed: dict[str, list[str]] = {}

    def run(worker: PrinterWorker) -> None:
        try:
            printed[worker.printer_name] = worker.run(threading.Event(), until_idle=True)
        finally:
            worker.printer.disconnect()

    threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not together.broken  # each print waited for the other to begin
    assert printed == {"fdm-a": [first], "fdm-b": [second]}
    with store.session() as session:
        a, b = service.get_batch(session, first), service.get_batch(session, second)
        assert (a.state, a.printer, a.printer_serial) == ("printed", "fdm-a", "SN-FDM-0001")
        assert (b.state, b.printer, b.printer_serial) == ("printed", "fdm-b", "SN-FDM-0002")
        assert verify_records(session).intact


def test_the_claim_records_the_physical_printer_and_serial_in_the_batch_trail(
    any_store: Store,
) -> None:
    users = add_users(any_store, "tech", "pharm")
    _register(any_store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(any_store, users["tech"], printer=PROFILE_ID, units=1)
    _clear(any_store, users["tech"], "fdm-a", batch)
    assert _claim(any_store, "fdm-a") == batch
    with any_store.session() as session:
        entries = audit.entries_for(session, batch)
        actions = [entry.action for entry in entries]
        assert actions[-3:] == [
            "printer.line_clearance",
            "job.print.start",
            "printer.line_clearance.used",
        ]
        clearance = audit.decoded(entries[-3])
        assert clearance["actor"] == "tech"
        assert clearance["new"]["cleared_lot"] == LOT
        assert clearance["new"]["plate_clear"] is True
        start = audit.decoded(entries[-2])
        assert start["old"]["printer"] == PROFILE_ID
        assert start["new"]["printer"] == "fdm-a"
        assert start["new"]["printer_serial"] == "SN-FDM-0001"
        assert register.get(session, "fdm-a").cleared_batch is None
        assert verify_records(session).intact


@pytest.mark.parametrize(
    "status, reason, told",
    [
        ("calibration_due", "nozzle replaced", "calibration due: nozzle replaced"),
        ("out_of_service", "belt worn", "out of service: belt worn"),
    ],
)
def test_a_printer_marked_calibration_due_or_out_of_service_takes_no_batch(
    store: Store, users: dict[str, User], status: str, reason: str, told: str
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    _clear(store, users["tech"], "fdm-a", batch)  # cleared, then marked
    with store.session() as session:
        register.set_status(session, users["pharm"], "fdm-a", status, reason)
    assert _printed_by_its_worker(store, "fdm-a") == []
    assert _state(store, batch) == "queued"
    with store.session() as session:
        printer = register.get(session, "fdm-a")
        assert register.readiness(printer) == register.Readiness(False, told)
        assert register.effective_status(printer) == status


def test_a_line_is_not_cleared_on_a_printer_out_of_service(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    with store.session() as session:
        register.set_status(session, users["pharm"], "fdm-a", "out_of_service", "belt worn")
    with pytest.raises(register.LineNotCleared) as refused:
        _clear(store, users["tech"], "fdm-a", batch)
    assert (refused.value.field, refused.value.value) == ("printer", "fdm-a")
    assert "may not print now (out of service: belt worn)" in str(refused.value)
    assert _claim(store, "fdm-a") is None
    assert _state(store, batch) == "queued"


def test_a_failed_calibration_makes_the_printer_due_and_it_takes_nothing(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    _clear(store, users["tech"], "fdm-a", batch)
    with store.session() as session:
        failed = register.record_calibration(
            session, users["pharm"], "fdm-a", {**CALIBRATED, "e_steps": 98.9}
        )
        assert failed.result == "fail"
        assert failed.next_due_on is None
        printer = register.get(session, "fdm-a")
        assert (printer.status, printer.status_reason) == (
            "calibration_due",
            "calibration failed: e_steps",
        )
    assert _claim(store, "fdm-a") is None
    assert _state(store, batch) == "queued"
    with store.session() as session:  # a passing calibration puts it back in service
        passed = register.record_calibration(session, users["pharm"], "fdm-a", CALIBRATED)
        assert passed.next_due_on == (register.today() + dt.timedelta(days=30)).isoformat()
        assert register.get(session, "fdm-a").status == "in_service"
    assert _claim(store, "fdm-a") == batch


def test_a_printer_past_its_calibration_date_takes_nothing(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    with store.session() as session:
        printer = register.get(session, "fdm-a")
        due = dt.date.fromisoformat(printer.calibration_due_on or "")
        assert register.readiness(printer, due - dt.timedelta(days=1)).ready
        assert register.readiness(printer, due) == register.Readiness(
            False, f"calibration due since {due.isoformat()}"
        )


def test_a_new_printer_takes_nothing_before_its_first_calibration(
    store: Store, users: dict[str, User]
) -> None:
    with store.session() as session:
        printer = register.add_printer(
            session,
            users["pharm"],
            name="fdm-new",
            profile_id=PROFILE_ID,
            serial_number="SN-NEW",
            location="bench C",
            connection=register.Connection("usb", port="/dev/ttyACM0", baud=115200),
        )
        assert register.readiness(printer).reason == "calibration due: no calibration on record"


def test_a_wrong_lot_at_line_clearance_is_refused_and_nothing_is_recorded(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    with store.session() as session:
        before = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    with pytest.raises(register.LineNotCleared) as refused:
        _clear(store, users["tech"], "fdm-a", batch, lot="LOT-TEST-002")
    assert refused.value.field == "lot_number"
    assert refused.value.value == "LOT-TEST-002"
    assert f"is not the lot of {batch} ({LOT})" in str(refused.value)
    with store.session() as session:
        after = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
        assert after == before
        assert register.get(session, "fdm-a").cleared_batch is None
    assert _claim(store, "fdm-a") is None
    assert _state(store, batch) == "queued"


def test_line_clearance_needs_the_plate_confirmed_clear(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    with store.session() as session, pytest.raises(register.LineNotCleared, match="plate_clear"):
        register.clear_line(
            session, users["tech"], "fdm-a", batch, plate_clear=False, lot_number=LOT
        )


def test_without_line_clearance_a_registered_printer_takes_nothing(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    assert _claim(store, "fdm-a") is None
    assert _state(store, batch) == "queued"


def test_a_batch_is_cleared_on_one_printer_only(store: Store, users: dict[str, User]) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    _register(store, users["pharm"], "fdm-b", "SN-FDM-0002")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    _clear(store, users["tech"], "fdm-a", batch)
    with pytest.raises(register.LineNotCleared, match="is already cleared on fdm-a"):
        _clear(store, users["tech"], "fdm-b", batch)
    assert _claim(store, "fdm-b") is None


def test_a_batch_queued_for_one_named_printer_is_not_cleared_on_another(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    _register(store, users["pharm"], "fdm-b", "SN-FDM-0002")
    batch = queued_job(store, users["tech"], printer="fdm-a", units=1)
    with pytest.raises(register.LineNotCleared, match="is queued for fdm-a, not for fdm-b"):
        _clear(store, users["tech"], "fdm-b", batch)
    _clear(store, users["tech"], "fdm-a", batch)
    assert _claim(store, "fdm-a") == batch


def test_once_printers_are_registered_an_unregistered_worker_takes_nothing(
    store: Store, users: dict[str, User]
) -> None:
    batch = queued_job(store, users["tech"], printer="sim-1", units=1)
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    assert _claim(store, "sim-1") is None
    assert _state(store, batch) == "queued"


def test_every_change_of_a_printer_is_an_audit_entry_with_old_new_and_reason(
    store: Store, users: dict[str, User]
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    with store.session() as session:
        register.set_status(session, users["pharm"], "fdm-a", "out_of_service", "belt worn")
        register.change_details(
            session, users["pharm"], "fdm-a", location="bench B", reason="moved to bench B"
        )
        entries = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "printer", AuditEntry.entity_id == "fdm-a")
                .order_by(AuditEntry.seq)
            )
        )
        decoded = [audit.decoded(entry) for entry in entries]
    assert [d["action"] for d in decoded] == [
        "printer.register",
        "printer.calibration.pass",
        "printer.status",
        "printer.details",
    ]
    assert decoded[2]["old"] == {"status": "in_service", "status_reason": ""}
    assert decoded[2]["new"] == {"status": "out_of_service", "status_reason": "belt worn"}
    assert decoded[2]["reason"] == "belt worn"
    assert decoded[3]["old"] == {"location": "clean room 2, bench A"}
    assert decoded[3]["new"] == {"location": "bench B"}
    assert [c["check"] for c in decoded[1]["new"]["checks"]] == list(register.CHECKS)


def test_an_octoprint_key_is_sealed_and_never_shown(store: Store, users: dict[str, User]) -> None:
    key = "0123456789ABCDEF0123456789ABCDEF"
    with store.session() as session:
        register.add_printer(
            session,
            users["pharm"],
            name="sse-octo",
            profile_id="sse-syringe-08",
            serial_number="SN-SSE-0009",
            location="bench D",
            connection=register.Connection("octoprint", url="http://octopi.local", api_key=key),
        )
    with store.session() as session:
        printer = register.get(session, "sse-octo")
        assert key not in (printer.octoprint_key_sealed or "")
        assert key not in str(register.view(printer))
        trail = session.scalars(select(AuditEntry.new_json)).all()
        assert not any(key in text for text in trail)
        assert register.connection_of(printer).api_key == key
        printer.name = "sse-other"  # a sealed key opens only for the printer it was sealed for
        with pytest.raises(InputError, match="does not open"):
            register.connection_of(printer)
        session.rollback()


def test_bad_register_input_is_refused_naming_the_field(
    store: Store, users: dict[str, User]
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "bad name!"}, "name"),
        ({"profile_id": "no-such-profile"}, "printer"),
        ({"serial_number": " "}, "serial_number"),
        ({"connection": register.Connection("usb", port="/dev/ttyACM0", baud=12)}, "usb_baud"),
        (
            {"connection": register.Connection("octoprint", url="octopi", api_key="k")},
            "octoprint_url",
        ),
    ]
    good: dict[str, Any] = {
        "name": "fdm-x",
        "profile_id": PROFILE_ID,
        "serial_number": "SN-X",
        "location": "bench",
        "connection": register.Connection("sim"),
    }
    for change, field in cases:
        with store.session() as session, pytest.raises(InputError) as refused:
            register.add_printer(session, users["pharm"], **{**good, **change})
        assert refused.value.field == field
    with store.session() as session:
        assert session.scalars(select(RegisteredPrinter)).all() == []


def test_a_technician_may_not_register_a_printer_but_clears_lines(
    store: Store, users: dict[str, User]
) -> None:
    with store.session() as session, pytest.raises(NotPermitted):
        register.add_printer(
            session,
            users["tech"],
            name="fdm-x",
            profile_id=PROFILE_ID,
            serial_number="SN-X",
            location="bench",
            connection=register.Connection("sim"),
        )


def test_the_embedded_default_registers_two_simulators_per_profile_once(store: Store) -> None:
    with store.session() as session:
        made = register.register_simulators(session)
        assert sorted(p.name for p in made) == [
            "fdm-pharma-04-a",
            "fdm-pharma-04-b",
            "sse-syringe-08-a",
            "sse-syringe-08-b",
        ]
        assert all(register.readiness(p).ready for p in made)
    with store.session() as session:
        assert register.register_simulators(session) == []


def test_the_batch_record_pdf_names_the_physical_printer_and_its_serial(
    store: Store, users: dict[str, User], tmp_path: Path
) -> None:
    _register(store, users["pharm"], "fdm-a", "SN-FDM-0001")
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    _clear(store, users["tech"], "fdm-a", batch)
    assert _claim(store, "fdm-a") == batch
    with store.session() as session:
        record = load_record(session, batch)
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(batch_record_pdf(record, pharmacy_of(load_settings(dict(os.environ)), store)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert f"Printer fdm-a (profile {PROFILE_ID})" in flat
    assert "Printer serial SN-FDM-0001" in flat
