"""The batch record as one document: every recorded field, QC, signatures, the audit trail, and
which values changed after they were first entered (corrections, with who, when and why).

`load_record` is what `records show`, the PDF and the release review display.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from printmed.audit import chain_checkpoints, decoded, entries_for
from printmed.jobs.service import get_batch, snapshot
from printmed.records.deviations import deviations_in
from printmed.records.integrity import IntegrityReport, verify_records
from printmed.records.reconciliation import reconcile
from printmed.records.signatures import signatures_of
from printmed.store.models import PrintProgress, StoredGcode

# Columns whose later values are the job's life, not corrections of what was entered.
LIFECYCLE_COLUMNS = frozenset({"state", "claimed_by", "stream_report_json", "firmware_json"})


@dataclass(frozen=True)
class BatchRecord:
    """fields: the job's recorded columns (decoded); trail: decoded audit entries in order;
    corrections: per column, the values after the first with who/when/why;
    deviations: what went differently, with who, when and why;
    checkpoints: the signed checkpoints outside the database that vouch for this record (the
    first at or after its last entry, and the latest), to be printed with it."""

    batch_number: str
    fields: dict[str, Any]
    gcode_lines: int | None
    progress: dict[str, Any] | None
    signatures: list[dict[str, Any]]
    trail: list[dict[str, Any]]
    corrections: dict[str, list[dict[str, Any]]]
    deviations: list[dict[str, Any]]
    integrity: IntegrityReport
    checkpoints: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # units planned/printed/weighed/rejected/released and material (records.reconciliation)
    reconciliation: dict[str, Any] | None = None

    def field(self, name: str) -> Any:
        return self.fields.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_number": self.batch_number,
            "fields": self.fields,
            "gcode_lines": self.gcode_lines,
            "progress": self.progress,
            "signatures": self.signatures,
            "trail": self.trail,
            "corrections": self.corrections,
            "deviations": self.deviations,
            "integrity": self.integrity.to_dict(),
            "checkpoints": self.checkpoints,
            "reconciliation": self.reconciliation,
        }


ABSENT = "(absent)"  # the side of a change where the key is not there at all


def leaf_changes(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """What differs between two recorded values: (path, old, new) per changed leaf, dict keys
    joined by "." and list items as "[i]" (lists of another length are one leaf)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            at = f"{path}.{key}" if path else str(key)
            if (key in old) != (key in new) and old.get(key) == new.get(key):
                # a key added or removed with the value null is a change too
                changes.append((at, old.get(key, ABSENT), new.get(key, ABSENT)))
            else:
                changes += leaf_changes(old.get(key), new.get(key), at)
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            change
            for index, (a, b) in enumerate(zip(old, new, strict=True))
            for change in leaf_changes(a, b, f"{path}[{index}]")
        ]
    return [] if old == new else [(path or "value", old, new)]


def value_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """What differs between two recorded values, one `path: old → new` line per leaf."""
    return [f"{at}: {_shown(a)} → {_shown(b)}" for at, a, b in leaf_changes(old, new, path)]


def _shown(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def summarise_changes(old: Any, new: Any, most: int = 4) -> str:
    """The first `most` changed leaves of a value, and how many more there are."""
    lines = value_changes(old, new)
    more = f" (+{len(lines) - most} more)" if len(lines) > most else ""
    return "; ".join(lines[:most]) + more


def corrections_of(trail: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """For each entered column set more than once, every later value with who, when and why."""
    first_seen: set[str] = set()
    changes: dict[str, list[dict[str, Any]]] = {}
    for entry in trail:
        if entry["entity"] != "job" or not isinstance(entry["new"], dict):
            continue
        old = entry["old"] if isinstance(entry["old"], dict) else {}
        for column, value in entry["new"].items():
            if column in LIFECYCLE_COLUMNS or value is None:
                continue
            if column in first_seen:
                changes.setdefault(column, []).append(
                    {
                        "seq": entry["seq"],
                        "at": entry["at"],
                        "actor": entry["actor"],
                        "old": old.get(column),
                        "new": value,
                        "reason": entry["reason"],
                        "changed": summarise_changes(old.get(column), value),
                    }
                )
            first_seen.add(column)
    return changes


def load_record(session: Session, batch_number: str) -> BatchRecord:
    job = get_batch(session, batch_number)
    trail = [decoded(entry) for entry in entries_for(session, batch_number)]
    program = session.get(StoredGcode, job.gcode_sha256) if job.gcode_sha256 else None
    progress = session.get(PrintProgress, job.id)
    signatures = [
        {
            "id": s.id,
            "username": s.username,
            "printed_name": s.printed_name,
            "meaning": s.meaning,
            "signed_at": s.signed_at,
            "through_seq": s.through_seq,
            "record_hash": s.record_hash,
            "signature_hash": s.signature_hash,
            "user_key_id": s.user_key_id,
            "digital_signature": s.digital_signature,
        }
        for s in signatures_of(session, batch_number)
    ]
    return BatchRecord(
        batch_number=batch_number,
        fields=snapshot(job),
        gcode_lines=program.lines if program else None,
        progress=None
        if progress is None
        else {
            "lines_total": progress.lines_total,
            "lines_sent": progress.lines_sent,
            "lines_acknowledged": progress.lines_acknowledged,
            "last_acknowledged_line": progress.last_acknowledged_line,
            "updated_at": progress.updated_at,
        },
        signatures=signatures,
        trail=trail,
        corrections=corrections_of(trail),
        deviations=deviations_in(trail),
        integrity=verify_records(session, batch_number),
        checkpoints=vouching_checkpoints(session, trail[-1]["seq"] if trail else 0),
        reconciliation=reconcile(session, job).to_dict(),
    )


def vouching_checkpoints(session: Session, last_seq: int) -> list[dict[str, Any]]:
    """The first checkpoint at or after entry `last_seq` (it vouches for everything up to
    there), and the latest checkpoint of the chain if that is a later one."""
    found = [c for c in chain_checkpoints(session) if c.seq >= last_seq]
    if not found:
        return []
    first = min(found, key=lambda c: c.seq)
    latest = max(found, key=lambda c: c.seq)
    chosen = [first] if latest.seq == first.seq else [first, latest]
    return [dataclasses.asdict(c) for c in chosen]
