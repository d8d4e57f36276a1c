"""A batch's reconciliation: units planned, printed, weighed, rejected (with reasons) and
released, and the material it used (per tablet and in all) drawn from its lot's stock.

A batch is released only reconciled: every planned unit is either printed and released or
rejected with a reason (`check_reconciled`, one of `records.release.check_releasable`'s).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs import calibration, stock
from printmed.jobs.service import column_value
from printmed.jobs.states import BatchState
from printmed.records.weighing import unit_count
from printmed.store.models import AuditEntry, Batch, StoredGcode, User

REJECT_UNITS_ACTION = calibration.UNITS_REJECTED
PRINTED_STATES = frozenset({BatchState.PRINTED, BatchState.WEIGHED, BatchState.RELEASED})
CLOSE_LABEL = "M486 S-1"
PRIME_NAME_LINE = "M486 Aprime"


class Unreconciled(InputError):
    """Units of the batch are neither released nor rejected with a reason."""


@dataclass(frozen=True)
class Reconciliation:
    """What the batch record states about its units and its material.

    Volumes in mm³ (read back from the stored G-code by the gate), masses in mg, stock in g;
    `filament_mm` for FDM lots (length of filament of the lot's diameter), `paste_ml` for SSE.
    The prime line's material (`prime_volume_mm3`, on no tablet) is in the totals.
    """

    batch_number: str
    planned: int
    printed: int
    weighed: int
    rejected: tuple[dict[str, Any], ...]
    released: int
    lot: str
    volume_per_tablet_mm3: tuple[float, ...]
    mass_per_tablet_mg: tuple[float, ...]
    material_mg: float  # tablets and prime line
    filament_mm: float | None
    paste_ml: float | None
    drawn_g: float
    lot_received_g: float
    lot_used_g: float
    lot_remaining_g: float
    prime_volume_mm3: float = 0.0
    prime_mg: float = 0.0
    # the calibration factor the batch was designed with, and the approval it came from
    calibration: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = field(default=())

    @property
    def reconciled(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reconciled": self.reconciled}


def rejected_units(session: Session, batch_number: str) -> list[dict[str, Any]]:
    """Each unit set aside (1-based unit number), with who, when and why, in the order given."""
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.batch_number == batch_number, AuditEntry.action == REJECT_UNITS_ACTION)
        .order_by(AuditEntry.seq)
    ).all()
    return [
        {"unit": unit, "reason": e.reason, "actor": e.actor, "at": e.at}
        for e in entries
        for unit in json.loads(e.new_json)["units"]
    ]


def reject_units(
    session: Session, job: Batch, actor: User, units: list[int], reason: str
) -> list[dict[str, Any]]:
    """Set units of a printed or weighed batch aside (lifted, chipped, off weight), each
    named by its number on the plate, with the reason; an audit entry. Returns every rejection."""
    require(actor, Action.REJECT_UNITS)
    if job.state not in (BatchState.PRINTED, BatchState.WEIGHED):
        raise InputError("batch", job.batch_number, f"is {job.state}; only a printed batch's units")
    reason = audit.required_reason(reason)
    total = unit_count(job)
    if not units:
        raise InputError("units", "", "name at least one unit")
    already = {r["unit"] for r in rejected_units(session, job.batch_number)}
    for unit in units:
        if not 1 <= unit <= total:
            raise InputError("units", unit, f"is not a unit of {job.batch_number} (1–{total})")
        if unit in already:
            raise InputError("units", unit, "is already rejected")
    if len(set(units)) != len(units):
        raise InputError("units", units, "names a unit twice")
    audit.append(
        session,
        actor=actor.username,
        action=REJECT_UNITS_ACTION,
        entity="units",
        entity_id=job.id,
        batch_number=job.batch_number,
        new={"units": sorted(units)},
        reason=reason,
    )
    return rejected_units(session, job.batch_number)


def _printed_units(session: Session, job: Batch, planned: int) -> int:
    """Units the printer finished: all of them on a complete stream; else the tablets whose
    closing label (`M486 S-1`) is among the program lines the printer acknowledged (the prime
    line's, an object named `M486 Aprime`, closes no tablet)."""
    if job.state not in PRINTED_STATES:
        return 0
    report = column_value(job, "stream_report_json") or {}
    if report.get("complete"):
        return planned
    acknowledged = int(report.get("lines_acknowledged") or 0)
    program = session.get(StoredGcode, job.gcode_sha256) if job.gcode_sha256 else None
    if program is None:
        return 0
    sent = [
        line.split(";", 1)[0].strip()
        for line in program.text.splitlines()
        if line.split(";", 1)[0].strip()
    ]
    return min(planned, len(tablet_closes(sent[:acknowledged])))


def tablet_closes(lines: list[str]) -> list[int]:
    """Indexes of the `M486 S-1` lines among G-code `lines` (comments stripped) that close a
    tablet: not the prime line's."""
    closes, opened, prime = [], None, False
    for index, line in enumerate(lines):
        if line == CLOSE_LABEL:
            if opened is not None and not prime:
                closes.append(index)
            opened, prime = None, False
        elif line.startswith("M486 S"):
            opened, prime = line, False
        elif line == PRIME_NAME_LINE:
            prime = True
    return closes


def reconcile(session: Session, job: Batch) -> Reconciliation:
    """The batch's reconciliation as it stands (recording nothing)."""
    planned = unit_count(job)
    printed = _printed_units(session, job, planned)
    weights = column_value(job, "weights_json") or {}
    weighed = len(weights.get("weights_mg", []))
    rejected = rejected_units(session, job.batch_number)
    formulation = column_value(job, "formulation_json")
    density = float(formulation["density_g_cm3"])
    gate = column_value(job, "gate_json") or {}
    volumes = tuple(float(t["gcode_volume_mm3"]) for t in gate.get("tablets", []))
    masses = tuple(v * density for v in volumes)
    prime_mm3 = float(gate.get("prime_volume_mm3", 0.0))
    total_mm3 = sum(volumes) + prime_mm3
    filament_mm = paste_ml = None
    if formulation.get("process") == "fdm" and formulation.get("filament_diameter_mm"):
        radius = float(formulation["filament_diameter_mm"]) / 2
        filament_mm = total_mm3 / (math.pi * radius * radius)
    else:
        paste_ml = total_mm3 / 1000.0
    lot = str(formulation["lot"])
    ledger = stock.ledger(session, lot, job.site_id)  # the stock of the batch's site
    released = printed - len([r for r in rejected if r["unit"] <= printed])
    problems = []
    if printed < planned:
        missing = [u for u in range(printed + 1, planned + 1)]
        unaccounted = [u for u in missing if u not in {r["unit"] for r in rejected}]
        if unaccounted:
            problems.append(
                f"units {_ranges(unaccounted)} were planned but not printed and are not rejected"
            )
    if weighed > printed:
        problems.append(f"{weighed} units weighed but only {printed} printed")
    return Reconciliation(
        batch_number=job.batch_number,
        planned=planned,
        printed=printed,
        weighed=weighed,
        rejected=tuple(rejected),
        released=released,
        lot=lot,
        volume_per_tablet_mm3=volumes,
        mass_per_tablet_mg=masses,
        material_mg=total_mm3 * density,
        prime_volume_mm3=prime_mm3,
        prime_mg=prime_mm3 * density,
        filament_mm=filament_mm,
        paste_ml=paste_ml,
        drawn_g=stock.issued_for(session, job.batch_number),
        lot_received_g=ledger.received_g,
        lot_used_g=ledger.used_g,
        lot_remaining_g=ledger.remaining_g,
        calibration=calibration.in_use_by(session, job),
        problems=tuple(problems),
    )


def check_reconciled(session: Session, job: Batch) -> Reconciliation:
    """Refuse a batch with units neither released nor rejected with a reason."""
    result = reconcile(session, job)
    if not result.reconciled:
        raise Unreconciled("reconciliation", job.batch_number, "; ".join(result.problems))
    if result.released < 1:
        raise Unreconciled("reconciliation", job.batch_number, "has no unit left to release")
    return result


def _ranges(units: list[int]) -> str:
    return ", ".join(str(u) for u in units)
