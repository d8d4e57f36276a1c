"""The new-prescription page: the form with live checks, and the orders that came over the API.

A valid prescription is dosed, designed, sliced and held to its dose on the G-code (the job
service's `manufacture`, then `record_gated_batch`) before the technician sees the review page;
a refused one changes nothing and answers 303 back to the form, which shows every message beside
its field and every value typed (web.refused_form), so a reload sends nothing again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from dosing.errors import DosingError
from dosing.prescription import Prescription
from printmed import catalog
from printmed.auth import settings_of, store_of
from printmed.errors import InputError
from printmed.intake.form import (
    BSA_FORMULAS,
    DOSE_UNITS,
    FIELDS,
    ORDER_FIELDS,
    PATIENT_FIELDS,
    blank_values,
    field_of,
    formulation_choices,
    shape_choices,
    values_from,
)
from printmed.jobs import calibration, printers, register
from printmed.jobs.making import record_gated_batch
from printmed.jobs.states import BatchState
from printmed.manufacture import gate_plan
from printmed.records import sites
from printmed.store.models import Batch, Order, User
from printmed.web.batch_view import BatchView
from printmed.web.prescription_form import FormCheck, MeshUpload, check_form
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import render, when
from printmed.web.session import CheckedForm, MayEnterPrescription, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FORM_PAGE = "/prescriptions/new"


def _printer_profiles() -> dict[str, str]:
    """Printer name → the profile its G-code is written for (one printer per profile)."""
    return {name: name for name in printers.printer_names()}


@dataclass(frozen=True)
class Machine:
    """A registered printer that may be chosen under "Which machine": in service (calibrated)
    at the user's site."""

    name: str
    profile_id: str
    label: str


def _machines(request: Request, user: User) -> list[Machine]:
    site = user.site_id or 1
    with store_of(request).read_session() as session:
        return [
            Machine(
                p.name,
                p.profile_id,
                f"{p.name} — {p.profile_id}, serial {p.serial_number}, {p.location}",
            )
            for p in register.all_printers(session)
            if p.site_id == site and register.readiness(p).ready
        ]


def _printer_choices() -> list[tuple[str, str]]:
    choices = []
    for name, profile in catalog.printer_profiles().items():
        nozzle = f"{profile.nozzle_mm} mm nozzle"
        choices.append((name, f"{name} — {profile.process.upper()}, {nozzle}"))
    return choices


def _orders(request: Request, user: User) -> list[dict[str, Any]]:
    """Orders received over the API whose batch waits for review (verified, not queued), of the
    user's site (every site's with the control-site role)."""
    query = (
        select(Order, Batch)
        .join(Batch, Batch.batch_number == Order.batch_number)
        .where(Batch.state == BatchState.VERIFIED.value)
    )
    scope = sites.site_scope(user)
    if scope is not None:
        query = query.where(Batch.site_id == scope)
    with store_of(request).session() as session:
        rows = session.execute(query.order_by(Order.created_at)).all()
        orders = []
        for order, job in rows:
            b = BatchView.of(job)
            orders.append(
                {
                    "batch_number": b.batch_number,
                    "prescription_id": b.rx.get("id", order.prescription_id),
                    "patient_id": b.rx.get("patient", {}).get("id", ""),
                    "drug": b.rx.get("drug", {}).get("name", ""),
                    "dose": f"{b.dose_mg:g} mg" if b.dose else "",
                    "received": when(order.created_at),
                }
            )
    return orders


def _page(request: Request, user: User, refused: RefusedForm) -> Response:
    """The form: blank, or (`refused`) as it was sent, each message beside its field and the
    tablet the check had worked out."""
    return render(
        request,
        "prescription_new.html",
        user,
        title="New prescription",
        section="prescriptions",
        values=blank_values() | refused.values,
        errors=refused.errors,
        preview=refused.notes.get("preview", ""),
        patient_fields=PATIENT_FIELDS,
        order_fields=ORDER_FIELDS,
        dom_ids={f.name: f.dom_id for f in FIELDS},
        choices={
            "formulation": formulation_choices(),
            "dose.unit": DOSE_UNITS,
            "shape": [(shape.value, shape.label) for shape in shape_choices()],
            "bsa_formula": BSA_FORMULAS,
            "printer": _printer_choices(),
        },
        machines=_machines(request, user),
        orders=_orders(request, user),
        shape_gallery=[shape for shape in shape_choices() if shape.picture],
    )


