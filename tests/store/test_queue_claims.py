"""Workers sharing one queue never take the same job twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from printmed.jobs import service
from printmed.records.integrity import verify_records
from printmed.store import Store
from tests.records.builders import FIRMWARE, add_users, queued_job


def test_claim_records_worker_and_firmware_before_streaming(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"])
    with any_store.session() as session:
        job = service.claim_next(session, "sim-1", "w1", FIRMWARE)
        assert job is not None and job.batch_number == batch
    with any_store.session() as session:
        job = service.get_batch(session, batch)
        assert (job.state, job.claimed_by) == ("printing", "w1")
        assert service.column_value(job, "firmware_json") == FIRMWARE
        assert job.gcode_sha256 is not None
        assert verify_records(session).intact


def test_no_job_for_another_printer(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    queued_job(any_store, users["tech"], printer="sim-2")
    with any_store.session() as session:
        assert service.claim_next(session, "sim-1", "w1", FIRMWARE) is None


def test_concurrent_workers_take_each_job_exactly_once(any_store: Store) -> None:
    users = add_users(any_store, "tech")
    batches = {queued_job(any_store, users["tech"], units=1) for _ in range(12)}
    taken: dict[str, list[str]] = {f"w{i}": [] for i in range(4)}

    def work(worker_id: str) -> None:
        while True:
            with any_store.session() as session:
                job = service.claim_next(session, "sim-1", worker_id, FIRMWARE)
                if job is None:
                    return
                taken[worker_id].append(job.batch_number)

    threads = [threading.Thread(target=work, args=(w,)) for w in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [batch for claimed in taken.values() for batch in claimed]
    assert sorted(every) == sorted(batches)
    with any_store.session() as session:
        assert verify_records(session).intact


def test_recovery_marks_printing_jobs_interrupted_with_last_acknowledged_line(
    any_store: Store,
) -> None:
    from printmed.store.models import PrintProgress

    users = add_users(any_store, "tech")
    batch = queued_job(any_store, users["tech"])
    with any_store.session() as session:
        job = service.claim_next(session, "sim-1", "w1", FIRMWARE)
        assert job is not None
        progress = session.get(PrintProgress, job.id)
        assert progress is not None
        progress.lines_acknowledged, progress.last_acknowledged_line = 57, 57
    with any_store.session() as session:
        assert service.recover_interrupted(session, "sim-1", "w2") == [batch]
    with any_store.session() as session:
        job = service.get_batch(session, batch)
        report = service.column_value(job, "stream_report_json")
        assert job.state == "interrupted"
        assert report["last_acknowledged_line"] == 57
        assert report["complete"] is False
        assert verify_records(session).intact


def test_two_service_instances_print_each_queued_job_exactly_once(any_store: Store) -> None:
    from printers.sim_printer import SimPrinter
    from printmed.jobs.worker import PrinterWorker

    users = add_users(any_store, "tech")
    batches = {queued_job(any_store, users["tech"], units=1) for _ in range(6)}
    workers = [
        PrinterWorker(
            any_store,
            "sim-1",
            SimPrinter(
                speed_factor=200.0, baud=None, machine_type=FIRMWARE["fields"]["MACHINE_TYPE"]
            ),
            f"i{n}",
            poll_s=0.05,
        )
        for n in range(2)
    ]
    printed: dict[str, list[str]] = {}

    # Each instance recovers before either claims: an instance starting while another prints
    # the same printer would call that print interrupted (one printer has one worker; see the
    # crash-recovery tests). What is under test here is the claim.
    for worker in workers:
        assert worker.recover() == []

    def serve(worker: PrinterWorker) -> None:
        done = printed.setdefault(worker.worker_id, [])
        while (batch := worker.run_once()) is not None:
            done.append(batch)

    threads = [threading.Thread(target=serve, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for worker in workers:
            worker.printer.disconnect()
    every = [batch for done in printed.values() for batch in done]
    assert sorted(every) == sorted(batches)
    with any_store.session() as session:
        assert {service.get_batch(session, b).state for b in batches} == {"printed"}
        assert verify_records(session).intact
