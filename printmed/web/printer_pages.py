"""The printers page: state, temperatures and the job in progress of every printer, live over
server-sent events, with pause, resume, cancel and emergency stop (the last two confirmed), the
line clearance each registered printer needs before a batch, and the next step once a batch is
printed. The register pages: every printer as equipment (serial, place, connection, status,
calibration due), registering one, its status, details and calibrations. Every form answers
303: a refused one back to its page, which tells why beside the field or on the printer's card
(web.refused_form).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import select

from printmed import catalog
from printmed.auth import COOKIE_NAME, printers_of, store_of
from printmed.auth.rules import Action
from printmed.errors import InputError
from printmed.jobs import printers, register, service
from printmed.jobs.printers import PrinterStatus
from printmed.jobs.states import BatchState
from printmed.records import sites
from printmed.store.models import Batch, RegisteredPrinter, User
from printmed.web.admin_pages import FormField
from printmed.web.batch_view import BatchView
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import forget_refused, refused_redirect, take_refused
from printmed.web.rendering import duration, problem_page, render
from printmed.web.session import (
    CheckedForm,
    MayControlPrinters,
    PageRoute,
    PageUser,
    ended_event,
    page_may,
    session_live,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayManagePrinters = Annotated[User, page_may(Action.MANAGE_PRINTERS)]
MayClearLine = Annotated[User, page_may(Action.CLEAR_LINE)]
EVENT_INTERVAL_S = 1.0
PRINTERS_PAGE = "/printers"
ENDED = "/login?ended=1"

# (action, button, style, states it shows in, confirmation or "")
CONTROLS = (
    ("pause", "Pause", "secondary", "printing", ""),
    ("resume", "Resume", "", "paused", ""),
    (
        "cancel",
        "Cancel print",
        "danger",
        "printing paused",
        "Cancel the print on {printer}? The batch cannot be finished and will have to be rejected.",
    ),
    (
        "emergency_stop",
        "Emergency stop",
        "stop",
        "printing paused finishing",
        "Emergency stop {printer} now? Motors and heaters stop at once (M112) and the print is "
        "lost.",
    ),
)
CONFIRMED_ACTIONS = {"cancel", "emergency_stop"}


def _celsius(temp_c: float | None) -> str:
    return "–" if temp_c is None else f"{temp_c:.1f} °C"


@dataclass(frozen=True)
class PrinterCard:
    """One printer's card: the job service's status, and its figures as the page words them
    (the same words on the first render and on every live update)."""

    status: PrinterStatus

    @property
    def job_text(self) -> str:
        return self.status.batch_number or "none"

    @property
    def percent_text(self) -> str:
        return "–" if self.status.percent is None else f"{self.status.percent:.1f} %"

    @property
    def lines_text(self) -> str:
        s = self.status
        return f"{s.lines_acknowledged:,} of {s.lines_total:,} lines" if s.lines_total else ""

    @property
    def nozzle_text(self) -> str:
        return _celsius(self.status.nozzle_c)

    @property
    def bed_text(self) -> str:
        return _celsius(self.status.bed_c)

    @property
    def remaining_text(self) -> str:
        remaining_s = self.status.remaining_s
        return f"about {duration(remaining_s)} left" if remaining_s is not None else ""

    @property
    def next_step(self) -> tuple[str, str, str] | None:
        """The last batch off this printer: (sentence, link, link text), e.g. printed → weigh."""
        return next_step(self.status.finished_batch, self.status.finished_state)

    def live(self) -> dict[str, Any]:
        """What printmed.js updates the card from, by `data-field`; `state` picks the badge's
        style and which controls show."""
        return {
            "name": self.status.name,
            "state": self.status.state,
            "state_label": self.status.state_label,
            "percent": self.status.percent or 0.0,
            "job": self.job_text,
            # a new batch on the printer: the page is drawn afresh too (queue, line clearance)
            "batch": self.status.batch_number or "",
            "percent_text": self.percent_text,
            "lines": self.lines_text,
            "nozzle": self.nozzle_text,
            "bed": self.bed_text,
            "remaining": self.remaining_text,
            # a new batch off the printer: the page is drawn afresh (notice, queue, next step)
            "finished": self.status.finished_batch or "",
        }


def next_step(batch: str | None, state: str | None) -> tuple[str, str, str] | None:
    """What to do with a batch a printer has finished with, in the pharmacy's words."""
    if batch is None or state is None:
        return None
    if state == BatchState.PRINTED:
        return (f"Batch {batch} is printed.", f"/batches/{batch}/weigh", "Weigh its units")
    if state in (BatchState.FAILED, BatchState.INTERRUPTED):
        return (
            f"Batch {batch} {state}: it cannot be released.",
            f"/batches/{batch}/release",
            "Open its record",
        )
    return (f"Batch {batch} is {state}.", f"/batches/{batch}/release", "Open its record")


