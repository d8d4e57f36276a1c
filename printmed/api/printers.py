"""/api/v1/printers: the printers (the register's, or while it holds none one per machine
profile) with their queue, the batch printing now and, for a printer this process drives, its
live state and the controls the printers page has (pause, resume, cancel, emergency stop; each
recorded before it is sent). The register itself: register a printer, its status, details,
calibrations, and the line clearance before each batch (every change an audit entry).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gcode.profile import MachineProfile
from printmed.api.batches import progress_of
from printmed.api.dependencies import OwnSiteBatch, ReadSessionDep, SessionDep
from printmed.api.problems import NotFound
from printmed.api.record_views import PrintProgressView
from printmed.api.wire import Responses
from printmed.auth import printers_of, require_action, store_of
from printmed.auth.rules import Action
from printmed.jobs import printers, register
from printmed.jobs.states import BatchState
from printmed.records import sites
from printmed.store.models import Batch, PrinterCalibration, RegisteredPrinter, User

router = APIRouter(prefix="/api/v1/printers", tags=["printers"], dependencies=[OwnSiteBatch])
# No rule names seeing the printers; reading batch records (any staff member) is the nearest.
Viewer = Annotated[User, Depends(require_action(Action.READ_RECORD))]
Controller = Annotated[User, Depends(require_action(Action.CONTROL_PRINTER))]
Manager = Annotated[User, Depends(require_action(Action.MANAGE_PRINTERS))]
LineClearer = Annotated[User, Depends(require_action(Action.CLEAR_LINE))]


class PrinterView(BaseModel):
    """A printer: its profile, how many batches wait, what it prints now (with progress), and
    the live state the pages show (temperatures, controllable)."""

    id: str
    name: str
    process: str
    nozzle_mm: float
    layer_height_mm: float
    build_volume_mm: list[float]
    queued: int
    printing: str | None
    progress: PrintProgressView | None
    live: printers.PrinterStatus


class ControlDone(BaseModel):
    printer: str
    action: str
    batch_number: str | None = Field(description="the batch it acted on, if one was printing")


def status_of(request: Request, printer_id: str) -> PrinterView:
    store = store_of(request)
    profile = printers.printer_profile(printer_id, store)
    # The live status opens its own transaction: taken first, never inside ours (SQLite).
    live = printers.status(store, printers_of(request), printer_id)
    with store.read_session() as session:
        return _recorded_status(session, printer_id, profile, live)


def _recorded_status(
    session: Session, printer_id: str, profile: MachineProfile, live: printers.PrinterStatus
) -> PrinterView:
    # a registered printer's queue: batches queued for it, or for its profile
    queued_for = {printer_id, live.equipment.profile_id} if live.equipment else {printer_id}
    queued = session.scalar(
        select(func.count())
        .select_from(Batch)
        .where(Batch.printer.in_(queued_for), Batch.state == BatchState.QUEUED.value)
    )
    printing = session.scalar(
        select(Batch).where(Batch.printer == printer_id, Batch.state == BatchState.PRINTING.value)
    )
    return PrinterView(
        id=printer_id,
        name=profile.name,
        process=profile.process,
        nozzle_mm=profile.nozzle_mm,
        layer_height_mm=profile.layer_height_mm,
        build_volume_mm=list(profile.build_volume_mm),
        queued=int(queued or 0),
        printing=printing.batch_number if printing else None,
        progress=progress_of(session, printing.id) if printing else None,
        live=live,
    )


@router.get("", response_model=list[PrinterView], summary="Printers with queue and progress")
def list_printers(request: Request, user: Viewer) -> list[PrinterView]:
    """Any staff member: their own site's printers (every site's with the control-site role)."""
    store = store_of(request)
    with store.read_session() as session:
        scope = sites.site_scope(user)
        names = [
            n for n in printers.printer_names(store) if sites.printer_visible(session, n, scope)
        ]
    return [status_of(request, name) for name in names]


@router.get(
    "/{printer_id}",
    response_model=PrinterView,
    responses={404: {"description": "no such printer"}},
    summary="One printer's status",
)
def get_printer(request: Request, printer_id: str, user: Viewer) -> PrinterView:
    """Any staff member."""
    if printer_id not in printers.printer_names(store_of(request)):
        raise UnknownPrinter(printer_id)
    return status_of(request, printer_id)


# --- the register ---------------------------------------------------------------------------


class ConnectionIn(BaseModel):
    """How the printer is reached; `api_key` is sealed in the store and never returned."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sim", "usb", "octoprint"]
    port: str | None = Field(None, max_length=255, description="USB serial port (usb)")
    baud: int | None = Field(None, description="serial speed (usb)")
    url: str | None = Field(None, max_length=255, description="OctoPrint URL (octoprint)")
    api_key: str | None = Field(
        None, max_length=255, description="OctoPrint key (octoprint): write-only"
    )

    def connection(self) -> register.Connection:
        return register.Connection(self.kind, self.port, self.baud, self.url, self.api_key)


