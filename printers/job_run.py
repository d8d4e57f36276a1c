"""One program being streamed: its report, how often each line was acknowledged, progress.

The link decides what the printer confirmed; this keeps the count, so that a job is only
reported complete when every line (extruding lines included) was acknowledged exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from printers.interface import StreamProgress, StreamProgressListener, StreamReport, StreamState
from printers.program import GcodeProgram
from printers.replies import Temperatures


class JobRun:
    """The state of one job; every method is called under the link's lock."""

    def __init__(
        self,
        program: GcodeProgram,
        backend: str,
        listener: StreamProgressListener | None,
        progress_interval_s: float,
    ) -> None:
        self.program = program
        self.listener = listener
        self.progress_interval_s = progress_interval_s
        self.report = StreamReport(
            program.name,
            backend,
            lines_total=len(program),
            extrusion_lines_total=program.extrusion_lines,
        )
        self.next_index = 0
        self.ack_counts = bytearray(len(program))
        self.done = threading.Event()
        self.started = time.monotonic()
        self.layer = 0
        self.temperatures: Temperatures | None = None
        self._last_progress = 0.0

    @property
    def final(self) -> bool:
        return self.report.state.final

    @property
    def feeding(self) -> bool:
        """True while program lines remain to be sent and the job is running."""
        return self.report.state is StreamState.RUNNING and self.next_index < len(self.program)

    def take_next(self) -> int:
        """The index of the next program line, now counted as sent."""
        index = self.next_index
        self.next_index += 1
        self.report.lines_sent += 1
        self.report.transmissions += 1
        return index

    def acknowledge(self, index: int) -> str:
        """Count the printer's acknowledgement of line `index`; a reason if it cannot be."""
        self.ack_counts[index] += 1
        if self.ack_counts[index] > 1:
            return f"line {index} acknowledged twice"
        report = self.report
        report.lines_acknowledged += 1
        report.extrusion_lines_acknowledged += self.program.extrudes[index]
        report.last_acknowledged_line = self.program.file_lines[index]
        report.last_acknowledged_command = self.program.commands[index]
        self.layer = self.program.layer_of[index]
        if report.state is StreamState.RUNNING and report.lines_acknowledged == report.lines_total:
            self.finish(StreamState.COMPLETED, "")
        else:
            self.emit()
        return ""

    def finish(self, state: StreamState, reason: str) -> None:
        if state is StreamState.COMPLETED and any(count != 1 for count in self.ack_counts):
            state, reason = StreamState.FAILED, "not every line was acknowledged exactly once"
        self.report.state = state
        self.report.reason = reason
        self.report.ended_at = dt.datetime.now(dt.UTC)
        self.emit(force=True)
        self.done.set()

    def set_running(self, running: bool) -> None:
        """Pause (False) or resume (True) a job that is not final."""
        wanted = StreamState.RUNNING if running else StreamState.PAUSED
        if not self.final and self.report.state is not wanted:
            self.report.state = wanted
            self.emit(force=True)

    def record_temperatures(self, temperatures: Temperatures) -> None:
        self.temperatures = temperatures
        if not self.final:
            elapsed_s = time.monotonic() - self.started
            self.report.temperature_log.append((elapsed_s, temperatures))

    def emit(self, force: bool = False) -> None:
        if self.listener is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < self.progress_interval_s:
            return
        self._last_progress = now
        report = self.report
        elapsed_s = now - self.started
        done = report.lines_acknowledged
        remaining_s = elapsed_s * (report.lines_total - done) / done if done else None
        self.listener(
            StreamProgress(
                report.state,
                done,
                report.lines_total,
                self.layer,
                self.program.layers,
                self.temperatures,
                elapsed_s,
                remaining_s,
            )
        )
