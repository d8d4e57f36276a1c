"""The worker of one printer: takes its queued jobs, streams them, records how each print went.

Before each claim the printer is asked again who it is (M115; OctoPrint's connection), and
before the first line goes out the claim (state printing, worker, that identity, checked
against the profile the G-code was written for) is committed and the stored G-code is gated
again (`service.program_to_print`); during the print the acknowledged lines and temperatures
are saved every `progress_interval_s`, so that after a crash `recover` can say where the
printer stopped. A printer that is not who the batch needs claims nothing more until it is
connected again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import logging
import threading
import time
from typing import Any

from dosing.errors import DosingError
from gcode.errors import GcodeError
from printers.errors import PrinterError
from printers.firmware import FirmwareInfo
from printers.interface import Printer, StreamProgress, StreamReport, StreamState
from printers.program import GcodeProgram
from printers.replies import Temperatures
from printmed import audit
from printmed.errors import InputError
from printmed.jobs import service
from printmed.jobs.states import BatchState
from printmed.jobs.stored_gate import warm_up_reader
from printmed.store import Store
from printmed.store.models import Batch, PrintProgress

TEMPERATURE_SAMPLE_S = 1.0
log = logging.getLogger("printmed.worker")


def as_data(value: Any) -> Any:
    """A stream report, firmware identity or reading as JSON-ready data (times as ISO text)."""
    if isinstance(value, Temperatures):
        return {name: [actual_c, target_c] for name, actual_c, target_c in value.readings_c}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, StreamReport):
            data["complete"] = value.complete
        return data
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(v) for v in value]
    return value


def outcome_of(report: StreamReport) -> BatchState:
    """printed only if every line was acknowledged once; a lost link is interrupted."""
    if report.complete:
        return BatchState.PRINTED
    if report.state is StreamState.INTERRUPTED:
        return BatchState.INTERRUPTED
    return BatchState.FAILED


class PrinterWorker:
    """Streams the queued jobs of `printer_name` to `printer`, one at a time."""

    def __init__(
        self,
        store: Store,
        printer_name: str,
        printer: Printer,
        worker_id: str,
        *,
        poll_s: float = 1.0,
        progress_interval_s: float = 0.5,
    ) -> None:
        self.store = store
        self.printer_name = printer_name
        self.printer = printer
        self.worker_id = worker_id
        self.poll_s = poll_s
        self.progress_interval_s = progress_interval_s
        self.firmware: FirmwareInfo | None = None
        self.refused: service.PrinterIdentityMismatch | None = None
        self._saved_at = 0.0
        self._sampled_at = 0.0
        self._temperatures: list[list[Any]] = []

    def recover(self) -> list[str]:
        """Jobs this printer was printing when the service stopped become interrupted."""
        with self.store.session() as session:
            return service.recover_interrupted(session, self.printer_name, self.worker_id)

    def connect(self) -> FirmwareInfo:
        self.firmware = self.printer.connect()
        self.refused = None
        # The re-gate before each print reads with compiled code: load it now, while the printer
        # is idle, rather than between a claim and the first line streamed.
        warm_up_reader()
        return self.firmware

    def run_once(self) -> str | None:
        """Print the oldest queued job, if any; its batch number."""
        if self.firmware is None:
            self.connect()
        elif not self.printer.status().connected:
            # Halted (M112), reset or unplugged since: someone must look at the printer before
            # it prints again, so nothing is claimed and queued jobs stay queued.
            return None
        if self.refused is not None:
            return None  # not the printer its batches need: someone must connect the right one
        with self.store.read_session() as session:
            if not service.has_queued(session, self.printer_name):
                return None
        # Whoever answers on this port now, not whoever answered at connect: a printer swapped
        # on the same port between two jobs is the one the claim checks and records.
        self.firmware = self.printer.identify()
        try:
            with self.store.session() as session:
                job = service.claim_next(
                    session, self.printer_name, self.worker_id, as_data(self.firmware)
                )
        except service.PrinterIdentityMismatch as refusal:
            self._refuse(refusal)
            return None
        if job is None:
            return None
        batch, job_id = job.batch_number, job.id
        # The gate runs outside the writing transaction, so no other writer waits for it.
        try:
            with self.store.read_session() as session:
                claimed = session.get(Batch, job_id)
                assert claimed is not None
                text = service.program_to_print(session, claimed)
        except (InputError, DosingError, GcodeError) as differs:
            # What would be streamed is not what passed the dose gate: print nothing.
            with self.store.session() as session:
                job = session.get(Batch, job_id)
                assert job is not None
                service.finish_print(
                    session,
                    job,
                    self.worker_id,
                    BatchState.FAILED,
                    {"complete": False, "lines_sent": 0, "lines_acknowledged": 0},
                    reason=f"the dose gate run again before streaming refused it: {differs}",
                )
            return batch
        program = GcodeProgram.from_text(text, name=batch)
        self._temperatures = []
        self._saved_at = self._sampled_at = 0.0

        def on_progress(event: StreamProgress) -> None:
            self._save_progress(job_id, program, event)

        try:
            report = self.printer.stream(program, on_progress)
        except Exception as exc:
            # The host side failed (not the printer's report): end the job, then let it surface.
            self._end_without_report(job_id, f"host error while streaming: {exc!r}")
            raise
        with self.store.session() as session:
            self._write_progress(
                session, job_id, program, report.lines_acknowledged, report.lines_sent
            )
            job = session.get(Batch, job_id)
            assert job is not None
            service.finish_print(
                session,
                job,
                self.worker_id,
                outcome_of(report),
                as_data(report),
                reason=report.reason or report.summary(),
            )
        return batch

    def _refuse(self, refusal: service.PrinterIdentityMismatch) -> None:
        self.refused = refusal
        log.warning("printer %s refused: %s", self.printer_name, refusal)
        with self.store.session() as session:
            service.record_identity_refusal(session, refusal, self.printer_name, self.worker_id)

    def _end_without_report(self, job_id: int, reason: str) -> None:
        with self.store.session() as session:
            job = session.get(Batch, job_id)
            assert job is not None
            report = service.saved_progress_report(session, job)
            service.finish_print(
                session, job, self.worker_id, BatchState.INTERRUPTED, report, reason=reason
            )

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> list[str]:
        """Recover, then print queued jobs until `stop` is set (or the queue is empty)."""
        self.recover()
        printed = []
        while not stop.is_set():
            try:
                batch = self.run_once()
            except PrinterError as exc:
                # The printer could not be reached or dropped out mid-job (a claimed job is
                # already recorded as ended): the worker lives on and claims nothing meanwhile.
                log.warning("printer %s unavailable: %s", self.printer_name, exc)
                stop.wait(self.poll_s)
                continue
            if batch is not None:
                printed.append(batch)
                continue
            if until_idle:
                break
            stop.wait(self.poll_s)
        return printed

    def _save_progress(self, job_id: int, program: GcodeProgram, event: StreamProgress) -> None:
        now = time.monotonic()
        if event.temperatures is not None and now - self._sampled_at >= TEMPERATURE_SAMPLE_S:
            self._sampled_at = now
            self._temperatures.append([round(event.elapsed_s, 2), as_data(event.temperatures)])
        if now - self._saved_at < self.progress_interval_s and not event.state.final:
            return
        self._saved_at = now
        with self.store.session() as session:
            self._write_progress(session, job_id, program, event.lines_acknowledged, None)

    def _write_progress(
        self, session: Any, job_id: int, program: GcodeProgram, acknowledged: int, sent: int | None
    ) -> None:
        progress = session.get(PrintProgress, job_id)
        progress.lines_total = len(program)
        progress.lines_acknowledged = acknowledged
        progress.lines_sent = max(progress.lines_sent, sent if sent is not None else acknowledged)
        progress.last_acknowledged_line = (
            program.file_lines[acknowledged - 1] if acknowledged else 0
        )
        progress.temperatures_json = json.dumps(self._temperatures)
        progress.updated_at = audit.utc_now()
