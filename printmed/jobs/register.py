"""The printer register: the pharmacy's physical printers as equipment, their calibration records
and the line clearance each needs before it takes a batch.

A printer is ready to print only when it is in service and its last calibration passed and is
not yet due (`readiness`); it then takes only the one batch its line is cleared for (the plate
confirmed clear and the batch's own lot scanned at that printer, `clear_line`). Every change of
a printer is an audit entry (entity "printer") with old and new values and a reason; a line
clearance's entry also carries the batch number, so it is in that batch's trail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import audit, catalog, keys
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.store.models import Batch, PrinterCalibration, RegisteredPrinter, User

Status = Literal["in_service", "out_of_service", "calibration_due"]
STATUSES: tuple[Status, ...] = ("in_service", "out_of_service", "calibration_due")
STATUS_LABELS: dict[str, str] = {
    "in_service": "in service",
    "out_of_service": "out of service",
    "calibration_due": "calibration due",
}
ConnectionKind = Literal["sim", "usb", "octoprint"]
CONNECTIONS: tuple[ConnectionKind, ...] = ("sim", "usb", "octoprint")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SECRET_PURPOSE = b"printmed printer connection secret"
NONCE_BYTES = 12
QUEUED = "queued"  # BatchState.QUEUED, without importing the states beside the claim


class UnknownPrinter(InputError):
    def __init__(self, name: str) -> None:
        super().__init__("printer", name, "is not a printer in the register")


class LineNotCleared(InputError):
    """A line clearance refused: the field and value that were wrong, nothing recorded."""


# --- calibration checks --------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRule:
    """One equipment check: what is measured (unit), what it should be, how far it may be off."""

    label: str
    unit: str
    expected: float
    tolerance: float

    def passes(self, measured: float) -> bool:
        return abs(measured - self.expected) <= self.tolerance


# Extrusion is dose: 100 mm of filament (or plunger travel) asked for must come out within
# ±0.5 mm, half the dose gate's ±1 %, so a calibrated printer never eats the gate's margin.
CHECKS: dict[str, CheckRule] = {
    "e_steps": CheckRule("E-steps: extruded over 100 mm asked for", "mm", 100.0, 0.5),
    "bed_level": CheckRule("bed level: largest deviation from the mesh", "mm", 0.0, 0.1),
    "nozzle_temperature": CheckRule("nozzle temperature: probe minus set point", "°C", 0.0, 3.0),
}


@dataclass(frozen=True)
class Readiness:
    """Whether a printer may take a batch now, and why not."""

    ready: bool
    reason: str


# --- connections and their secret ----------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """How a printer is reached. `api_key` is held only in memory: the register keeps it sealed
    and no view, page or command ever shows it again."""

    kind: ConnectionKind
    port: str | None = None
    baud: int | None = None
    url: str | None = None
    api_key: str | None = None

    def check(self) -> Connection:
        if self.kind not in CONNECTIONS:
            raise InputError("connection", self.kind, f"is not one of {', '.join(CONNECTIONS)}")
        if self.kind == "usb":
            if not (self.port or "").strip():
                raise InputError("usb_port", self.port or "", "is required for a USB printer")
            if self.baud is None or self.baud not in (9600, 57600, 115200, 250000, 500000):
                raise InputError(
                    "usb_baud", self.baud, "is not 9600, 57600, 115200, 250000, 500000"
                )
        if self.kind == "octoprint":
            if not re.match(r"^https?://[^\s/]+", self.url or ""):
                raise InputError("octoprint_url", self.url or "", "is not an http(s) URL")
            if not (self.api_key or "").strip():
                raise InputError("octoprint_api_key", "(empty)", "is required for OctoPrint")
        return self

    def shown(self) -> dict[str, Any]:
        """The connection as the trail and every view show it: never the key."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind == "usb":
            data.update(port=self.port, baud=self.baud)
        if self.kind == "octoprint":
            data.update(url=self.url, api_key="(sealed; not shown)")
        return data


def _secret_box() -> AESGCM:
    # The key is derived from the service's signing key, a 0600 file outside the database:
    # whoever holds the database alone cannot read a printer's API key.
    private = keys.service_key().private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return AESGCM(hmac.new(private, SECRET_PURPOSE, hashlib.sha256).digest())