def cards(request: Request, user: User) -> list[PrinterCard]:
    """The cards of the printers the user sees: their own site's (every site's with the
    control-site role; profile-named printers before the register holds any)."""
    store, driven = store_of(request), printers_of(request)
    scope = sites.site_scope(user)
    with store.read_session() as session:
        site_of = {p.name: p.site_id for p in register.all_printers(session)}
    return [
        PrinterCard(printers.status(store, driven, name))
        for name in printers.printer_names(store)
        if scope is None or site_of.get(name, scope) == scope
    ]


def _batch_notice(request: Request) -> tuple[tuple[str, str] | None, tuple[str, str, str] | None]:
    """The notice for the batch just queued (?queued=), as that batch stands now: queued,
    printing, or printed with the next step."""
    number = request.query_params.get("queued", "")[:32]
    if not number:
        return None, None
    with store_of(request).read_session() as session:
        batch = session.scalar(select(Batch).where(Batch.batch_number == number))
    if batch is None:
        return None, None
    if batch.state == BatchState.QUEUED:
        return ("ok", f"Batch {number} is queued."), None
    if batch.state == BatchState.PRINTING:
        return ("ok", f"Batch {number} is printing on {batch.printer}."), None
    return None, next_step(number, batch.state)


def clearance_choices(
    session: Any, registered: list[RegisteredPrinter]
) -> dict[str, list[tuple[str, str]]]:
    """Per registered printer: the queued batches it may be cleared for (queued for it or its
    profile, not cleared on another printer), as (batch number, label)."""
    queued = service.list_batches(session, BatchState.QUEUED)
    elsewhere = {p.cleared_batch: p.name for p in registered if p.cleared_batch}
    # a printer makes only its own site's batches (jobs.register.clear_line refuses others)
    choices: dict[str, list[tuple[str, str]]] = {}
    for printer in registered:
        choices[printer.name] = [
            (job.batch_number, f"{job.batch_number} · {view.drug_name}")
            for job in queued
            for view in [BatchView.of(job)]
            if job.printer in (printer.name, printer.profile_id)
            and job.profile_id == printer.profile_id
            and job.site_id == printer.site_id
            and elsewhere.get(job.batch_number, printer.name) == printer.name
        ]
    return choices


def _printers_page(
    request: Request,
    user: User,
    *,
    values: dict[str, dict[str, str]] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
) -> Response:
    scope = sites.site_scope(user)
    with store_of(request).session() as session:
        waiting = service.list_batches(session, BatchState.QUEUED, site_id=scope)
        waiting += service.list_batches(session, BatchState.PRINTING, site_id=scope)
        queue = [BatchView.of(job) for job in sorted(waiting, key=lambda job: job.id)]
        choices = clearance_choices(session, _site_printers(session, scope))
    notice, step = _batch_notice(request)
    if request.query_params.get("cleared"):
        notice = ("ok", f"Line cleared for batch {request.query_params['cleared'][:32]}.")
    return render(
        request,
        "printers.html",
        user,
        title="Printers",
        section="printers",
        notices=[notice] if notice else [],
        batch_step=step,
        printers=cards(request, user),
        controls=CONTROLS,
        queue=queue,
        clearance_choices=choices,
        values=values or {},
        errors=errors or {},
    )


@router.get("/printers")
def printers_page(request: Request, user: PageUser) -> Response:
    refused = take_refused(request)  # a line clearance refused, on the card of refused.form
    page = _printers_page(
        request,
        user,
        values={refused.form: refused.values} if refused.form else None,
        errors={refused.form: refused.errors} if refused.form else None,
    )
    return forget_refused(request, page)


