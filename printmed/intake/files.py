"""Prescription files as the CLI reads them: the native JSON form or a FHIR R4 MedicationRequest.

Refusals name the path (missing, too large, not UTF-8, not JSON) or the field of the order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dosing.prescription import Prescription, parse_prescription
from printmed import catalog
from printmed.errors import InputError
from printmed.intake.clinical import question
from printmed.intake.fhir_order import is_fhir, prescription_from_fhir

MAX_PRESCRIPTION_BYTES = 1_000_000


def read_json_file(path: Path, field: str = "file", limit: int = MAX_PRESCRIPTION_BYTES) -> Any:
    """Decode a JSON file; refusals name the path (missing, too large, not JSON)."""
    if not path.is_file():
        raise InputError(field, str(path), "does not exist or is not a file")
    size = path.stat().st_size
    if size > limit:
        raise InputError(field, str(path), f"is {size} bytes, above the limit of {limit}")
    try:
        return json.loads(path.read_bytes())
    except UnicodeDecodeError:
        raise InputError(field, str(path), "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(field, str(path), f"is not JSON (line {exc.lineno}: {exc.msg})") from None


def read_prescription(path: Path) -> Prescription:
    """A prescription file: the native JSON form or a FHIR R4 MedicationRequest, its body
    measurements questioned (printmed.intake.clinical) for the commands that record nothing
    (`printmed dose`, `design`); `batches new` is questioned again as the batch is recorded.

    A native file may give the weight as recorded (`patient.weight`: value, unit, effective,
    status, subject, source; questioned like an Observation) or as `patient.weight_kg` alone,
    taken as the acting user's own entry (no date: the pharmacist sees "entered on the order").

    A referenced Observation ("Observation/w1") is looked for beside the file, as
    `Observation-w1.json`.
    """
    data = read_json_file(path)
    if not is_fhir(data):
        return question(parse_prescription(data))

    def resolve(reference: str) -> dict[str, Any] | None:
        kind, _, ident = reference.partition("/")
        candidate = path.parent / f"{kind}-{ident}.json"
        if not candidate.is_file():
            return None
        resource = read_json_file(candidate, field=reference)
        return resource if isinstance(resource, dict) else None

    return prescription_from_fhir(
        data, resolve=resolve, choose_formulation=catalog.choose_formulation
    )
