"""The pharmacy's printers as the pages see them: which are configured (name, profile, backend),
a worker thread per printer that prints its queue, live status, and the controls at the bench.

PRINTMED_PRINTERS holds a JSON list `[{"name": "sim-fdm-1", "profile": "fdm-pharma-04",
"backend": "sim", "options": {"speed_factor": 20}}]`; without it, one simulated printer per
bundled profile. Every pause, resume, cancel and emergency stop is an audit entry naming the user.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from printers.interface import JobState as StreamState
from printers.interface import Printer
from printers.registry import open_printer
from printmed import audit, catalog
from printmed.errors import InputError
from printmed.jobs.states import JobState
from printmed.jobs.worker import PrinterWorker
from printmed.store import Store
from printmed.store.models import Job, PrintProgress, User

log = logging.getLogger("printmed.web.fleet")
DEFAULT_SIM_SPEED = 20.0
RETRY_AFTER_FAULT_S = 2.0
CONTROLS = ("pause", "resume", "cancel", "emergency_stop")


@dataclass(frozen=True)
class PrinterConfig:
    """One printer: its name (jobs are queued by it), profile id, backend and backend options."""

    name: str
    profile_id: str
    backend: str = "sim"
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def speed_factor(self) -> float:
        """How much faster than the G-code's own times the printer runs (simulated only)."""
        if self.backend != "sim":
            return 1.0
        return float(self.options.get("speed_factor", DEFAULT_SIM_SPEED))


def configured_printers(environ: Mapping[str, str] | None = None) -> list[PrinterConfig]:
    """PRINTMED_PRINTERS, or one simulated printer per bundled profile (`sim-<process>-<n>`)."""
    env = os.environ if environ is None else environ
    text = env.get("PRINTMED_PRINTERS", "").strip()
    profiles = catalog.printer_profiles()
    if not text:
        counts: dict[str, int] = {}
        configs = []
        for profile_id, profile in profiles.items():
            process = str(profile["process"])
            counts[process] = counts.get(process, 0) + 1
            name = f"sim-{process}-{counts[process]}"
            options = {"speed_factor": DEFAULT_SIM_SPEED, "baud": None}
            configs.append(PrinterConfig(name, profile_id, "sim", options))
        return configs
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("PRINTMED_PRINTERS", text[:80], f"is not JSON ({exc.msg})") from None
    if not isinstance(entries, list) or not entries:
        raise InputError("PRINTMED_PRINTERS", text[:80], "is not a list of printers")
    configs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("profile"):
            raise InputError(f"PRINTMED_PRINTERS[{index}]", entry, "needs a name and a profile")
        if entry["profile"] not in profiles:
            raise InputError(
                f"PRINTMED_PRINTERS[{index}].profile", entry["profile"], "is not a bundled profile"
            )
        configs.append(
            PrinterConfig(
                str(entry["name"]),
                str(entry["profile"]),
                str(entry.get("backend", "sim")),
                dict(entry.get("options") or {}),
            )
        )
    if len({c.name for c in configs}) != len(configs):
        raise InputError("PRINTMED_PRINTERS", text[:80], "names a printer twice")
    return configs


class PrinterThread:
    """The worker of one printer on its own thread; a fault is logged and the link reopened."""

    def __init__(self, store: Store, config: PrinterConfig, instance: str) -> None:
        self.config = config
        self.printer: Printer = open_printer(config.backend, **dict(config.options))
        self.worker = PrinterWorker(
            store, config.name, self.printer, f"{instance}:{config.name}", poll_s=0.5
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"printer-{config.name}", daemon=True)

    def _run(self) -> None:
        for batch in self.worker.recover():
            log.warning(
                "%s: %s was printing when the service stopped; now interrupted",
                self.config.name,
                batch,
            )
        while not self.stop.is_set():
            try:
                batch = self.worker.run_once()
            except Exception:
                log.exception("printer %s: fault; reconnecting", self.config.name)
                self.worker.firmware = None
                self.stop.wait(RETRY_AFTER_FAULT_S)
                continue
            if batch is None:
                self.stop.wait(self.worker.poll_s)
            elif self.printer.status().connected is False:
                # an emergency stop leaves the board halted: reconnect before the next job
                self.worker.firmware = None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.printer.disconnect()