@router.get("/printers/events")
async def printer_events(request: Request, user: PageUser) -> Response:
    """Server-sent events: an event `printers` (JSON list of cards) every second, and `ended`
    (then nothing) once the session has ended or gone idle: watching is not using. A request
    after the session ended gets `ended` too (PageRoute), never a 401 an EventSource would
    swallow."""
    token = request.cookies.get(COOKIE_NAME, "")

    def live() -> list[dict[str, Any]]:
        return [card.live() for card in cards(request, user)]

    async def events() -> AsyncIterator[str]:
        yield f"retry: {int(EVENT_INTERVAL_S * 3000)}\n\n"
        while not await request.is_disconnected():
            if not await asyncio.to_thread(session_live, request, token):
                yield ended_event(ENDED)
                return
            data = await asyncio.to_thread(live)
            yield f"event: printers\ndata: {json.dumps(data)}\n\n"
            await asyncio.sleep(EVENT_INTERVAL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


CLEARANCE_LABELS = {
    "batch": "Batch",
    "batch_number": "Batch",
    "lot_number": "Lot number",
    "plate_clear": "The plate",
    "printer": "Printer",
}


def field_message(exc: InputError, labels: dict[str, str]) -> tuple[str, str]:
    """(field, the sentence beside it) for a refusal; an unknown field goes above the form."""
    label = labels.get(exc.field, exc.field.replace("_", " ").capitalize())
    shown = f" {exc.value!r}" if exc.value not in ("", None, False, True) else ""
    field = exc.field if exc.field in labels else ""
    return ("batch_number" if field == "batch" else field), f"{label}{shown} {exc.reason}."


@router.post("/printers/{name}/line-clearance")
def line_clearance(request: Request, name: str, user: MayClearLine, form: CheckedForm) -> Response:
    """The technician at printer `name`: plate clear (ticked) and the lot scanned or typed."""
    values = {
        "batch_number": form.get("batch_number", "").strip(),
        "lot_number": form.get("lot_number", "").strip(),
        "plate_clear": form.get("plate_clear", ""),
    }
    try:
        with store_of(request).session() as session:
            register.clear_line(
                session,
                user,
                name,
                values["batch_number"],
                plate_clear=values["plate_clear"] == "yes",
                lot_number=values["lot_number"],
            )
    except InputError as exc:
        field, text = field_message(exc, CLEARANCE_LABELS)
        return refused_redirect(request, "/printers", {field: text}, values, form=name)
    return RedirectResponse(f"/printers?cleared={values['batch_number']}", status_code=303)


# --- the register ----------------------------------------------------------------------------

NEW_PRINTER_FIELDS = (
    FormField("name", "Name", "p-name", "Letters, digits, '.', '-' or '_', e.g. fdm-04-bench-a."),
    FormField("profile_id", "Model (profile)", "p-profile", kind="select"),
    FormField("serial_number", "Serial number", "p-serial", "As on the printer's plate."),
    FormField("location", "Location", "p-location", "Room and bench."),
    FormField("connection", "Connection", "p-connection", kind="select"),
    FormField("usb_port", "USB port", "p-port", "With USB, e.g. /dev/ttyACM0.", required=False),
    FormField("usb_baud", "Baud", "p-baud", "With USB, e.g. 115200.", "integer", required=False),
    FormField("octoprint_url", "OctoPrint URL", "p-url", "With OctoPrint.", required=False),
    FormField(
        "octoprint_api_key",
        "OctoPrint API key",
        "p-key",
        "With OctoPrint. Kept sealed; never shown again.",
        required=False,
    ),
)
STATUS_FIELDS = (
    FormField("status", "New status", "s-status", kind="select"),
    FormField("reason", "Reason", "s-reason", "Recorded in the trail.", wide=True),
)
CALIBRATION_FIELDS = (
    FormField(
        "e_steps", "E-steps (mm)", "c-e-steps", "Extruded when 100 mm were asked for.", "number"
    ),
    FormField("bed_level", "Bed level (mm)", "c-bed", "Largest deviation of the bed.", "number"),
    FormField(
        "nozzle_temperature",
        "Nozzle temperature (°C)",
        "c-nozzle",
        "Probe reading minus the set point.",
        "number",
    ),
    FormField("notes", "Notes", "c-notes", required=False, wide=True),
)
REGISTER_LABELS = (
    {f.name: f.label for f in NEW_PRINTER_FIELDS + STATUS_FIELDS}
    | {f.name: f.label for f in CALIBRATION_FIELDS}
    | {"printer": "Printer", "usb_baud": "Baud", "check": "Check"}
)
# ?done= after a change (codes, never text from the address bar)
DONE_NOTICES = {
    **register.STATUS_LABELS,
    "pass": "calibration passed",
    "fail": "calibration failed; it takes no batch until one passes",
}
CONNECTION_OPTIONS = [("sim", "simulated"), ("usb", "USB serial"), ("octoprint", "OctoPrint")]


@dataclass(frozen=True)
class RegisterRow:
    """A registered printer as the register page lists it."""

    printer: RegisteredPrinter
    status: str
    status_label: str
    reason: str
    connection: dict[str, Any]


def _site_printers(session: Any, scope: int | None) -> list[RegisteredPrinter]:
    """The register as a user sees it: their site's printers (every site's: scope None)."""
    return [p for p in register.all_printers(session) if scope is None or p.site_id == scope]


def _rows(session: Any, scope: int | None) -> list[RegisterRow]:
    rows = []
    for printer in _site_printers(session, scope):
        status = register.effective_status(printer)
        rows.append(
            RegisterRow(
                printer,
                status,
                register.STATUS_LABELS[status],
                # the badge says the status; the reason says why ("nozzle replaced")
                register.readiness(printer).reason.split(": ", 1)[-1],
                register.shown_connection(printer),
            )
        )
    return rows


def _register_page(
    request: Request,
    user: User,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    with store_of(request).read_session() as session:
        rows = _rows(session, sites.site_scope(user))
    notices = []
    if request.query_params.get("added"):
        notices.append(("ok", f"Printer {request.query_params['added'][:64]} is registered."))
    return render(
        request,
        "printer_register.html",
        user,
        title="Printer register",
        section="printers",
        notices=notices,
        rows=rows,
        fields=NEW_PRINTER_FIELDS,
        options={
            "profile_id": [(p, p) for p in catalog.printer_profiles()],
            "connection": CONNECTION_OPTIONS,
        },
        values=values or {"connection": "usb", "usb_baud": "115200"},
        errors=errors or {},
    )


@router.get("/printers/register")
def register_page(request: Request, user: PageUser) -> Response:
    refused = take_refused(request)
    page = _register_page(request, user, values=refused.values or None, errors=refused.errors)
    return forget_refused(request, page)


def _connection_from(values: dict[str, str]) -> register.Connection:
    baud = values.get("usb_baud", "")
    if values.get("connection") == "usb" and not baud.isdigit():
        raise InputError("usb_baud", baud, "is not a whole number")
    kind = values.get("connection", "")
    if kind not in register.CONNECTIONS:
        raise InputError("connection", kind, "is not simulated, USB serial or OctoPrint")
    return register.Connection(
        kind,
        port=values.get("usb_port") or None,
        baud=int(baud) if baud.isdigit() else None,
        url=values.get("octoprint_url") or None,
        api_key=values.get("octoprint_api_key") or None,
    )


@router.post("/printers/register")
def add_printer(request: Request, user: MayManagePrinters, form: CheckedForm) -> Response:
    values = {f.name: form.get(f.name, "").strip() for f in NEW_PRINTER_FIELDS}
    try:
        with store_of(request).session() as session:
            register.add_printer(
                session,
                user,
                name=values["name"],
                profile_id=values["profile_id"],
                serial_number=values["serial_number"],
                location=values["location"],
                connection=_connection_from(values),
            )
    except InputError as exc:
        field, text = field_message(exc, REGISTER_LABELS | {"printer": "Model (profile)"})
        field = "profile_id" if exc.field == "printer" else field
        values["octoprint_api_key"] = ""  # a key typed is never sent back to the browser
        return refused_redirect(request, "/printers/register", {field: text}, values)
    return RedirectResponse(f"/printers/register?added={values['name']}", status_code=303)


def _printer_page(
    request: Request,
    user: User,
    name: str,
    *,
    form_name: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    with store_of(request).read_session() as session:
        printer = register.find(session, name)
        scope = sites.site_scope(user)
        if printer is None or (scope is not None and printer.site_id != scope):
            return problem_page(
                request,
                user,
                "No such printer",
                f"{name!r} is not a printer in the register.",
                status_code=404,
                back="/printers/register",
                section="printers",
                title="Not found",
            )
        row = next(r for r in _rows(session, scope) if r.printer.name == name)
        history = [(c, json.loads(c.checks_json)) for c in register.calibrations(session, printer)]
    done = DONE_NOTICES.get(request.query_params.get("done", ""))
    notices = [("ok", f"{name}: {done}.")] if done else []
    return render(
        request,
        "printer_equipment.html",
        user,
        title=f"Printer {name}",
        section="printers",
        notices=notices,
        row=row,
        history=history,
        status_fields=STATUS_FIELDS,
        calibration_fields=CALIBRATION_FIELDS,
        status_options=[(s, register.STATUS_LABELS[s]) for s in register.STATUSES],
        form_name=form_name,
        values=values or {},
        errors=errors or {},
    )


@router.get("/printers/register/{name}")
def printer_page(request: Request, name: str, user: PageUser) -> Response:
    refused = take_refused(request)  # the status or the calibration form, refused
    page = _printer_page(
        request,
        user,
        name,
        form_name=refused.form,
        values=refused.values,
        errors=refused.errors,
    )
    return forget_refused(request, page)


def _printer_path(name: str) -> str:
    return f"/printers/register/{quote(name, safe='')}"


@router.post("/printers/register/{name}/status")
def printer_status(
    request: Request, name: str, user: MayManagePrinters, form: CheckedForm
) -> Response:
    values = {f.name: form.get(f.name, "").strip() for f in STATUS_FIELDS}
    try:
        with store_of(request).session() as session:
            printer = register.set_status(session, user, name, values["status"], values["reason"])
            now = printer.status
    except InputError as exc:
        field, text = field_message(exc, REGISTER_LABELS)
        page = _printer_path(name)
        return refused_redirect(request, page, {field: text}, values, form="status")
    return RedirectResponse(f"{_printer_path(name)}?done={now}", status_code=303)


def _measurement(values: dict[str, str], name: str) -> float:
    text = values.get(name, "").replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise InputError(name, values.get(name, ""), "is not a number") from None


@router.post("/printers/register/{name}/calibrate")
def printer_calibration(
    request: Request, name: str, user: MayManagePrinters, form: CheckedForm
) -> Response:
    values = {f.name: form.get(f.name, "").strip() for f in CALIBRATION_FIELDS}
    try:
        measured = {check: _measurement(values, check) for check in register.CHECKS}
        with store_of(request).session() as session:
            calibration = register.record_calibration(
                session, user, name, measured, notes=values["notes"]
            )
            result = calibration.result
    except InputError as exc:
        field, text = field_message(exc, REGISTER_LABELS)
        page = _printer_path(name)
        return refused_redirect(request, page, {field: text}, values, form="calibrate")
    return RedirectResponse(f"{_printer_path(name)}?done={result}", status_code=303)


def _control_labels(action: str) -> tuple[str, str] | None:
    """(button, confirmation or "") of a control of the printers page; None: no such control."""
    labels = {a: (label, confirm) for a, label, _, _, confirm in CONTROLS}
    return labels.get(action)


@router.get("/printers/{name}/{action}/confirm")
def control_confirmation(
    request: Request, name: str, action: str, user: MayControlPrinters
) -> Response:
    """The confirmation a cancel or an emergency stop asks for, for a browser without the
    page's script (which asks in a dialog)."""
    labels = _control_labels(action)
    if labels is None or action not in CONFIRMED_ACTIONS:
        return Response("no such confirmation", status_code=404, media_type="text/plain")
    label, confirm = labels
    return render(
        request,
        "confirm.html",
        user,
        title=label,
        section="printers",
        heading=f"{label}: {name}",
        message=confirm.replace("{printer}", name),
        action=f"/printers/{quote(name, safe='')}/{action}",
        carry={},
        back=PRINTERS_PAGE,
        confirm_label=label,
    )


@router.post("/printers/{name}/{action}")
def printer_control(
    request: Request, name: str, action: str, user: MayControlPrinters, form: CheckedForm
) -> Response:
    """Pause, resume, cancel or stop a printer: 303 to the printers page, where a command the
    printer did not take is said on its card (web.refused_form); an action not confirmed in
    the page's dialog to the page that asks."""
    if _control_labels(action) is None:  # not a form of any page: no such address
        return Response("unknown printer action", status_code=404, media_type="text/plain")
    if action in CONFIRMED_ACTIONS and form.get("confirmed") != "yes":
        confirmation = f"/printers/{quote(name, safe='')}/{action}/confirm"
        return RedirectResponse(confirmation, status_code=303)
    try:
        printers.control(
            store_of(request), printers_of(request), name, action, user, "the printers page"
        )
    except refusals() as exc:
        told = {"control": f"The printer did not take the command: {sentence(exc)}"}
        return refused_redirect(request, PRINTERS_PAGE, told, form=name)
    return RedirectResponse(PRINTERS_PAGE, status_code=303)