def seal_secret(printer_name: str, secret: str) -> str:
    """AES-256-GCM, bound to the printer's name (a sealed key moved to another row won't open)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _secret_box().encrypt(nonce, secret.encode(), printer_name.encode())
    return base64.b64encode(nonce + sealed).decode()


def open_secret(printer_name: str, sealed: str) -> str:
    raw = base64.b64decode(sealed)
    try:
        plain = _secret_box().decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], printer_name.encode())
    except InvalidTag as exc:
        raise InputError(
            "octoprint_api_key",
            "(sealed)",
            f"of {printer_name} does not open with this service key; enter it again",
        ) from exc
    return plain.decode()


def connection_of(printer: RegisteredPrinter) -> Connection:
    """The printer's connection with its key opened: for the worker that connects, only."""
    api_key = (
        open_secret(printer.name, printer.octoprint_key_sealed)
        if printer.octoprint_key_sealed
        else None
    )
    return Connection(
        kind=printer.connection,  # type: ignore[arg-type]
        port=printer.usb_port,
        baud=printer.usb_baud,
        url=printer.octoprint_url,
        api_key=api_key,
    )


def shown_connection(printer: RegisteredPrinter) -> dict[str, Any]:
    return Connection(
        kind=printer.connection,  # type: ignore[arg-type]
        port=printer.usb_port,
        baud=printer.usb_baud,
        url=printer.octoprint_url,
    ).shown()


# --- profiles' calibration intervals -------------------------------------------------------


def calibration_interval_days(profile_id: str) -> int:
    """Days from a passing calibration to the next one, for printers of `profile_id` (the
    equipment data of its master-file profile document)."""
    return catalog.calibration_interval_days(profile_id)


# --- reading the register ------------------------------------------------------------------


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def find(session: Session, name: str) -> RegisteredPrinter | None:
    return session.scalar(select(RegisteredPrinter).where(RegisteredPrinter.name == name))


def get(session: Session, name: str, *, for_update: bool = False) -> RegisteredPrinter:
    query = select(RegisteredPrinter).where(RegisteredPrinter.name == name)
    if for_update:
        query = query.with_for_update()
    printer = session.scalar(query)
    if printer is None:
        raise UnknownPrinter(name)
    return printer


def all_printers(session: Session) -> list[RegisteredPrinter]:
    return list(session.scalars(select(RegisteredPrinter).order_by(RegisteredPrinter.name)))


def in_force(session: Session) -> bool:
    """Whether the register holds any printer. From the first one on, only registered printers
    take batches; a store upgraded with none keeps its workers named by profile until then."""
    return bool(session.scalar(select(func.count()).select_from(RegisteredPrinter)))


def calibrations(session: Session, printer: RegisteredPrinter) -> list[PrinterCalibration]:
    return list(
        session.scalars(
            select(PrinterCalibration)
            .where(PrinterCalibration.printer_id == printer.id)
            .order_by(PrinterCalibration.id.desc())
        )
    )


def readiness(printer: RegisteredPrinter, on: dt.date | None = None) -> Readiness:
    """Ready when in service with a calibration due after `on` (default today, UTC)."""
    day = on or today()
    if printer.status == "out_of_service":
        return Readiness(False, f"out of service: {printer.status_reason}")
    if printer.status == "calibration_due":
        return Readiness(False, f"calibration due: {printer.status_reason}")
    if printer.calibration_due_on is None:
        return Readiness(False, "calibration due: no calibration on record")
    if dt.date.fromisoformat(printer.calibration_due_on) <= day:
        return Readiness(False, f"calibration due since {printer.calibration_due_on}")
    return Readiness(True, "in service")


def effective_status(printer: RegisteredPrinter, on: dt.date | None = None) -> Status:
    """The status the pages show: a printer in service whose calibration has come due is
    calibration due, whatever its row says."""
    if printer.status == "in_service" and not readiness(printer, on).ready:
        return "calibration_due"
    return printer.status  # type: ignore[return-value]


def view(printer: RegisteredPrinter) -> dict[str, Any]:
    """The printer as its trail entries and every view show it (no secret)."""
    return {
        "name": printer.name,
        "profile_id": printer.profile_id,
        "serial_number": printer.serial_number,
        "location": printer.location,
        "connection": shown_connection(printer),
        "status": printer.status,
        "status_reason": printer.status_reason,
        "calibration_due_on": printer.calibration_due_on,
    }


# --- changing the register -----------------------------------------------------------------


