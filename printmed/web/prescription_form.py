"""The new-prescription form's check: what was typed (intake.form), then the dose and tablet
design (manufacture, stopped after design), with every message next to its field.

The same check runs live (as the technician types) and on submit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dosing.errors import DosingError
from dosing.prescription import Prescription
from gcode.errors import GcodeError
from printmed import catalog
from printmed.errors import InputError
from printmed.intake.form import UPLOADED, field_label, field_of, read_form, sentence
from printmed.manufacture import TabletPlan, plan_tablet


@dataclass(frozen=True)
class FormCheck:
    """What the form holds: the prescription (if valid), the plan, and messages by field name.

    errors: field name → message; the key "" holds a problem no single field owns.
    """

    values: dict[str, str]
    errors: dict[str, str]
    prescription: Prescription | None = None
    plan: TabletPlan | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.plan is not None

    def preview(self) -> str:
        """One line for the technician: the dose and the tablet, once both are known."""
        if self.plan is None:
            return ""
        design = self.plan.design
        size = " × ".join(f"{v:.2f}" for v in design.dimensions_mm.values())
        return (
            f"{self.plan.dose.dose_mg:g} mg per dose → {design.shape} {size} mm, "
            f"{design.units_per_dose} per dose, {design.units_total} units"
        )


@dataclass(frozen=True)
class MeshUpload:
    """A shape file sent with the form: its bytes and name, and the most the service takes."""

    data: bytes
    filename: str
    max_bytes: int


def check_form(
    values: Mapping[str, str],
    printers: Mapping[str, str],
    upload: MeshUpload | None = None,
    calibration_for: Callable[[Prescription, str, str], float | None] | None = None,
    *,
    machines: Mapping[str, str] | None = None,
    entered_by: str = "",
) -> FormCheck:
    """Every problem with the form; the plan (dose and design) when there is none.

    printers: printer name → its profile id, the printers that may be chosen.
    machines: registered printer → its profile id, those that may be chosen under "Which
    machine" (in service at the user's site); the one chosen must be of the printer chosen.
    calibration_for: (prescription, printer, profile id) → the approved calibration factor of
    the lot on that printer, or None for the lot's own; the plan is designed with it.
    upload: a shape file sent with the form: checked and kept (its SHA-256 then fills
    `mesh.sha256` and the uploaded shape is chosen), or refused beside its field.
    entered_by: the username of who types it (the source of the measurements typed).
    """
    values = dict(values)
    if upload is not None:
        try:
            shape = catalog.store_uploaded_mesh(upload.data, upload.filename, upload.max_bytes)
        except (DosingError, GcodeError, InputError) as exc:
            rx, errors = read_form(values, entered_by)
            return FormCheck(values, {**errors, "mesh.file": sentence(exc)}, rx)
        values["mesh.sha256"], values["shape"] = shape.sha256, UPLOADED
    rx, errors = read_form(values, entered_by)
    if not values.get("printer"):
        errors["printer"] = f"{field_label('printer')} is required"
    elif values["printer"] not in printers:
        errors["printer"] = f"Printer {values['printer']!r} is not one of this pharmacy's printers"
    machine = values.get("printer_name", "")
    if machine:
        problem = machine_problem(machine, printers.get(values.get("printer", "")), machines or {})
        if problem:
            errors["printer_name"] = problem
    if rx is None or errors:
        return FormCheck(values, errors, rx)
    try:
        printer, profile_id = machine or values["printer"], printers[values["printer"]]
        factor = calibration_for(rx, printer, profile_id) if calibration_for else None
        plan = plan_tablet(rx, profile_id, calibration_factor=factor)
    except (DosingError, GcodeError, InputError) as exc:  # GcodeError: printer of another process
        return FormCheck(values, {field_of(exc): sentence(exc)}, rx)
    return FormCheck(values, {}, rx, plan)


def machine_problem(name: str, profile_id: str | None, machines: Mapping[str, str]) -> str:
    """What is wrong with the machine chosen for a batch of `profile_id` ("" when nothing);
    the job service checks it against the register again as it records the batch."""
    label = field_label("printer_name")
    if name not in machines:
        return f"{label}: {name!r} is not a printer of your site in service"
    if profile_id is not None and machines[name] != profile_id:
        return (
            f"{label}: {name} is a printer of profile {machines[name]}, not {profile_id} "
            "(chosen under Printer)"
        )
    return ""
