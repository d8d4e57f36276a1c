"""The batch record as a PDF: every recorded field, QC per unit, corrections, signatures with
their meaning and digital signatures, the signed checkpoints of the audit chain kept outside the
database, and the whole audit trail, for the reviewer and the archive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fpdf.enums import XPos, YPos

from printmed.records.batch_record import BatchRecord
from printmed.records.document import Document
from printmed.records.pharmacy import Pharmacy
from printmed.records.qc import qc_parts


class RecordPdf(Document):
    def __init__(self, record: BatchRecord, pharmacy: Pharmacy) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.record = record
        self.pharmacy = pharmacy
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(f"Batch record {record.batch_number}")

    def header(self) -> None:
        self.font(8)
        self.cell(
            0,
            5,
            self.safe(f"{self.pharmacy.name} — batch record {self.record.batch_number}"),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.ln(1)

    def footer(self) -> None:
        self.set_y(-12)
        self.font(7)
        chain = self.record.integrity.chain
        state = "intact" if self.record.integrity.intact else "NOT INTACT"
        # The head's hash on paper anchors the chain: a later rewrite of it cannot match.
        self.cell(
            0,
            5,
            self.safe(
                f"audit chain {state} through entry {chain.entries}, head "
                f"{chain.head_hash[:16]}; page {self.page_no()}/{{nb}}"
            ),
            align="C",
        )

    def heading(self, text: str) -> None:
        self.ln(2)
        self.font(11, bold=True)
        self.cell(0, 6, self.safe(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.font(8.5)

    def pairs(self, rows: list[tuple[str, Any]]) -> None:
        for label, value in rows:
            self.font(8.5, bold=True)
            self.cell(56, 4.6, self.safe(label))
            self.font(8.5)
            self.multi_cell(0, 4.6, self.safe(_text(value)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def grid(self, headings: list[str], rows: list[list[Any]], widths: list[float]) -> None:
        self.font(7.5)
        with self.table(
            col_widths=widths, text_align="LEFT", line_height=4, first_row_as_headings=True
        ) as table:
            table.row([self.safe(h) for h in headings])
            for row in rows:
                table.row([self.safe(_text(cell)) for cell in row])
        self.font(8.5)


# the prescriber's maxima as the native prescription names them, and how to read each
PRESCRIBED_MAXIMA = (("max_single_dose_mg", "mg a dose"), ("max_daily_dose_mg", "mg a day"))
# body measurements as recorded (dosing.prescription.Measurement), with the value the dose used
MEASUREMENTS = (
    ("weight", "Body weight", "weight_kg", "kg"),
    ("height", "Body height", "height_cm", "cm"),
)


@dataclass(frozen=True)
class RecordedMeasurement:
    """A body measurement as the order gave it: the value and unit as written, what the dose
    used (converted exactly, in `used_unit`), when it was measured, its status and its source."""

    what: str  # "Body weight", "Body height"
    value: float
    unit: str  # UCUM, as written: kg, g, [lb_av], cm, m, [in_i]
    used: float | None
    used_unit: str
    effective: str  # ISO 8601, as recorded
    status: str
    source: str

    @property
    def as_written(self) -> str:
        return f"{number(self.value)} {self.unit}"

    @property
    def text(self) -> str:
        converted = (
            f" (= {number(self.used)} {self.used_unit})"
            if self.used is not None and self.unit != self.used_unit
            else ""
        )
        return (
            f"{self.as_written}{converted}, measured {self.effective}, status {self.status}, "
            f"source {self.source}"
        )


def number(value: float) -> str:
    """A recorded number as it was written: no exponent, no trailing zeros (12400, 27.34)."""
    return format(value, ".15g")


def recorded_measurements(prescription: Mapping[str, Any]) -> list[RecordedMeasurement]:
    """The body measurements the order carried as records (none for numbers typed at a form)."""
    patient = prescription.get("patient") or {}
    found = []
    for key, what, used_key, used_unit in MEASUREMENTS:
        record = patient.get(key)
        if isinstance(record, Mapping):
            found.append(
                RecordedMeasurement(
                    what,
                    record["value"],
                    record["unit"],
                    patient.get(used_key),
                    used_unit,
                    str(record.get("effective", "")),
                    str(record.get("status", "")),
                    str(record.get("source", "")),
                )
            )
    return found


def prescribed_maxima(prescription: Mapping[str, Any]) -> str:
    """The prescriber's maxima as one phrase ("12.5 mg a dose; 25 mg a day"), or "none"."""
    given = [
        f"{number(prescription[key])} {per}"
        for key, per in PRESCRIBED_MAXIMA
        if prescription.get(key) is not None
    ]
    return "; ".join(given) or "none"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return "—" if value is None else str(value)