def _text(field: str, value: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(field, value, "is required")
    if len(value) > limit:
        raise InputError(field, value, f"is longer than {limit} characters")
    return value


def _record(
    session: Session,
    printer: RegisteredPrinter,
    actor: str,
    action: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    reason: str,
    batch_number: str | None = None,
) -> None:
    audit.append(
        session,
        actor=actor,
        action=action,
        entity="printer",
        entity_id=printer.name,
        batch_number=batch_number,
        old=dict(old) if old is not None else None,
        new=dict(new),
        reason=reason,
    )


def _set_connection(printer: RegisteredPrinter, connection: Connection) -> None:
    printer.connection = connection.kind
    printer.usb_port = (
        connection.port.strip() if connection.kind == "usb" and connection.port else None
    )
    printer.usb_baud = connection.baud if connection.kind == "usb" else None
    printer.octoprint_url = connection.url if connection.kind == "octoprint" else None
    printer.octoprint_key_sealed = (
        seal_secret(printer.name, connection.api_key.strip())
        if connection.kind == "octoprint" and connection.api_key
        else None
    )


def add_printer(
    session: Session,
    actor: User,
    *,
    name: str,
    profile_id: str,
    serial_number: str,
    location: str,
    connection: Connection,
    reason: str = "registered",
    calibration_due_on: dt.date | None = None,
    site_id: int | None = None,
) -> RegisteredPrinter:
    """Register a printer. It takes no batch until a calibration passes (or, for a simulated
    printer registered by the service itself, `calibration_due_on` says when it is due).
    It belongs to the site `site_id` (default: the registering user's) and makes only that
    site's batches; an admin moves it (records.sites.assign_printer)."""
    require(actor, Action.MANAGE_PRINTERS)
    return _add(
        session,
        actor.username,
        name=name,
        profile_id=profile_id,
        serial_number=serial_number,
        location=location,
        connection=connection,
        reason=reason,
        calibration_due_on=calibration_due_on,
        site_id=site_id or actor.site_id or 1,
    )


def _add(
    session: Session,
    actor: str,
    *,
    name: str,
    profile_id: str,
    serial_number: str,
    location: str,
    connection: Connection,
    reason: str,
    calibration_due_on: dt.date | None,
    site_id: int = 1,
) -> RegisteredPrinter:
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise InputError("name", name, "must be 1–64 letters, digits, '.', '_' or '-'")
    master = catalog.master_of(session)
    master.printer_profile(profile_id)
    master.calibration_interval_days(profile_id)
    serial_number = _text("serial_number", serial_number, 64)
    location = _text("location", location, 200)
    connection.check()
    audit.lock_chain(session)
    if find(session, name) is not None:
        raise InputError("name", name, "is already a printer in the register")
    if session.scalar(
        select(RegisteredPrinter).where(RegisteredPrinter.serial_number == serial_number)
    ):
        raise InputError("serial_number", serial_number, "is already registered")
    printer = RegisteredPrinter(
        name=name,
        profile_id=profile_id,
        serial_number=serial_number,
        location=location,
        connection=connection.kind,
        status="in_service",
        status_reason="",
        calibration_due_on=calibration_due_on.isoformat() if calibration_due_on else None,
        created_by=actor,
        created_at=audit.utc_now(),
        site_id=site_id,
    )
    _set_connection(printer, connection)
    session.add(printer)
    session.flush()
    _record(session, printer, actor, "printer.register", None, view(printer), reason)
    return printer


def set_status(
    session: Session, actor: User, name: str, status: str, reason: str
) -> RegisteredPrinter:
    """In service, out of service or calibration due, with the reason (always required)."""
    require(actor, Action.MANAGE_PRINTERS)
    if status not in STATUSES:
        raise InputError("status", status, f"is not one of {', '.join(STATUSES)}")
    reason = audit.required_reason(reason)
    audit.lock_chain(session)
    printer = get(session, name, for_update=True)
    old = {"status": printer.status, "status_reason": printer.status_reason}
    printer.status = status
    printer.status_reason = reason if status != "in_service" else ""
    session.flush()
    new = {"status": printer.status, "status_reason": printer.status_reason}
    _record(session, printer, actor.username, "printer.status", old, new, reason)
    return printer


def change_details(
    session: Session,
    actor: User,
    name: str,
    *,
    reason: str,
    location: str | None = None,
    connection: Connection | None = None,
) -> RegisteredPrinter:
    """Move a printer or change how it is reached (a new API key is sealed, never shown)."""
    require(actor, Action.MANAGE_PRINTERS)
    reason = audit.required_reason(reason)
    if connection is not None:
        connection.check()
    audit.lock_chain(session)
    printer = get(session, name, for_update=True)
    old = view(printer)
    if location is not None:
        printer.location = _text("location", location, 200)
    if connection is not None:
        _set_connection(printer, connection)
    session.flush()
    new = view(printer)
    changed = [key for key in new if new[key] != old[key]]
    if connection is not None and connection.api_key:
        changed.append("connection")  # a new key shows the same; it is still a change
    if not changed:
        raise InputError("printer", name, "would not change")
    _record(
        session,
        printer,
        actor.username,
        "printer.details",
        {key: old[key] for key in changed},
        {key: new[key] for key in changed},
        reason,
    )
    return printer


@dataclass(frozen=True)
class CheckResult:
    check: str
    measured: float

    def as_data(self) -> dict[str, Any]:
        rule = CHECKS[self.check]
        return {
            "check": self.check,
            "label": rule.label,
            "measured": self.measured,
            "unit": rule.unit,
            "expected": rule.expected,
            "tolerance": rule.tolerance,
            "passed": rule.passes(self.measured),
        }


def record_calibration(
    session: Session,
    actor: User,
    name: str,
    measured: Mapping[str, float],
    notes: str = "",
    on: dt.date | None = None,
) -> PrinterCalibration:
    """Record a calibration: every check in CHECKS measured. The service judges each against its
    rule; all pass → next due after the profile's interval, and a printer that was calibration
    due is in service again; any fails → calibration due, and the printer claims nothing."""
    require(actor, Action.MANAGE_PRINTERS)
    unknown = sorted(set(measured) - set(CHECKS))
    if unknown:
        raise InputError("check", unknown[0], f"is not one of {', '.join(CHECKS)}")
    missing = [check for check in CHECKS if check not in measured]
    if missing:
        raise InputError(missing[0], "(not measured)", "is required in a calibration")
    results = []
    for check in CHECKS:
        value = measured[check]
        if not isinstance(value, int | float) or value != value or abs(value) > 1e6:
            raise InputError(check, value, "is not a measurement")
        results.append(CheckResult(check, float(value)).as_data())
    passed = all(result["passed"] for result in results)
    audit.lock_chain(session)
    printer = get(session, name, for_update=True)
    day = on or today()
    next_due = day + dt.timedelta(days=calibration_interval_days(printer.profile_id))
    calibration = PrinterCalibration(
        printer_id=printer.id,
        checks_json=audit.canonical_json(results),
        result="pass" if passed else "fail",
        performed_by=actor.username,
        performed_at=audit.utc_now(),
        next_due_on=next_due.isoformat() if passed else None,
        notes=(notes or "").strip(),
    )
    session.add(calibration)
    old = {
        "status": printer.status,
        "status_reason": printer.status_reason,
        "calibration_due_on": printer.calibration_due_on,
    }
    if passed:
        printer.calibration_due_on = next_due.isoformat()
        if printer.status == "calibration_due":
            printer.status, printer.status_reason = "in_service", ""
    else:
        failed = ", ".join(r["check"] for r in results if not r["passed"])
        printer.status, printer.status_reason = "calibration_due", f"calibration failed: {failed}"
    session.flush()
    _record(
        session,
        printer,
        actor.username,
        f"printer.calibration.{calibration.result}",
        old,
        {
            "status": printer.status,
            "status_reason": printer.status_reason,
            "calibration_due_on": printer.calibration_due_on,
            "calibration_id": calibration.id,
            "checks": results,
            "notes": calibration.notes,
        },
        reason=f"calibration by {actor.full_name}: {calibration.result}",
    )
    return calibration


# --- line clearance ------------------------------------------------------------------------


def batch_lot(batch: Batch) -> str:
    return str(json.loads(batch.formulation_json).get("lot", ""))


def clear_line(
    session: Session,
    actor: User,
    name: str,
    batch_number: str,
    *,
    plate_clear: bool,
    lot_number: str,
) -> RegisteredPrinter:
    """At printer `name`, the technician confirms the plate is clear and scans (or types) the
    lot loaded; it must be the lot of `batch_number`, a batch queued for this printer or its
    profile. The printer then takes that batch and no other (the claim uses the clearance up).

    Why before the claim, not in the worker: a worker cannot see the plate or the spool, and a
    batch bound to a printer by a person standing at it is one the queue cannot hand to a
    printer holding another drug. Refused (LineNotCleared, nothing written) otherwise.
    """
    require(actor, Action.CLEAR_LINE)
    if not plate_clear:
        raise LineNotCleared("plate_clear", plate_clear, "must be confirmed: the plate is clear")
    scanned = (lot_number or "").strip()
    if not scanned:
        raise LineNotCleared("lot_number", lot_number, "is required: scan or type the lot loaded")
    audit.lock_chain(session)
    printer = get(session, name, for_update=True)
    if (actor.site_id or 1) != printer.site_id:  # whoever clears it stands at the printer
        raise LineNotCleared("printer", name, "is not a printer of your site")
    state = readiness(printer)
    if not state.ready:
        raise LineNotCleared("printer", name, f"may not print now ({state.reason})")
    batch = session.scalar(select(Batch).where(Batch.batch_number == batch_number))
    if batch is None:
        raise LineNotCleared("batch", batch_number, "is not a batch in this store")
    if batch.state != QUEUED:
        raise LineNotCleared("batch", batch_number, f"is {batch.state}, not queued")
    if batch.site_id != printer.site_id:
        raise LineNotCleared("batch", batch_number, f"is not a batch of {printer.name}'s site")
    if batch.printer not in (printer.name, printer.profile_id) or (
        batch.profile_id != printer.profile_id
    ):
        raise LineNotCleared(
            "batch", batch_number, f"is queued for {batch.printer}, not for {printer.name}"
        )
    expected = batch_lot(batch)
    if scanned != expected:
        raise LineNotCleared(
            "lot_number", scanned, f"is not the lot of {batch_number} ({expected}): not cleared"
        )
    other = session.scalar(
        select(RegisteredPrinter).where(
            RegisteredPrinter.cleared_batch == batch_number, RegisteredPrinter.id != printer.id
        )
    )
    if other is not None:
        raise LineNotCleared("batch", batch_number, f"is already cleared on {other.name}")
    old = {
        "cleared_batch": printer.cleared_batch,
        "cleared_lot": printer.cleared_lot,
        "cleared_by": printer.cleared_by,
    }
    printer.cleared_batch, printer.cleared_lot = batch_number, scanned
    printer.cleared_by, printer.cleared_at = actor.username, audit.utc_now()
    session.flush()
    _record(
        session,
        printer,
        actor.username,
        "printer.line_clearance",
        old,
        {
            "cleared_batch": batch_number,
            "cleared_lot": scanned,
            "cleared_by": actor.username,
            "plate_clear": True,
            "printer": printer.name,
            "serial_number": printer.serial_number,
        },
        reason=f"line clearance by {actor.full_name}: plate clear, lot {scanned} loaded",
        batch_number=batch_number,
    )
    return printer


def cleared_for(session: Session, printer: RegisteredPrinter) -> str | None:
    """The batch `printer` may take now: its cleared batch, if it is ready and still queued."""
    if printer.cleared_batch is None or not readiness(printer).ready:
        return None
    return printer.cleared_batch


def use_clearance(
    session: Session, printer: RegisteredPrinter, batch_number: str, actor: str
) -> None:
    """The claim of `batch_number` uses the printer's clearance up (recorded)."""
    old = {"cleared_batch": printer.cleared_batch, "cleared_lot": printer.cleared_lot}
    printer.cleared_batch = printer.cleared_lot = None
    printer.cleared_by = printer.cleared_at = None
    session.flush()
    _record(
        session,
        printer,
        actor,
        "printer.line_clearance.used",
        old,
        {"cleared_batch": None, "cleared_lot": None},
        reason=f"{batch_number} taken by {printer.name}",
        batch_number=batch_number,
    )


# --- the simulated printers of the embedded default ----------------------------------------


def register_simulators(
    session: Session, per_profile: int = 2, actor: str = "printmed serve --sim-printers"
) -> list[RegisteredPrinter]:
    """At first start of the embedded default (an empty register): `per_profile` simulated
    printers of each profile on file, with fictional serials. A simulator has no extruder or
    bed to measure, so it is registered as calibrated for one interval, and the entry says so."""
    if in_force(session):
        return []
    made = []
    for profile_id in catalog.master_of(session).printer_profiles():
        interval = calibration_interval_days(profile_id)
        for number in range(1, per_profile + 1):
            letter = "abcdefghij"[number - 1]
            made.append(
                _add(
                    session,
                    actor,
                    name=f"{profile_id}-{letter}",
                    profile_id=profile_id,
                    serial_number=f"SIM-{profile_id.upper()}-{number:03d}",
                    location="embedded default",
                    connection=Connection("sim"),
                    reason="simulated printer registered at first start; nothing to calibrate",
                    calibration_due_on=today() + dt.timedelta(days=interval),
                )
            )
    return made


def simulators(session: Session, site_id: int | None = None) -> list[RegisteredPrinter]:
    """The simulated printers in the register (of one site, with `site_id`)."""
    return [
        p
        for p in all_printers(session)
        if p.connection == "sim" and (site_id is None or p.site_id == site_id)
    ]