class Fleet:
    """Every configured printer and its worker thread (started by `start`, ended by `close`)."""

    def __init__(self, store: Store, configs: list[PrinterConfig], instance: str) -> None:
        self.store = store
        self.configs = {c.name: c for c in configs}
        self.threads = {c.name: PrinterThread(store, c, instance) for c in configs}

    def start(self) -> None:
        for thread in self.threads.values():
            thread.thread.start()

    def close(self) -> None:
        for thread in self.threads.values():
            thread.close()

    def config(self, name: str) -> PrinterConfig:
        if name not in self.configs:
            raise InputError("printer", name, "is not one of this pharmacy's printers")
        return self.configs[name]

    def status(self, name: str) -> dict[str, Any]:
        """What the printers page shows of one printer (JSON-ready)."""
        config = self.config(name)
        profile = catalog.printer_profile_data(config.profile_id)
        status = self.threads[name].printer.status()
        temperatures = status.temperatures
        with self.store.session() as session:
            job = session.scalar(
                select(Job).where(Job.printer == name, Job.state == JobState.PRINTING.value)
            )
            progress = session.get(PrintProgress, job.id) if job is not None else None
            batch = job.batch_number if job is not None else None
            estimate = (
                json.loads(job.parameters_json or "{}").get("estimated_print_time_s")
                if job is not None
                else None
            )
        state = _state_of(status.connected, status.job_state, batch)
        percent = None
        acknowledged = total = 0
        if progress is not None and progress.lines_total:
            acknowledged, total = progress.lines_acknowledged, progress.lines_total
            percent = 100.0 * acknowledged / total
        remaining = None
        if estimate is not None and percent is not None:
            remaining = float(estimate) * (1 - percent / 100.0) / config.speed_factor
        return {
            "name": name,
            "profile_id": config.profile_id,
            "profile_name": profile.get("name", config.profile_id),
            "backend": config.backend,
            "firmware": status.firmware.name if status.firmware is not None else "",
            "state": state,
            "state_label": STATE_LABELS[state],
            "batch_number": batch,
            "percent": percent,
            "lines_acknowledged": acknowledged,
            "lines_total": total,
            "remaining_s": remaining,
            "nozzle_c": temperatures.nozzle_c if temperatures is not None else None,
            "bed_c": temperatures.bed_c if temperatures is not None else None,
        }

    def control(self, name: str, action: str, user: User) -> str | None:
        """Pause, resume, cancel or emergency-stop printer `name` for `user`, recorded first.

        Returns the batch it acted on (None when the printer had no job).
        """
        if action not in CONTROLS:
            raise InputError("action", action, f"is not one of {', '.join(CONTROLS)}")
        self.config(name)
        printer = self.threads[name].printer
        with self.store.session() as session:
            job = session.scalar(
                select(Job).where(Job.printer == name, Job.state == JobState.PRINTING.value)
            )
            batch = job.batch_number if job is not None else None
            audit.append(
                session,
                actor=user.username,
                action=f"printer.{action}",
                entity="printer",
                entity_id=name,
                batch_number=batch,
                new={"printer": name, "action": action},
                reason=f"{action.replace('_', ' ')} at the printers page by {user.full_name}",
            )
        getattr(printer, action)()
        return batch


STATE_LABELS = {
    "idle": "idle",
    "printing": "printing",
    "paused": "paused",
    "offline": "offline",
    "finishing": "finishing",
}


def _state_of(connected: bool, job_state: StreamState | None, batch: str | None) -> str:
    if not connected:
        return "offline"
    if job_state is StreamState.PAUSED:
        return "paused"
    if job_state is StreamState.RUNNING:
        return "printing"
    return "finishing" if batch is not None else "idle"
