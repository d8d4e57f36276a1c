"""The one interface every printer backend offers, and what it reports back.

A backend module subclasses `Printer` and registers itself (see `printers.registry`).
"""

from __future__ import annotations

import datetime as dt
import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from printers.firmware import FirmwareInfo
from printers.program import GcodeProgram
from printers.replies import Temperatures


class StreamState(enum.Enum):
    """Where a streamed job stands; the last four are final."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # printer reset, port vanished, printer stopped answering
    FAILED = "failed"  # firmware halted (thermal runaway, kill) or emergency stop

    @property
    def final(self) -> bool:
        return self not in (StreamState.RUNNING, StreamState.PAUSED)


@dataclass(frozen=True)
class StreamProgress:
    """One progress event: lines acknowledged of the total, layer, heaters, time left (s)."""

    state: StreamState
    lines_acknowledged: int
    lines_total: int
    layer: int
    layers: int
    temperatures: Temperatures | None
    elapsed_s: float
    remaining_s: float | None

    @property
    def percent(self) -> float:
        return 100.0 * self.lines_acknowledged / self.lines_total if self.lines_total else 100.0


StreamProgressListener = Callable[[StreamProgress], None]


@dataclass
class StreamReport:
    """What happened to one job, line by line as far as the printer confirmed it.

    Acknowledged means the printer's `ok` for the line: accepted, checksum and number right,
    into its command queue (Marlin's `ok N` names the last line received); end a program with
    M400 to have its last moves finished before the job ends. `last_acknowledged_line` is
    the 1-based line of the G-code file the printer last acknowledged (0 when none);
    `temperature_log` holds (seconds since start, readings).
    """

    job_name: str
    backend: str
    state: StreamState = StreamState.RUNNING
    reason: str = ""
    lines_total: int = 0
    lines_sent: int = 0
    lines_acknowledged: int = 0
    extrusion_lines_total: int = 0
    extrusion_lines_acknowledged: int = 0
    transmissions: int = 0
    resends: int = 0
    timeouts: int = 0
    last_acknowledged_line: int = 0
    last_acknowledged_command: str = ""
    temperature_log: list[tuple[float, Temperatures]] = field(default_factory=list)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended_at: dt.datetime | None = None

    @property
    def complete(self) -> bool:
        """True only if the job ended normally and every line was acknowledged exactly once."""
        return (
            self.state is StreamState.COMPLETED
            and self.lines_acknowledged == self.lines_total
            and self.extrusion_lines_acknowledged == self.extrusion_lines_total
        )

    def summary(self) -> str:
        text = (
            f"{self.job_name}: {self.state.value}; {self.lines_acknowledged}/{self.lines_total}"
            f" lines acknowledged ({self.extrusion_lines_acknowledged}/"
            f"{self.extrusion_lines_total} extruding), {self.resends} resends,"
            f" {self.timeouts} timeouts; last acknowledged file line"
            f" {self.last_acknowledged_line}"
        )
        return text + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class PrinterStatus:
    """A snapshot: connected or not, the job's state if any, and the latest heater readings.

    time_scale: how many times faster than the G-code's own time the printer runs (1 for real
    hardware; a simulated printer's speed factor), for estimating the time left.
    """

    connected: bool
    job_state: StreamState | None
    temperatures: Temperatures | None
    firmware: FirmwareInfo | None
    time_scale: float = 1.0


class Printer(ABC):
    """Connect, stream a program with progress events, and control it while it prints."""

    backend_name: str = ""

    @abstractmethod
    def connect(self) -> FirmwareInfo:
        """Open the link and learn the firmware's identity and capabilities (M115)."""

    @abstractmethod
    def identify(self) -> FirmwareInfo:
        """Ask the connected printer again who it is (M115; OctoPrint: its connection's printer
        profile and firmware), between jobs: a printer swapped on the same port answers as
        itself. PrinterBusy while a job runs."""

    @abstractmethod
    def start(
        self, program: GcodeProgram, on_progress: StreamProgressListener | None = None
    ) -> None:
        """Begin streaming `program` in the background; raises PrinterBusy if a job runs."""

    @abstractmethod
    def wait(self, timeout_s: float | None = None) -> StreamReport | None:
        """The report once the job is final, or None if `timeout_s` passed first."""

    def stream(
        self, program: GcodeProgram, on_progress: StreamProgressListener | None = None
    ) -> StreamReport:
        """Stream `program` to its end (completed, cancelled, interrupted or failed)."""
        self.start(program, on_progress)
        report = self.wait()
        assert report is not None  # wait() without a timeout returns only when final
        return report

    @abstractmethod
    def pause(self) -> None:
        """Stop feeding the program; lines already sent finish."""

    @abstractmethod
    def resume(self) -> None:
        """Continue a paused program where it stopped."""

    @abstractmethod
    def cancel(self) -> None:
        """End the job: nothing more of the program is sent; heaters are switched off."""

    @abstractmethod
    def emergency_stop(self) -> None:
        """M112 at once, ahead of anything queued; the job ends as failed."""

    @abstractmethod
    def temperatures(self) -> Temperatures | None:
        """The latest heater readings (°C), or None before the first report."""

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Connected or not, job state, readings and firmware."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the link; a running job ends as interrupted."""
