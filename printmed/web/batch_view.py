"""A batch as the pages show it: the job's recorded columns, decoded once by the job service
(`snapshot`), with the few figures derived for display (worst gate deviation, tablet size text,
a schedule's steps, which layers to picture, the next step).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed.jobs.service import get_batch, snapshot
from printmed.jobs.states import BatchState
from printmed.records.batch_record import BatchRecord
from printmed.records.record_pdf import schedule_text
from printmed.records.screening import schedule_steps
from printmed.store.models import Batch, User

# what a page offers next, by state: (path under /batches/<b>/, label)
NEXT_STEP = {
    BatchState.DRAFT: ("review", "Review"),
    BatchState.VERIFIED: ("screen", "Clinical screening"),
    BatchState.SCREENED: ("review", "Review and queue"),
    BatchState.RETURNED: ("screen", "Returned: see why"),
    BatchState.QUEUED: ("printers", "Watch the printer"),
    BatchState.PRINTING: ("printers", "Watch the printer"),
    BatchState.PRINTED: ("weigh", "Weigh the units"),
    BatchState.WEIGHED: ("release", "Review for release"),
    BatchState.RELEASED: ("release", "Batch record"),
    BatchState.REJECTED: ("release", "Batch record"),
    BatchState.FAILED: ("release", "Batch record"),
    BatchState.INTERRUPTED: ("release", "Batch record"),
}
Json = dict[str, Any]
# a tablet's recorded dimensions as a reader expects them: across the plate, then height
SIZE_ORDER = (
    "diameter_mm",
    "outer_diameter_mm",
    "hole_diameter_mm",
    "length_mm",
    "width_mm",
    "height_mm",
    "chamfer_mm",
)


@dataclass(frozen=True)
class ShapeFile:
    """A tablet's shape given as a mesh file: the bundled shape's name (`upload-…` for one
    uploaded) and the SHA-256 of the file's bytes, as the batch record holds them."""

    name: str
    sha256: str

    @classmethod
    def of(cls, source_mesh: Json) -> ShapeFile:
        return cls(str(source_mesh["name"]), str(source_mesh["sha256"]))


@dataclass(frozen=True)
class BatchView:
    """One batch's recorded columns; a JSON column not recorded yet is an empty mapping (None
    for the QC, which the pages show as "not weighed yet")."""

    batch_number: str
    state: BatchState
    printer: str
    profile_id: str
    rx: Json  # the prescription as entered
    lot: Json  # the formulation lot
    dose: Json
    design: Json
    gate: Json
    gcode_sha256: str | None
    parameters: Json
    firmware: Json
    stream_report: Json
    weights: Json
    qc: Json | None
    claimed_by: str | None
    created_by: str
    created_at: str
    # the master-file versions the batch was made with: kind → key, version, id, sha256
    master_pins: Json = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, job: Batch) -> BatchView:
        recorded = snapshot(job)
        return cls(
            batch_number=recorded["batch_number"],
            state=BatchState(recorded["state"]),
            printer=recorded["printer"],
            profile_id=recorded["profile_id"],
            rx=recorded["prescription_json"] or {},
            lot=recorded["formulation_json"] or {},
            dose=recorded["dose_json"] or {},
            design=recorded["design_json"] or {},
            gate=recorded["gate_json"] or {},
            gcode_sha256=recorded["gcode_sha256"],
            parameters=recorded["parameters_json"] or {},
            firmware=recorded["firmware_json"] or {},
            stream_report=recorded["stream_report_json"] or {},
            weights=recorded["weights_json"] or {},
            qc=recorded["qc_json"],
            claimed_by=recorded["claimed_by"],
            created_by=recorded["created_by"],
            created_at=recorded["created_at"],
            master_pins=recorded["master_pins_json"] or {},
        )

    @property
    def tablets(self) -> list[Json]:
        return list(self.gate.get("tablets", []))

    @property
    def steps(self) -> list[Json]:
        """A schedule's steps, each as ordered, dosed (own trail) and designed; empty for an
        order of one dose (`dose` and `design` are then the whole of it)."""
        return schedule_steps(self.rx, self.dose, self.design)

    @property
    def schedule_text(self) -> str:
        """A schedule in one line (`10 mg 2 a day for 7 days, then …`); "" for one dose."""
        return schedule_text(self.rx["schedule"]) if self.rx.get("schedule") else ""

    @property
    def drug_name(self) -> str:
        return str(self.lot.get("drug_name") or self.rx.get("drug", {}).get("name", ""))

    @property
    def dose_mg(self) -> float:
        return float(self.dose.get("dose_mg", 0.0))

    @property
    def recorded_weights_mg(self) -> list[float]:
        return list(self.weights.get("weights_mg", []))

    @property
    def worst_deviation_percent(self) -> float:
        return max((t["deviation"] * 100 for t in self.tablets), key=abs, default=0.0)

    @property
    def print_time_s(self) -> float | None:
        return self.parameters.get("estimated_print_time_s")

    @property
    def size_text(self) -> str:
        """The tablet's sizes in mm, across first and height last (`9.98 × 9.15 × 3.00`), as
        the form's preview gives them, whatever order the record's JSON keeps them in."""
        dims = self.design.get("dimensions_mm", {})
        ordered = sorted(dims, key=lambda k: SIZE_ORDER.index(k) if k in SIZE_ORDER else 99)
        return " × ".join(f"{dims[key]:.2f}" for key in ordered)

    @property
    def shape_files(self) -> list[ShapeFile]:
        """The mesh files the tablets were scaled from, each once (the hash the record holds);
        empty for a built-in shape."""
        designs = self.design.get("steps") or [self.design]
        files = [ShapeFile.of(d["source_mesh"]) for d in designs if d.get("source_mesh")]
        return list(dict.fromkeys(files))

    @property
    def layer_numbers(self) -> list[int]:
        """First, second, a middle and the top layer (1-based), without repeats."""
        layers = int(self.design.get("layers", 0))
        wanted = [1, 2, (layers + 1) // 2, layers]
        return [n for i, n in enumerate(wanted) if 1 <= n <= layers and n not in wanted[:i]]

    @property
    def next_step(self) -> tuple[str, str]:
        page, label = NEXT_STEP[self.state]
        href = "/printers" if page == "printers" else f"/batches/{self.batch_number}/{page}"
        return href, label


def load_batch(session: Session, batch_number: str) -> BatchView:
    """The batch's recorded columns; UnknownBatch (a refusal) if there is none."""
    return BatchView.of(get_batch(session, batch_number))


def person(full_name: str, username: str) -> str:
    """A staff member as a reviewer reads them, with the name the trail keeps: `Alex Fictional
    (alex)`."""
    return f"{full_name} ({username})"


def with_people_named(session: Session, record: BatchRecord) -> BatchRecord:
    """The record with each actor of its trail and corrections who is a staff member shown as
    `person` (a service, such as `system` or a worker, as recorded); the record is unchanged."""
    actors = {e["actor"] for e in record.trail} | {
        c["actor"] for changes in record.corrections.values() for c in changes
    }
    rows = session.execute(select(User.username, User.full_name).where(User.username.in_(actors)))
    named = {username: person(full_name, username) for username, full_name in rows}

    def shown(entry: dict[str, Any]) -> dict[str, Any]:
        return entry | {"actor": named.get(entry["actor"], entry["actor"])}

    return dataclasses.replace(
        record,
        trail=[shown(e) for e in record.trail],
        corrections={column: [shown(c) for c in cs] for column, cs in record.corrections.items()},
    )
