"""The dispensing label (PDF, 100 × 70 mm): patient, drug and strength per unit, directions,
quantity, batch, expiry, the pharmacy, the children warning and a QR code of the batch number.

A batch not yet released gets a label marked NOT RELEASED, so it cannot be mistaken for one.
A schedule (a taper, a titration) gets one label per step, for the container of that step's
tablets: its strength, which days, and which step comes before and after it.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import segno
from fpdf.enums import XPos, YPos

from printmed.records.batch_record import BatchRecord
from printmed.records.document import Document
from printmed.records.pharmacy import Pharmacy

LABEL_MM = (100.0, 70.0)
QR_MM = 22.0
# Beyond-use period of a printed unit when the lot's own expiry is later (pharmacy policy).
BEYOND_USE_DAYS = 30
CHILDREN_WARNING = "Keep out of the reach and sight of children"
TIMES_A_DAY = {1: "ONCE a day", 2: "TWICE a day", 3: "THREE times a day", 4: "FOUR times a day"}


def expiry_date(record: BatchRecord) -> dt.date:
    """The earlier of the lot's expiry and the date made plus BEYOND_USE_DAYS."""
    made = dt.datetime.fromisoformat(record.fields["created_at"]).date()
    lot_expiry = dt.date.fromisoformat(str(record.fields["formulation_json"]["expiry"]))
    return min(lot_expiry, made + dt.timedelta(days=BEYOND_USE_DAYS))


def _times_a_day(frequency: int) -> str:
    return TIMES_A_DAY.get(frequency, f"{frequency} times a day")


def _tablets(n: int) -> str:
    return f"{n} {'tablet' if n == 1 else 'tablets'}"


def step_labels(record: BatchRecord) -> list[dict[str, Any]]:
    """One label's text per step of a schedule (none for a single dose): the strength, the
    days of the course it covers, how many to take how often, how many are in its container."""
    rx = record.fields["prescription_json"]
    steps = (record.fields.get("design_json") or {}).get("steps") or []
    doses = (record.fields.get("dose_json") or {}).get("steps") or []
    if not rx.get("schedule") or not steps:
        return []
    drug, total_days = rx["drug"]["name"].capitalize(), sum(s["days"] for s in rx["schedule"])
    labels = []
    for design, dose in zip(steps, doses, strict=True):
        n, last = int(dose["step"]), len(steps)
        units, frequency = int(design["units_per_dose"]), int(dose["frequency_per_day"])
        after = "Then stop." if n == last else f"Then start step {n + 1}."
        labels.append(
            {
                "step": n,
                "medicine": f"{drug} {design['dose_mg']:g} mg printed tablets (step {n} of {last})",
                "directions": f"Days {dose['first_day']} to {dose['last_day']} of "
                f"{total_days}: take {_tablets(units)} {_times_a_day(frequency)} "
                f"({design['dose_per_administration_mg']:g} mg a dose). {after}",
                "quantity": _tablets(int(design["units_total"])),
            }
        )
    return labels


def label_lines(record: BatchRecord) -> dict[str, Any]:
    """What the label says, as data (the API and pages can show the same); a schedule's steps,
    one label each, under `steps`, and the course in `directions`."""
    steps = step_labels(record)
    rx = record.fields["prescription_json"]
    design = record.fields.get("design_json") or {}
    dose = record.fields.get("dose_json") or {}
    per_unit_mg = design.get("dose_mg", dose.get("dose_mg"))
    units_per_dose = int(design.get("units_per_dose") or 1)
    quantity = int(design.get("units_total") or rx["units"])
    frequency = int(rx["frequency_per_day"])
    how_often = TIMES_A_DAY.get(frequency, f"{frequency} times a day")
    patient = rx["patient"]
    if steps:
        strengths = ", ".join(step["medicine"].split(" printed")[0] for step in steps)
        return {
            "patient": patient.get("name") or patient["id"],
            "medicine": f"{strengths} printed tablets",
            "directions": f"A course of {len(steps)} steps over "
            f"{sum(s['days'] for s in rx['schedule'])} days: finish each step's tablets before "
            "the next; see each container's label",
            "quantity": f"{quantity} tablets",
            "batch": record.batch_number,
            "expiry": expiry_date(record).isoformat(),
            "released": record.fields["state"] == "released",
            "steps": steps,
        }
    return {
        "patient": patient.get("name") or patient["id"],
        "medicine": f"{rx['drug']['name'].capitalize()} {per_unit_mg:g} mg printed tablets",
        "directions": f"Take {units_per_dose} {'tablet' if units_per_dose == 1 else 'tablets'} "
        f"{how_often}",
        "quantity": f"{quantity} tablets",
        "batch": record.batch_number,
        "expiry": expiry_date(record).isoformat(),
        "released": record.fields["state"] == "released",
    }


def label_pdf(record: BatchRecord, pharmacy: Pharmacy) -> bytes:
    """The label of `record` as a PDF (bytes): one page, or one page per step of a schedule;
    `pharmacy` (records.pharmacy.pharmacy_of) is who dispenses it."""
    lines = label_lines(record)
    # fpdf2 swaps a tuple format for "landscape"; (width, height) as given needs "portrait".
    pdf = Document(orientation="portrait", unit="mm", format=LABEL_MM)
    pdf.set_margins(4, 4, 4)
    pdf.set_auto_page_break(auto=False)
    for step in lines.get("steps") or [{}]:
        _label_page(pdf, record, lines | step, pharmacy)
    return bytes(pdf.output())


def _label_page(
    pdf: Document, record: BatchRecord, lines: dict[str, Any], pharmacy: Pharmacy
) -> None:
    pdf.add_page()
    width = LABEL_MM[0] - 8 - QR_MM - 2
    pdf.font(10, bold=True)
    pdf.multi_cell(
        width, 4.4, pdf.safe(lines["medicine"]), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.font(9)
    pdf.multi_cell(
        width, 4.2, pdf.safe(lines["directions"]), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(0.8)
    pdf.font(8)
    for label, key in (
        ("Patient", "patient"),
        ("Quantity", "quantity"),
        ("Batch", "batch"),
        ("Expiry", "expiry"),
    ):
        pdf.font(8, bold=True)
        pdf.cell(15, 3.8, label)
        pdf.font(8)
        pdf.cell(width - 15, 3.8, pdf.safe(lines[key]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    qr = io.BytesIO()
    segno.make(record.batch_number, error="m").save(qr, kind="png", scale=8, border=2)
    qr.seek(0)
    pdf.image(qr, x=LABEL_MM[0] - 4 - QR_MM, y=4, w=QR_MM, h=QR_MM)
    pdf.set_xy(4, 43)
    pdf.font(8, bold=True)
    pdf.cell(0, 4, CHILDREN_WARNING, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.font(7)
    pdf.cell(0, 3.4, pdf.safe(pharmacy.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(
        0, 3.2, pdf.safe(pharmacy.address), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    if not lines["released"]:
        pdf.set_text_color(200, 0, 0)
        pdf.font(9, bold=True)
        pdf.set_xy(4, LABEL_MM[1] - 8)
        pdf.cell(
            0,
            4,
            "NOT RELEASED — DO NOT DISPENSE" if pdf.unicode else "NOT RELEASED - DO NOT DISPENSE",
            align="C",
        )