class ConnectionView(BaseModel):
    kind: str
    port: str | None = None
    baud: int | None = None
    url: str | None = None
    api_key: str | None = Field(None, description="never the key: '(sealed; not shown)'")


class NewPrinter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    profile_id: str = Field(min_length=1, max_length=64)
    serial_number: str = Field(min_length=1, max_length=64)
    location: str = Field(min_length=1, max_length=200)
    connection: ConnectionIn
    reason: str = Field("registered", min_length=1, max_length=2000)
    site: str | None = Field(
        None, max_length=64, description="the site's code (default: yours; another: admins)"
    )


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["in_service", "out_of_service", "calibration_due"]
    reason: str = Field(min_length=1, max_length=2000)


class DetailsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: str | None = Field(None, min_length=1, max_length=200)
    connection: ConnectionIn | None = None
    reason: str = Field(min_length=1, max_length=2000)


class NewCalibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    e_steps_mm: float = Field(description="mm extruded when 100 mm were asked for")
    bed_level_mm: float = Field(description="largest deviation of the bed, mm")
    nozzle_temperature_c: float = Field(description="probe reading minus set point, °C")
    notes: str = Field("", max_length=2000)


class LineClearance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_number: str = Field(min_length=1, max_length=32)
    lot_number: str = Field(min_length=1, max_length=64, description="scanned or typed")
    plate_clear: bool = Field(description="the technician confirms the plate is clear")


class CheckView(BaseModel):
    check: str
    label: str
    measured: float
    unit: str
    expected: float
    tolerance: float
    passed: bool


class CalibrationView(BaseModel):
    result: Literal["pass", "fail"]
    performed_by: str
    performed_at: str
    next_due_on: str | None
    checks: list[CheckView]
    notes: str

    @classmethod
    def of(cls, calibration: PrinterCalibration) -> CalibrationView:
        return cls(
            result=calibration.result,  # type: ignore[arg-type]
            performed_by=calibration.performed_by,
            performed_at=calibration.performed_at,
            next_due_on=calibration.next_due_on,
            checks=[CheckView(**check) for check in json.loads(calibration.checks_json)],
            notes=calibration.notes,
        )


class RegisteredPrinterView(BaseModel):
    """A printer in the register: never its API key."""

    name: str
    profile_id: str
    serial_number: str
    location: str
    connection: ConnectionView
    status: str = Field(description="in_service, out_of_service or calibration_due, as set")
    status_reason: str
    status_now: str = Field(description="the status today: calibration_due once it has come due")
    ready: bool = Field(description="whether it may take a batch now")
    ready_reason: str
    calibration_due_on: str | None
    cleared_batch: str | None = Field(description="the batch its line is cleared for")
    calibrations: list[CalibrationView] = Field(description="latest first")

    @classmethod
    def of(cls, session: Session, printer: RegisteredPrinter) -> RegisteredPrinterView:
        readiness = register.readiness(printer)
        return cls(
            name=printer.name,
            profile_id=printer.profile_id,
            serial_number=printer.serial_number,
            location=printer.location,
            connection=ConnectionView(**register.shown_connection(printer)),
            status=printer.status,
            status_reason=printer.status_reason,
            status_now=register.effective_status(printer),
            ready=readiness.ready,
            ready_reason=readiness.reason,
            calibration_due_on=printer.calibration_due_on,
            cleared_batch=printer.cleared_batch,
            calibrations=[CalibrationView.of(c) for c in register.calibrations(session, printer)],
        )


REGISTER_ERRORS: Responses = {
    403: {"description": "the caller's role may not"},
    404: {"description": "no such printer"},
    422: {"description": "a field was refused (named, with its value); nothing changed"},
}


def _registered(session: Session, name: str) -> RegisteredPrinter:
    printer = register.find(session, name)
    if printer is None:
        raise UnknownPrinter(name)
    return printer


