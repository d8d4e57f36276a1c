"""The pharmacy's printers as the job service knows them: the printers in the register (or, while
it holds none, one per printer profile on file, named by the profile), their live status with
their equipment state, and the controls (pause, resume, cancel, stop).

A printer this process drives is a `printers.Printer` handed in by the caller (the app's
workers); one driven by a worker in another process (`printmed worker`) shows its batch and
progress from the store but cannot be paused from here. Every control is an audit entry naming
the user, written before the printer is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gcode.profile import MachineProfile
from printers.interface import Printer, StreamState
from printers.registry import open_printer
from printmed import audit, catalog
from printmed.errors import InputError
from printmed.jobs import register
from printmed.jobs.service import column_value
from printmed.jobs.states import BatchState
from printmed.store import Store
from printmed.store.models import Batch, PrintProgress, User

Control = Literal["pause", "resume", "cancel", "emergency_stop"]
CONTROLS: tuple[Control, ...] = ("pause", "resume", "cancel", "emergency_stop")
PrinterState = Literal["idle", "printing", "paused", "offline", "finishing", "elsewhere"]
STATE_LABELS: dict[PrinterState, str] = {
    "idle": "idle",
    "printing": "printing",
    "paused": "paused",
    "offline": "offline",
    "finishing": "finishing",
    "elsewhere": "driven by another process",
}


# The states in which a batch has left its printer (the page offers the next step for it).
DONE_STATES = (
    BatchState.PRINTED.value,
    BatchState.WEIGHED.value,
    BatchState.RELEASED.value,
    BatchState.REJECTED.value,
    BatchState.FAILED.value,
    BatchState.INTERRUPTED.value,
)


@dataclass(frozen=True)
class Equipment:
    """A registered printer's equipment state: serial, place, status (as it stands today),
    whether it may take a batch and why not, calibration due date, the batch its line is
    cleared for."""

    serial_number: str
    location: str
    profile_id: str
    status: str
    status_label: str
    ready: bool
    reason: str
    calibration_due_on: str | None
    cleared_batch: str | None
    cleared_lot: str | None


@dataclass(frozen=True)
class PrinterStatus:
    """One printer as the pages and the API show it; temperatures in °C, times in s.
    `finished_batch` is the last batch it printed (or tried to) and `finished_state` that
    batch's state now: the page offers the next step for it. `equipment`: None for a printer
    that is not in the register (a store whose register holds none)."""

    name: str
    profile_name: str
    process: str
    backend: str
    firmware: str
    controllable: bool
    state: PrinterState
    state_label: str
    batch_number: str | None
    percent: float | None
    lines_acknowledged: int
    lines_total: int
    remaining_s: float | None
    nozzle_c: float | None
    bed_c: float | None
    finished_batch: str | None = None
    finished_state: str | None = None
    equipment: Equipment | None = None


def printer_names(store: Store | None = None) -> list[str]:
    """Every printer: those in the register, once it holds any; before that one per profile on
    file, named by the profile id."""
    if store is not None:
        with store.read_session() as session:
            registered = register.all_printers(session)
        if registered:
            return [printer.name for printer in registered]
    return list(catalog.printer_profiles())


def printer_profile(name: str, store: Store | None = None) -> MachineProfile:
    """The profile of printer `name` (a registered printer's, or the profile of that id);
    refused if it is not one of this pharmacy's printers."""
    profiles = catalog.printer_profiles()
    if store is not None:
        with store.read_session() as session:
            registered = register.find(session, name)
            if registered is not None:
                return profiles[registered.profile_id]
            if register.in_force(session):
                raise InputError("printer", name, "is not one of this pharmacy's printers")
    if name not in profiles:
        raise InputError("printer", name, "is not one of this pharmacy's printers")
    return profiles[name]


def equipment_of(session: Session, name: str) -> Equipment | None:
    printer = register.find(session, name)
    if printer is None:
        return None
    readiness = register.readiness(printer)
    status = register.effective_status(printer)
    return Equipment(
        serial_number=printer.serial_number,
        location=printer.location,
        profile_id=printer.profile_id,
        status=status,
        status_label=register.STATUS_LABELS[status],
        ready=readiness.ready,
        reason=readiness.reason,
        calibration_due_on=printer.calibration_due_on,
        cleared_batch=printer.cleared_batch,
        cleared_lot=printer.cleared_lot,
    )


def finished_batch(session: Session, name: str) -> Batch | None:
    """The last batch printer `name` printed or tried to, whatever has become of it since."""
    return session.scalar(
        select(Batch)
        .where(Batch.printer == name, Batch.state.in_(DONE_STATES))
        .order_by(Batch.id.desc())
        .limit(1)
    )


def simulated_printer(profile_id: str, **options: object) -> Printer:
    """The built-in simulated printer standing in for a printer of profile `profile_id`: its
    M115 reports that profile's machine type, so the worker's identity check accepts it for
    that profile's batches and no other."""
    identity = catalog.printer_identity(profile_id)
    return open_printer("sim", machine_type=identity.machine_type, **options)


def printing_batch(session: Session, name: str) -> Batch | None:
    """The batch printer `name` is printing now, if any."""
    return session.scalar(
        select(Batch).where(Batch.printer == name, Batch.state == BatchState.PRINTING.value)
    )


def status(store: Store, printers: Mapping[str, Printer], name: str) -> PrinterStatus:
    """What printer `name` is doing: from the store, and live when this process drives it."""
    profile = printer_profile(name, store)
    printer = printers.get(name)
    with store.read_session() as session:
        equipment = equipment_of(session, name)
        finished = finished_batch(session, name)
        finished_number = finished.batch_number if finished is not None else None
        finished_state = finished.state if finished is not None else None
        batch = printing_batch(session, name)
        progress = session.get(PrintProgress, batch.id) if batch is not None else None
        batch_number = batch.batch_number if batch is not None else None
        parameters = column_value(batch, "parameters_json") if batch is not None else None
        estimate = (parameters or {}).get("estimated_print_time_s")
        acknowledged = total = 0
        if progress is not None:
            acknowledged, total = progress.lines_acknowledged, progress.lines_total
    connected, stream_state, temperatures, firmware, time_scale = False, None, None, "", 1.0
    if printer is not None:
        now = printer.status()
        connected, stream_state, temperatures = now.connected, now.job_state, now.temperatures
        firmware = now.firmware.name if now.firmware is not None else ""
        time_scale = now.time_scale or 1.0
    state = _state_of(printer is not None, connected, stream_state, batch_number)
    percent = 100.0 * acknowledged / total if total else None
    remaining = None
    if estimate is not None and percent is not None:
        # the G-code's own time; a simulated printer runs `time_scale` times faster than that
        remaining = float(estimate) * (1 - percent / 100.0) / time_scale
    return PrinterStatus(
        name=name,
        profile_name=profile.name,
        process=profile.process,
        backend=printer.backend_name if printer is not None else "",
        firmware=firmware,
        controllable=printer is not None,
        state=state,
        state_label=STATE_LABELS[state],
        batch_number=batch_number,
        percent=percent,
        lines_acknowledged=acknowledged,
        lines_total=total,
        remaining_s=remaining,
        nozzle_c=temperatures.nozzle_c if temperatures is not None else None,
        bed_c=temperatures.bed_c if temperatures is not None else None,
        finished_batch=finished_number,
        finished_state=finished_state,
        equipment=equipment,
    )


def control(
    store: Store, printers: Mapping[str, Printer], name: str, action: str, user: User, via: str
) -> str | None:
    """Pause, resume, cancel or emergency-stop printer `name` for `user`, recorded first.

    via: where the user pressed it ("the printers page", "the API"), for the trail.
    Returns the batch it acted on (None when the printer had no batch).
    """
    if action not in CONTROLS:
        raise InputError("action", action, f"is not one of {', '.join(CONTROLS)}")
    printer_profile(name, store)
    printer = printers.get(name)
    if printer is None:
        raise InputError("printer", name, "is driven by a worker in another process; stop it there")
    with store.session() as session:
        batch = printing_batch(session, name)
        batch_number = batch.batch_number if batch is not None else None
        audit.append(
            session,
            actor=user.username,
            action=f"printer.{action}",
            entity="printer",
            entity_id=name,
            batch_number=batch_number,
            new={"printer": name, "action": action},
            reason=f"{action.replace('_', ' ')} from {via} by {user.full_name}",
        )
    getattr(printer, action)()
    return batch_number


def _state_of(
    driven_here: bool, connected: bool, stream_state: StreamState | None, batch: str | None
) -> PrinterState:
    if not driven_here:
        return "elsewhere"
    if not connected:
        return "offline"
    if stream_state is StreamState.PAUSED:
        return "paused"
    if stream_state is StreamState.RUNNING:
        return "printing"
    return "finishing" if batch is not None else "idle"
