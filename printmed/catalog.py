"""What the pharmacy has on the shelf: formulation lots and printer profiles from fixtures/.

Also reads a prescription file in either form (native JSON or FHIR MedicationRequest).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from dosing.errors import FormulationRefused
from dosing.formulation import Formulation, parse_formulation
from dosing.prescription import Prescription, parse_prescription
from gcode.profile import MachineProfile, parse_profile
from printmed.errors import InputError
from printmed.fhir.medication_request import is_fhir, prescription_from_fhir

MAX_PRESCRIPTION_BYTES = 1_000_000


def fixtures_dir() -> Path:
    """PRINTMED_FIXTURES, or the fixtures/ folder shipped beside the packages."""
    configured = os.environ.get("PRINTMED_FIXTURES")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "fixtures"


@cache
def _formulations(folder: Path) -> dict[str, Formulation]:
    lots: dict[str, Formulation] = {}
    for path in sorted((folder / "materials").glob("*.json")):
        lot = parse_formulation(json.loads(path.read_text()), source=path.name)
        if lot.id in lots:
            raise FormulationRefused("id", lot.id, f"is defined twice ({path.name})")
        lots[lot.id] = lot
    return lots


def formulations() -> dict[str, Formulation]:
    """Every lot on file, by id (expired ones included: callers decide what to offer)."""
    return dict(_formulations(fixtures_dir()))


def formulation(formulation_id: str) -> Formulation:
    lots = formulations()
    if formulation_id not in lots:
        raise FormulationRefused(
            "formulation", formulation_id, f"is unknown (on file: {', '.join(sorted(lots))})"
        )
    return lots[formulation_id]


def usable_formulations(on: dt.date | None = None) -> list[Formulation]:
    """Lots that may be printed today: in date and with an assay."""
    day = on or dt.date.today()
    return [
        lot
        for lot in formulations().values()
        if lot.assay_percent is not None and lot.expiry >= day
    ]


def choose_formulation(drug_name: str, drug_code: str | None) -> str:
    """The one usable lot of a drug, for orders that name none; refused if none or several."""
    matches = []
    for lot in usable_formulations():
        try:
            lot.check_carries(drug_name, drug_code)
        except FormulationRefused:
            continue
        matches.append(lot.id)
    if len(matches) != 1:
        found = ", ".join(matches) or "none"
        raise FormulationRefused(
            "formulation", "(not given)", f"must be named: usable lots of {drug_name}: {found}"
        )
    return matches[0]


def printer_profiles() -> dict[str, dict[str, Any]]:
    """Printer profile documents by id, as stored (gcode.profile validates them)."""
    profiles = {}
    for path in sorted((fixtures_dir() / "printers").glob("*.json")):
        data = json.loads(path.read_text())
        profiles[data["id"]] = data
    return profiles


def printer_profile_data(profile_id: str) -> dict[str, Any]:
    profiles = printer_profiles()
    if profile_id not in profiles:
        raise InputError(
            "printer", profile_id, f"is unknown (on file: {', '.join(sorted(profiles))})"
        )
    return profiles[profile_id]


def printer_profile(profile_id: str) -> MachineProfile:
    """The named printer profile, validated (gcode.profile refuses a malformed one by field)."""
    return parse_profile(printer_profile_data(profile_id), source=profile_id)


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
    """A prescription file: the native JSON form or a FHIR R4 MedicationRequest.

    A referenced Observation ("Observation/w1") is looked for beside the file, as
    `Observation-w1.json`.
    """
    data = read_json_file(path)
    if not is_fhir(data):
        return parse_prescription(data)

    def resolve(reference: str) -> dict[str, Any] | None:
        kind, _, ident = reference.partition("/")
        candidate = path.parent / f"{kind}-{ident}.json"
        if not candidate.is_file():
            return None
        resource = read_json_file(candidate, field=reference)
        return resource if isinstance(resource, dict) else None

    return prescription_from_fhir(data, resolve=resolve, choose_formulation=choose_formulation)