@router.post(
    "",
    response_model=RegisteredPrinterView,
    status_code=201,
    responses=REGISTER_ERRORS,
    summary="Register a printer",
)
def add_printer(body: NewPrinter, session: SessionDep, user: Manager) -> RegisteredPrinterView:
    """Pharmacists and admins. It takes no batch until a calibration passes."""
    printer = register.add_printer(
        session,
        user,
        name=body.name,
        profile_id=body.profile_id,
        serial_number=body.serial_number,
        location=body.location,
        connection=body.connection.connection(),
        reason=body.reason,
        site_id=sites.site_for_printer(session, user, body.site),
    )
    return RegisteredPrinterView.of(session, printer)


@router.get(
    "/{printer_id}/equipment",
    response_model=RegisteredPrinterView,
    responses=REGISTER_ERRORS,
    summary="A registered printer: serial, location, connection, status, calibrations",
)
def get_equipment(printer_id: str, session: ReadSessionDep, user: Viewer) -> RegisteredPrinterView:
    """Any staff member."""
    return RegisteredPrinterView.of(session, _registered(session, printer_id))


@router.post(
    "/{printer_id}/status",
    response_model=RegisteredPrinterView,
    responses=REGISTER_ERRORS,
    summary="Put a printer in or out of service, or mark its calibration due",
)
def set_status(
    printer_id: str, body: StatusChange, session: SessionDep, user: Manager
) -> RegisteredPrinterView:
    """Pharmacists and admins; the reason is recorded."""
    _registered(session, printer_id)
    printer = register.set_status(session, user, printer_id, body.status, body.reason)
    return RegisteredPrinterView.of(session, printer)


@router.post(
    "/{printer_id}/details",
    response_model=RegisteredPrinterView,
    responses=REGISTER_ERRORS,
    summary="Move a printer or change its connection",
)
def change_details(
    printer_id: str, body: DetailsChange, session: SessionDep, user: Manager
) -> RegisteredPrinterView:
    """Pharmacists and admins; a new OctoPrint key is sealed and never returned."""
    _registered(session, printer_id)
    printer = register.change_details(
        session,
        user,
        printer_id,
        reason=body.reason,
        location=body.location,
        connection=body.connection.connection() if body.connection else None,
    )
    return RegisteredPrinterView.of(session, printer)


@router.post(
    "/{printer_id}/calibrations",
    response_model=CalibrationView,
    status_code=201,
    responses=REGISTER_ERRORS,
    summary="Record a calibration (E-steps, bed level, nozzle temperature)",
)
def calibrate(
    printer_id: str, body: NewCalibration, session: SessionDep, user: Manager
) -> CalibrationView:
    """Pharmacists and admins. The service judges each check; any fails: calibration due."""
    _registered(session, printer_id)
    calibration = register.record_calibration(
        session,
        user,
        printer_id,
        {
            "e_steps": body.e_steps_mm,
            "bed_level": body.bed_level_mm,
            "nozzle_temperature": body.nozzle_temperature_c,
        },
        notes=body.notes,
    )
    return CalibrationView.of(calibration)


@router.post(
    "/{printer_id}/line-clearance",
    response_model=RegisteredPrinterView,
    responses=REGISTER_ERRORS,
    summary="Line clearance: the plate is clear and the batch's lot is loaded",
)
def clear_line(
    printer_id: str, body: LineClearance, session: SessionDep, user: LineClearer
) -> RegisteredPrinterView:
    """Technicians and pharmacists. A lot that is not the batch's is refused (422)."""
    _registered(session, printer_id)
    printer = register.clear_line(
        session,
        user,
        printer_id,
        body.batch_number,
        plate_clear=body.plate_clear,
        lot_number=body.lot_number,
    )
    return RegisteredPrinterView.of(session, printer)


@router.post(
    "/{printer_id}/{action}",
    response_model=ControlDone,
    responses={
        404: {"description": "no such printer"},
        422: {"description": "the printer is driven by a worker in another process"},
    },
    summary="Pause, resume, cancel or emergency-stop a printer this service drives",
)
def control_printer(
    request: Request, printer_id: str, action: printers.Control, user: Controller
) -> ControlDone:
    """Technicians and pharmacists; the action is in the audit trail before it is sent."""
    if printer_id not in printers.printer_names(store_of(request)):
        raise UnknownPrinter(printer_id)
    batch = printers.control(
        store_of(request), printers_of(request), printer_id, action, user, "the API"
    )
    return ControlDone(printer=printer_id, action=action, batch_number=batch)


class UnknownPrinter(NotFound):
    def __init__(self, printer_id: str) -> None:
        super().__init__("printer", printer_id, "is not a printer on file")