def reconciliation_rows(r: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The reconciliation as the record (PDF and page) states it: units, material, stock."""
    each = r["mass_per_tablet_mg"]
    length = (
        f"{r['filament_mm']:.1f} mm of filament"
        if r["filament_mm"] is not None
        else f"{r['paste_ml']:.4f} mL of paste"
    )
    return [
        (
            "Units",
            f"planned {r['planned']}, printed {r['printed']}, weighed {r['weighed']}, "
            f"rejected {len(r['rejected'])}, released {r['released']}",
        ),
        *[(f"Rejected unit {x['unit']}", f"{x['reason']} ({x['actor']})") for x in r["rejected"]],
        (
            "Material",
            f"{(min(each) if each else 0):.2f}–{(max(each) if each else 0):.2f} mg per tablet; "
            f"{r['material_mg']:.1f} mg in all ({length}), "
            f"prime line {r.get('prime_mg', 0.0):.1f} mg of it",
        ),
        (
            f"Lot {r['lot']}",
            f"drawn {r['drawn_g']:.3f} g; received {r['lot_received_g']:.3f} g, used "
            f"{r['lot_used_g']:.3f} g, remaining {r['lot_remaining_g']:.3f} g",
        ),
        (
            "Calibration",
            f"factor {r['calibration']['factor']:.4f}: {r['calibration']['named']}"
            if r.get("calibration")
            else "not recorded",
        ),
        (
            "Reconciled",
            "yes" if r["reconciled"] else "NO: " + "; ".join(r["problems"]),
        ),
    ]


def schedule_text(schedule: list[dict[str, Any]]) -> str:
    """A schedule in one line: `10 mg 2 a day for 7 days, then 7.5 mg …`."""
    return ", then ".join(
        f"{s['dose']['value']:g} {s['dose']['unit']} {s['frequency_per_day']} a day "
        f"for {s['days']} days"
        for s in schedule
    )


def master_pin_rows(pins: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """The master-file versions a batch was made with, one row per kind (its key, version,
    version id and content SHA-256), or one row saying it pins none."""
    if not pins:
        return [("Pinned versions", "none (made before the master file was versioned)")]
    return [
        (kind, f"{pin['key']} v{pin['version']} (id {pin['id']}), SHA-256 {pin['sha256']}")
        for kind, pin in sorted(pins.items())
    ]


def batch_record_pdf(record: BatchRecord, pharmacy: Pharmacy) -> bytes:
    """The PDF document (bytes) of `record`."""
    pdf = RecordPdf(record, pharmacy)
    pdf.alias_nb_pages()
    pdf.add_page()
    f = record.fields
    rx, lot = f["prescription_json"], f["formulation_json"]
    dose, design = f.get("dose_json") or {}, f.get("design_json") or {}
    params, firmware = f.get("parameters_json") or {}, f.get("firmware_json") or {}
    report, qc = f.get("stream_report_json") or {}, f.get("qc_json") or {}

    pdf.font(15, bold=True)
    pdf.cell(
        0, 9, pdf.safe(f"Batch record {record.batch_number}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.pairs(
        [
            ("State", f["state"].upper()),
            (
                "Audit trail",
                "intact"
                if record.integrity.intact
                else "NOT INTACT: "
                + (record.integrity.chain.problem or "; ".join(record.integrity.problems)),
            ),
            ("Entered", f"{f['created_at']} by {f['created_by']}"),
        ]
    )

    pdf.heading("Prescription")
    measured = recorded_measurements(rx)
    pdf.pairs(
        [
            ("Prescription", rx["id"]),
            # the measurements as recorded have rows of their own below
            ("Patient", {k: v for k, v in rx["patient"].items() if k not in ("weight", "height")}),
            ("Drug", f"{rx['drug']['name']} ({rx['drug'].get('code') or 'no code'})"),
            ("Dose ordered", f"{rx['dose']['value']} {rx['dose']['unit']}"),
            *([("Schedule", schedule_text(rx["schedule"]))] if rx.get("schedule") else []),
            ("Prescribed maxima", prescribed_maxima(rx)),
            *((f"{m.what} as recorded", m.text) for m in measured),
            (
                "Supply",
                f"{rx['units']} units, {rx['frequency_per_day']} a day, shape {rx['shape']}",
            ),
        ]
    )

    # a schedule's steps each with its dose and trail; a single dose as itself
    for part in dose.get("steps") or ([dose] if dose else []):
        pdf.heading(
            "Dose and calculation trail"
            + (
                f": step {part['step']}, days {part['first_day']} to {part['last_day']}"
                if "step" in part
                else ""
            )
        )
        pdf.pairs(
            [
                (
                    "Dose per unit",
                    f"{_text(part.get('dose_mg'))} mg "
                    f"(calculated {_text(part.get('calculated_mg'))}"
                    f" mg, rounding {_text(part.get('rounding_difference_mg'))} mg)",
                ),
                ("Capped", part.get("capped")),
            ]
        )
        steps = part.get("trail") or []
        if steps:
            pdf.grid(
                ["step", "formula", "inputs", "result"],
                [
                    [s["step"], s["formula"], s["inputs"], f"{s['result']:.6g} {s['unit']}"]
                    for s in steps
                ],
                [25, 55, 75, 25],
            )

    pdf.heading("Formulation lot")
    pdf.pairs(
        [
            ("Lot", f"{lot['lot']} ({lot['id']}), {lot.get('manufacturer')}"),
            ("Assay", f"{lot.get('assay_percent')} %"),
            (
                "Loading / density",
                f"{lot['loading_percent_w_w']} % w/w, {lot['density_g_cm3']} g/cm³",
            ),
            ("Calibration factor", lot.get("calibration_factor")),
            ("Expiry", lot["expiry"]),
        ]
    )

    pdf.heading("Master file versions")
    pdf.pairs(master_pin_rows(f.get("master_pins_json")))

    for tablet in design.get("steps") or ([design] if design else []):
        pdf.heading("Tablet design" + (f": step {tablet['step']}" if "step" in tablet else ""))
        pdf.pairs(
            [
                ("Shape", tablet.get("shape")),
                ("Shape file SHA-256", (tablet.get("source_mesh") or {}).get("sha256", "built in")),
                ("Dimensions", tablet.get("dimensions_mm")),
                (
                    "Volume",
                    f"{_text(tablet.get('volume_mm3'))} mm³ in {tablet.get('layers')} layers",
                ),
                ("Units", tablet.get("units_total")),
            ]
        )

    pdf.heading("Printer and process parameters")
    pdf.pairs(
        [
            ("Printer", f"{f['printer']} (profile {f['profile_id']})"),
            ("Printer serial", f.get("printer_serial") or "–"),
            ("Firmware (M115)", firmware.get("name") if firmware else "not yet connected"),
            ("Firmware fields", firmware.get("fields") if firmware else None),
        ]
    )
    pdf.pairs([(k, v) for k, v in params.items() if k != "printer_profile"])

    pdf.heading("G-code and dose gate")
    gate = f.get("gate_json") or {}
    prime = gate.get("prime_volume_mm3")
    primed = f"{prime:.4f} mm3 (at most {gate.get('prime_max_volume_mm3', 0):g})" if prime else None
    pdf.pairs(
        [
            ("SHA-256", f.get("gcode_sha256")),
            ("Lines", record.gcode_lines),
            ("Prime line (no tablet)", primed or "none"),
        ]
    )
    tablets = gate.get("tablets") or []
    if tablets:
        pdf.grid(
            ["tablet", "target mg", "G-code mg", "deviation"],
            [
                [
                    t.get("index", n),
                    t.get("target_mg"),
                    t.get("gcode_mg"),
                    f"{100 * t.get('deviation', 0):+.3f} %" if "deviation" in t else "—",
                ]
                for n, t in enumerate(tablets)
            ],
            [30, 50, 50, 50],
        )

    pdf.heading("Stream report")
    if report:
        temps = report.get("temperature_log") or []
        pdf.pairs(
            [
                (k, report.get(k))
                for k in (
                    "state",
                    "complete",
                    "lines_total",
                    "lines_sent",
                    "lines_acknowledged",
                    "extrusion_lines_acknowledged",
                    "resends",
                    "timeouts",
                    "last_acknowledged_line",
                    "started_at",
                    "ended_at",
                    "reason",
                )
                if k in report
            ]
            + [
                (
                    "Temperature log",
                    f"{len(temps)} samples"
                    + (f"; first {_text(temps[0])}; last {_text(temps[-1])}" if temps else ""),
                )
            ]
        )
    else:
        pdf.pairs([("Stream", "not printed yet")])

    pdf.heading("Quality control (unit weights)")
    if qc:
        # a schedule's units are judged step by step, each against its own dose
        for heading, part in qc_parts(qc):
            if heading:
                pdf.heading(f"Quality control: {heading}")
            _qc_part(pdf, part)
        pdf.pairs(
            [
                (
                    "QC result",
                    ("PASS" if qc["passed"] else "FAIL")
                    + (" (every step)" if qc.get("steps") else ""),
                )
            ]
        )
    else:
        pdf.pairs([("QC", "not weighed yet")])

    if record.reconciliation is not None:
        pdf.heading("Reconciliation")
        pdf.pairs(reconciliation_rows(record.reconciliation))

    pdf.heading("Changes since first entry (corrections)")
    rows = [
        [c["seq"], column, c["changed"], c["actor"], c["reason"]]
        for column, changes in record.corrections.items()
        for c in changes
    ]
    if rows:
        pdf.grid(["entry", "field", "what changed", "who", "reason"], rows, [13, 24, 78, 20, 45])
    else:
        pdf.pairs([("Changes", "none: every value is as first entered")])

    pdf.heading("Deviations")
    if record.deviations:
        pdf.grid(
            ["entry", "when", "who", "what happened", "reason / action"],
            [
                [d["seq"], d["at"], d["actor"], d["description"], d["reason"]]
                for d in record.deviations
            ],
            [15, 40, 25, 55, 55],
        )
    else:
        pdf.pairs([("Deviations", "none recorded")])

    pdf.heading("Clinical screening")
    decided = {"record.screen": "screened", "record.return": "returned"}
    screenings = [e for e in record.trail if e["action"] in decided]
    if screenings:
        pdf.grid(
            ["entry", "when", "pharmacist", "decision", "note / reason"],
            [
                [e["seq"], e["at"], e["actor"], decided[e["action"]], e["reason"]]
                for e in screenings
            ],
            [15, 40, 25, 25, 85],
        )
    else:
        pdf.pairs([("Screening", "none recorded")])

    pdf.heading("Electronic signatures")
    if record.signatures:
        pdf.grid(
            ["meaning", "printed name", "user", "signed at", "record hash", "Ed25519 (key)"],
            [
                [
                    s["meaning"].upper(),
                    s["printed_name"],
                    s["username"],
                    s["signed_at"],
                    s["record_hash"][:20] + "…",
                    (s["digital_signature"] or "none")[:16] + f"… ({s['user_key_id']})",
                ]
                for s in record.signatures
            ],
            [20, 34, 18, 40, 34, 34],
        )
    else:
        pdf.pairs([("Signatures", "none")])

    # On paper, a checkpoint lets a verifier with only the service public key tell whether the
    # chain in the database is still the one that was signed.
    pdf.heading("Audit chain checkpoints (signed, kept outside the database)")
    if record.checkpoints:
        for checkpoint in record.checkpoints:
            pdf.pairs(
                [
                    ("Entry / signed at", f"{checkpoint['seq']} / {checkpoint['at']}"),
                    ("Chain", checkpoint["chain_id"]),
                    ("Head hash", checkpoint["head_hash"]),
                    ("Service key", checkpoint["key_id"]),
                    ("Signature", checkpoint["signature"]),
                ]
            )
    else:
        pdf.pairs([("Checkpoints", "none yet covers this record's last entry")])

    pdf.heading("Audit trail")
    pdf.grid(
        ["#", "when (UTC)", "who", "what", "why", "hash"],
        [
            [e["seq"], e["at"], e["actor"], e["action"], e["reason"], e["entry_hash"][:12]]
            for e in record.trail
        ],
        [10, 42, 25, 32, 50, 21],
    )
    return bytes(pdf.output())


def _qc_part(pdf: RecordPdf, part: Mapping[str, Any]) -> None:
    """One assessment's units and its 2.9.5 / 2.9.40 figures (a batch, or one step)."""
    mass, av = part.get("mass_uniformity"), part.get("acceptance_value")
    first = int(part.get("first_unit", 1))
    pdf.grid(
        ["unit", "mass mg", "deviation", "content mg", "% of label"],
        [
            [
                first + n,
                f"{w:.2f}",
                f"{mass['deviations_percent'][n]:+.2f} %" if mass else "",
                f"{part['contents_mg'][n]:.3f}",
                f"{part['contents_percent'][n]:.1f}",
            ]
            for n, w in enumerate(part["weights_mg"])
        ],
        [20, 40, 40, 40, 40],
    )
    if mass is None or av is None:
        pdf.pairs([("Not assessed", f"{part['units_weighed']} units weighed: FAIL")])
        return
    limits = part.get("unit_limits")
    pdf.pairs(
        [
            ("Target unit mass", f"{part['target_unit_mass_mg']:.2f} mg"),
            (
                "Ph. Eur. 2.9.5",
                f"mean {mass['mean_mg']:.2f} mg, limit ±{mass['limit_percent']} %,"
                f" {mass['outside_limit']} outside, "
                f"{mass['outside_twice_limit']} outside twice: "
                f"{'PASS' if mass['passed'] else 'FAIL'}",
            ),
            (
                "Ph. Eur. 2.9.40",
                f"AV {av['value']:.2f} (k {av['k']}, mean {av['mean_percent']:.2f} %"
                f", s {av['sd_percent']:.2f} %): {'PASS' if av['passed'] else 'FAIL'}",
            ),
            ("Reduced sample", part.get("reduced_sample")),
        ]
        + (
            [
                (
                    "Each unit (under 10)",
                    f"{limits['outside']} outside {limits['low_percent']:g}–"
                    f"{limits['high_percent']:g} %: {'PASS' if limits['passed'] else 'FAIL'}",
                )
            ]
            if limits
            else []
        )
        + [("Result", "PASS" if part["passed"] else "FAIL")]
    )
