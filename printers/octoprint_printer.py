"""The OctoPrint backend ("octoprint"): a printer behind an OctoPrint server, by octorest.

Upload, then select, then start, as three calls: octorest 0.4's upload(select=True,
print=True) sends its form fields as JSON beside the file, so OctoPrint ignores them.
Progress is polled from /api/job; OctoPrint streams and acknowledges the lines itself.
Its identity is OctoPrint's: the model of the printer profile it is connected with, and the
firmware name OctoPrint read from the printer's M115 (/api/system/info).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import threading
import time
from typing import Any

import requests
from octorest import OctoRest

from printers.errors import OctoPrintRefused, PrinterBusy, PrinterNotConnected, PrinterTimeout
from printers.firmware import FirmwareInfo
from printers.interface import (
    Printer,
    PrinterStatus,
    StreamProgress,
    StreamProgressListener,
    StreamReport,
    StreamState,
)
from printers.program import GcodeProgram
from printers.registry import register
from printers.replies import Temperatures


@register("octoprint")
class OctoPrintPrinter(Printer):
    """A printer behind OctoPrint at `url` with `api_key`; `serial_port`, `baud` and
    `printer_profile` (an OctoPrint profile id) for the connection it makes when offline."""

    def __init__(
        self,
        url: str,
        api_key: str,
        serial_port: str | None = None,
        baud: int | None = None,
        poll_interval_s: float = 0.5,
        connect_timeout_s: float = 30.0,
        printer_profile: str | None = None,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.serial_port = serial_port
        self.baud = baud
        self.poll_interval_s = poll_interval_s
        self.connect_timeout_s = connect_timeout_s
        self.printer_profile = printer_profile
        self._client: OctoRest | None = None
        self._firmware: FirmwareInfo | None = None
        self._report: StreamReport | None = None
        self._done = threading.Event()
        self._temperatures: Temperatures | None = None
        self._cancel_requested = False
        self._watcher: threading.Thread | None = None
        self._closing = False

    # ----------------------------------------------------------------- connection

    def connect(self) -> FirmwareInfo:
        try:
            client = OctoRest(url=self.url, apikey=self.api_key)
        except TypeError as exc:
            raise OctoPrintRefused("url", self.url, f"is not an http(s) URL ({exc})") from None
        except requests.RequestException:
            raise OctoPrintRefused("url", self.url, "cannot be reached") from None
        except RuntimeError:
            raise OctoPrintRefused("api_key", "…" + self.api_key[-4:], "was refused") from None
        self._client = client
        if self._call(client.state).startswith(("Offline", "Closed", "Error")):
            self._call(
                lambda: client.connect(
                    port=self.serial_port, baudrate=self.baud, printer_profile=self.printer_profile
                )
            )
        until = time.monotonic() + self.connect_timeout_s
        while not self._call(client.state).startswith("Operational"):
            if time.monotonic() > until:
                state = self._call(client.state)
                raise PrinterTimeout(
                    "url",
                    self.url,
                    f"printer not operational after {self.connect_timeout_s:g} s (state {state!r})",
                )
            time.sleep(0.2)
        return self._identity(client, until)

    def identify(self) -> FirmwareInfo:
        """Who OctoPrint says its printer is now: the printer profile of its current connection
        (which may have been reconnected, or given another printer, since `connect`) and the
        firmware name it read from that printer's M115."""
        client = self.client
        if self._report is not None and not self._report.state.final:
            raise PrinterBusy("job", self._report.job_name, "is running: ask between jobs")
        state = self._call(client.state)
        if not state.startswith("Operational"):
            raise PrinterNotConnected("url", self.url, f"printer is not operational ({state!r})")
        return self._identity(client, time.monotonic())

    def _identity(self, client: OctoRest, until: float) -> FirmwareInfo:
        version: dict[str, Any] = getattr(client, "version", {}) or {}
        current = self._call(client.connection_info)["current"]
        port, profile_id = current.get("port"), str(current.get("printerProfile") or "")
        profile = self._call(lambda: client.printer_profile(profile_id or None))
        self._firmware = FirmwareInfo(
            f"OctoPrint {version.get('server', '?')} on {port}",
            {
                "SERVER": str(version.get("server", "")),
                "PORT": str(port),
                "PRINTER_PROFILE": profile_id,
                "MACHINE_TYPE": str(profile.get("model") or ""),
                "FIRMWARE_NAME": self._firmware_name(client, until),
            },
        )
        return self._firmware

    def _firmware_name(self, client: OctoRest, until: float) -> str:
        """The firmware name OctoPrint read from M115 ("" if it has none by `until`, or this
        key may not read the system information)."""
        while True:
            try:
                info = client._get("/api/system/info").get("systeminfo", {})
            except (RuntimeError, requests.RequestException):
                return ""
            name = str(info.get("printer.firmware") or "")
            if name or time.monotonic() > until:
                return name
            time.sleep(0.2)

    @property
    def client(self) -> OctoRest:
        if self._client is None:
            raise PrinterNotConnected("url", self.url, "connect() first")
        return self._client

    def _call(self, request: Any) -> Any:
        try:
            return request()
        except requests.RequestException as exc:
            raise OctoPrintRefused("url", self.url, f"cannot be reached ({exc})") from None
        except RuntimeError as exc:
            raise OctoPrintRefused("url", self.url, f"refused the request ({exc})") from None

    # ----------------------------------------------------------------- job

    def start(
        self, program: GcodeProgram, on_progress: StreamProgressListener | None = None
    ) -> None:
        client = self.client
        if self._report and not self._report.state.final:
            raise PrinterBusy("job", self._report.job_name, "is still running")
        name = program.name if program.name.endswith(".gcode") else f"{program.name}.gcode"
        text = "\n".join(program.commands) + "\n"
        self._call(lambda: client.upload((name, io.BytesIO(text.encode("ascii", "replace")))))
        self._call(lambda: client.select(name))
        self._report = StreamReport(
            name,
            self.backend_name,
            lines_total=len(program),
            extrusion_lines_total=program.extrusion_lines,
        )
        self._done.clear()
        self._cancel_requested = False
        self._call(client.start)
        self._watcher = threading.Thread(
            target=self._watch, args=(program, self._report, on_progress), daemon=True
        )
        self._watcher.start()

    def _watch(
        self, program: GcodeProgram, report: StreamReport, listener: StreamProgressListener | None
    ) -> None:
        started = time.monotonic()
        seen_printing = False
        while not self._closing:
            try:
                job = self.client.job_info()
                self._poll_temperatures(report, started)
            except (requests.RequestException, RuntimeError) as exc:
                self._end(report, StreamState.INTERRUPTED, f"OctoPrint unreachable ({exc})")
                return
            state = str(job.get("state", ""))
            progress = job.get("progress") or {}
            completion = float(progress.get("completion") or 0.0)
            # OctoPrint is "Starting" from the moment the start request returns, so a job that
            # is back to "Operational" after any of these has ended. A cancel that lands while it
            # is still starting takes it straight back to "Operational" (possibly between two
            # polls), so an asked-for cancel counts as the job having begun.
            begun = state.startswith(
                ("Starting", "Printing", "Pausing", "Paused", "Resuming", "Cancelling", "Finishing")
            )
            seen_printing = seen_printing or begun or completion > 0 or self._cancel_requested
            report.state = StreamState.PAUSED if state.startswith("Paused") else StreamState.RUNNING
            if state.startswith(("Error", "Offline")):
                self._end(report, StreamState.INTERRUPTED, f"OctoPrint reports {state!r}")
                return
            if seen_printing and state.startswith("Operational"):
                if self._cancel_requested or completion < 100.0:
                    self._end(report, StreamState.CANCELLED, "cancelled")
                else:
                    # OctoPrint has had an ok for every line before it calls the job done
                    report.lines_sent = report.lines_acknowledged = report.lines_total
                    report.extrusion_lines_acknowledged = report.extrusion_lines_total
                    report.last_acknowledged_line = program.file_lines[-1]
                    self._end(report, StreamState.COMPLETED, "")
                return
            if listener:
                elapsed_s = time.monotonic() - started
                left = progress.get("printTimeLeft")
                listener(
                    StreamProgress(
                        report.state,
                        int(len(program) * completion / 100.0),
                        len(program),
                        0,
                        program.layers,
                        self._temperatures,
                        elapsed_s,
                        float(left) if left is not None else None,
                    )
                )
            time.sleep(self.poll_interval_s)

    def _poll_temperatures(self, report: StreamReport, started: float) -> None:
        with contextlib.suppress(RuntimeError, requests.RequestException):
            data = self.client.printer(exclude=["sd", "state"]).get("temperature", {})
            heaters = {"tool0": "T0", "bed": "B"}  # OctoPrint's names → Marlin's
            readings = tuple(
                (heaters[name], float(v.get("actual") or 0.0), float(v.get("target") or 0.0))
                for name, v in sorted(data.items(), key=lambda kv: kv[0] != "tool0")
                if name in heaters and isinstance(v, dict)
            )
            if readings:
                self._temperatures = Temperatures(readings)
                report.temperature_log.append((time.monotonic() - started, self._temperatures))

    def _end(self, report: StreamReport, state: StreamState, reason: str) -> None:
        report.state = state
        report.reason = reason
        report.ended_at = dt.datetime.now(dt.UTC)
        self._done.set()

    def wait(self, timeout_s: float | None = None) -> StreamReport | None:
        if self._report is None:
            raise PrinterNotConnected("job", None, "none was started")
        return self._report if self._done.wait(timeout_s) else None

    def pause(self) -> None:
        self._call(self.client.pause)

    def resume(self) -> None:
        self._call(self.client.resume)

    def cancel(self) -> None:
        self._cancel_requested = True
        self._call(self.client.cancel)

    def emergency_stop(self) -> None:
        self._cancel_requested = True
        self._call(lambda: self.client.gcode("M112"))

    def temperatures(self) -> Temperatures | None:
        return self._temperatures

    def status(self) -> PrinterStatus:
        state = self._report.state if self._report else None
        return PrinterStatus(self._client is not None, state, self._temperatures, self._firmware)

    def disconnect(self) -> None:
        self._closing = True
        if self._watcher:
            self._watcher.join(timeout=5)
        if self._report and not self._report.state.final:
            self._end(self._report, StreamState.INTERRUPTED, "disconnected by the host")
        self._client = None
