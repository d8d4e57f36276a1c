"""The worker streams queued jobs to the simulated printer and records how each print went."""

from __future__ import annotations

import threading

import pytest

from printers.program import GcodeProgram
from printers.sim_marlin import Faults
from printers.sim_printer import SimPrinter
from printmed.jobs import service
from printmed.jobs.worker import PrinterWorker
from printmed.records.integrity import verify_records
from printmed.store import Store
from tests.records.builders import add_users, gated_batch, queued_job

FDM_MACHINE = "Pharma-FDM-04"  # the machine type of the batches' profile, fdm-pharma-04


def _worker(store: Store, **sim: object) -> PrinterWorker:
    sim.setdefault("machine_type", FDM_MACHINE)
    printer = SimPrinter(speed_factor=200.0, baud=None, **sim)  # type: ignore[arg-type]
    return PrinterWorker(store, "sim-1", printer, "w1", poll_s=0.05)


def test_worker_prints_a_queued_job_and_records_the_stream_report(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    lines = len(GcodeProgram.from_text(gated_batch(1).gcode, name=batch))
    worker = _worker(store)
    try:
        assert worker.run(threading.Event(), until_idle=True) == [batch]
    finally:
        worker.printer.disconnect()
    with store.session() as session:
        job = service.get_batch(session, batch)
        report = service.column_value(job, "stream_report_json")
        firmware = service.column_value(job, "firmware_json")
        assert job.state == "printed"
        assert report["complete"] is True
        assert report["lines_acknowledged"] == report["lines_total"] == lines
        assert report["extrusion_lines_acknowledged"] == report["extrusion_lines_total"]
        assert firmware["name"].startswith("Marlin")
        assert firmware["fields"]["MACHINE_TYPE"] == FDM_MACHINE
        assert verify_records(session).intact


def test_printer_that_resets_mid_print_leaves_the_job_interrupted(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    worker = _worker(store, faults=Faults(reset_at=30))
    try:
        worker.run(threading.Event(), until_idle=True)
    finally:
        worker.printer.disconnect()
    with store.session() as session:
        job = service.get_batch(session, batch)
        report = service.column_value(job, "stream_report_json")
        assert job.state == "interrupted"
        assert report["complete"] is False
        assert 0 < report["lines_acknowledged"] < 30
        assert verify_records(session).intact


def test_an_idle_worker_takes_nothing_of_another_printer(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], printer="sim-2", units=1)
    worker = _worker(store)
    try:
        assert worker.run(threading.Event(), until_idle=True) == []
    finally:
        worker.printer.disconnect()
    with store.session() as session:
        assert service.get_batch(session, batch).state == "queued"


def test_a_host_error_while_streaming_ends_the_job_interrupted_and_surfaces(
    store: Store,
) -> None:
    from printers.errors import PrinterBusy
    from printers.firmware import FirmwareInfo
    from printers.program import GcodeProgram

    class TakenAfterAsked(SimPrinter):
        """Someone else's program starts on this printer just after the worker asked who it
        is (before it, the worker would claim nothing): start() then refuses ours."""

        def identify(self) -> FirmwareInfo:
            answer = super().identify()
            self.start(GcodeProgram.from_text("G4 S3600\n", name="other"))
            return answer

    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    worker = PrinterWorker(
        store,
        "sim-1",
        TakenAfterAsked(speed_factor=200.0, baud=None, machine_type=FDM_MACHINE),
        "w1",
        poll_s=0.05,
    )
    worker.connect()
    try:
        with pytest.raises(PrinterBusy):
            worker.run_once()
    finally:
        worker.printer.disconnect()
    with store.session() as session:
        job = service.get_batch(session, batch)
        report = service.column_value(job, "stream_report_json")
        assert job.state == "interrupted"
        assert report["lines_acknowledged"] == 0
        assert verify_records(session).intact


def test_after_an_emergency_stop_the_worker_claims_nothing_and_stays_alive(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = add_users(store, "tech")
    worker = _worker(store)
    worker.connect()
    worker.printer.emergency_stop()  # the board halts; a person must look before it prints again
    batch = queued_job(store, users["tech"], units=1)
    looks: list[str | None] = []
    looked_twice = threading.Event()
    run_once = worker.run_once

    def look() -> str | None:
        taken = run_once()
        looks.append(taken)
        if len(looks) >= 2:
            looked_twice.set()
        return taken

    monkeypatch.setattr(worker, "run_once", look)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        # it looked at the queue, took nothing, and looked again: polling, not dead
        assert looked_twice.wait(10)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
        worker.printer.disconnect()
    assert not thread.is_alive()
    assert set(looks) == {None}
    with store.session() as session:
        assert service.get_batch(session, batch).state == "queued"