# an upload's own limit sits below the request limit, so a file too large is refused beside
# its field rather than cut off with the whole form
ENVELOPE_BYTES = 64 * 1024


async def mesh_upload(request: Request) -> MeshUpload | None:
    """The shape file sent with the form (multipart), if one was chosen."""
    form = await request.form()
    sent = form.get("mesh.file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        return None
    limit = settings_of(request).max_request_bytes - ENVELOPE_BYTES
    return MeshUpload(await sent.read(), sent.filename, limit)


Upload = Annotated[MeshUpload | None, Depends(mesh_upload)]


@router.get("/shapes/{name}.png")
def shape_picture(name: str, user: MayEnterPrescription) -> Response:
    """The picture of a bundled shape (made with it by scripts/make_shapes.py)."""
    shape = catalog.bundled_shapes().get(name)
    if shape is None or not Path(shape.picture).is_file():
        return Response("no such shape", status_code=404, media_type="text/plain")
    return FileResponse(shape.picture, media_type="image/png")


def _calibration(request: Request) -> Callable[[Prescription, str, str], float | None]:
    """The approved calibration factor a new batch is designed with (as the CLI and API do)."""

    def factor(rx: Prescription, printer: str, profile_id: str) -> float | None:
        with store_of(request).read_session() as session:
            return calibration.factor_for(session, rx.formulation, printer, profile_id)

    return factor


@router.get(FORM_PAGE)
def new_prescription(request: Request, user: MayEnterPrescription) -> Response:
    return forget_refused(request, _page(request, user, take_refused(request)))


def _check(request: Request, user: User, form: CheckedForm, upload: MeshUpload | None) -> FormCheck:
    return check_form(
        values_from(form),
        _printer_profiles(),
        upload,
        _calibration(request),
        machines={m.name: m.profile_id for m in _machines(request, user)},
        entered_by=user.username,
    )


@router.post("/prescriptions/check")
def check_prescription(
    request: Request, user: MayEnterPrescription, form: CheckedForm, upload: Upload
) -> Response:
    """The live check: messages by field name and the tablet preview line, as JSON."""
    check = _check(request, user, form, upload)
    return JSONResponse({"errors": check.errors, "preview": check.preview()})


@router.post("/prescriptions")
def submit_prescription(
    request: Request, user: MayEnterPrescription, form: CheckedForm, upload: Upload
) -> Response:
    check = _check(request, user, form, upload)
    if not check.ok or check.prescription is None or check.plan is None:
        return _refused(request, check)
    # one registered printer, or the model: any of its printers (checked again as recorded)
    printer = check.values.get("printer_name") or check.values["printer"]
    try:
        # slice and gate the plan the form showed, outside the transaction: the store's writer
        # is not held for seconds
        prepared = gate_plan(check.plan)
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            job = record_gated_batch(
                session,
                actor,
                prepared,
                printer=printer,
                batch_prefix=settings_of(request).batch_prefix,
                windows=settings_of(request).observation_windows,
            )
            batch = job.batch_number
    except refusals() as exc:
        return _refused(
            request,
            FormCheck(
                check.values,
                {_beside(exc, check.values): sentence(exc)},
                check.prescription,
                check.plan,
            ),
        )
    return RedirectResponse(f"/batches/{batch}/review", status_code=303)


def _refused(request: Request, check: FormCheck) -> Response:
    """303 back to the form, which shows every message beside its field, every value typed (a
    shape uploaded by its SHA-256: a browser sends no file twice) and the tablet worked out."""
    notes = {"preview": check.preview()}
    return refused_redirect(request, FORM_PAGE, check.errors, check.values, notes=notes)


def _beside(exc: Exception, values: dict[str, str]) -> str:
    """The field a refusal at recording belongs beside ("" above the form): the machine chosen
    for a refused printer, the field of a questioned measurement."""
    field = getattr(exc, "field", "")
    if field == "printer":
        return "printer_name" if values.get("printer_name") else "printer"
    return field_of(exc) if isinstance(exc, DosingError | InputError) else ""
