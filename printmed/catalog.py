"""What the pharmacy has on the shelf: formulation lots (with their drug's limits from drugs/)
and printer profiles from fixtures/.

Master data only: typed `Formulation` and `MachineProfile`, validated when read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from dosing.errors import FormulationRefused
from dosing.formulation import DrugLimits, Formulation, parse_drug_limits, parse_formulation
from gcode.profile import MachineProfile, parse_profile
from printers.identity import PrinterIdentity
from printmed.errors import InputError

D = TypeVar("D", bound="_Document")


def fixtures_dir() -> Path:
    """PRINTMED_FIXTURES, or the fixtures/ folder shipped beside the packages."""
    configured = os.environ.get("PRINTMED_FIXTURES")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "fixtures"


class _Document(Protocol):
    @property
    def id(self) -> str: ...


def _read_folder(
    folder: Path, parse: Callable[[Any, str], D], duplicate: Callable[[str, str], Exception]
) -> dict[str, D]:
    """Every `*.json` in `folder`, parsed and validated, by id; an id defined twice is refused."""
    documents: dict[str, D] = {}
    for path in sorted(folder.glob("*.json")):
        document = parse(json.loads(path.read_text()), path.name)
        if document.id in documents:
            raise duplicate(document.id, path.name)
        documents[document.id] = document
    return documents


@cache
def _formulations(folder: Path) -> dict[str, Formulation]:
    """Every lot, with its drug's limits from drugs/ attached (a lot's file never holds them)."""
    lots = _read_folder(
        folder / "materials",
        lambda data, name: parse_formulation(data, source=name),
        lambda lot_id, name: FormulationRefused("id", lot_id, f"is defined twice ({name})"),
    )
    drugs = _drug_limits(folder)
    for lot_id, lot in lots.items():
        if lot.drug_limits is not None:
            raise FormulationRefused(
                f"{lot_id}.drug_limits", lot.drug_limits.drug_name, "belong in drugs/, not a lot"
            )
        found = [limits for limits in drugs if limits.describes(lot.drug_name, lot.drug_code)]
        if len(found) > 1:
            raise FormulationRefused("drug_name", lot.drug_name, "has limits on file twice")
        if found:
            lots[lot_id] = lot.model_copy(update={"drug_limits": found[0]})
    return lots


def _drug_limits(folder: Path) -> list[DrugLimits]:
    """Each drug's formulary maxima (drugs/*.json); a lot whose drug has none is not dosed."""
    return [
        parse_drug_limits(json.loads(path.read_text()), source=path.name)
        for path in sorted((folder / "drugs").glob("*.json"))
    ]


@cache
def _printer_profiles(folder: Path) -> dict[str, MachineProfile]:
    return _read_folder(
        folder / "printers",
        lambda data, name: parse_profile(data, source=name.removesuffix(".json")),
        lambda profile_id, name: InputError("printer", profile_id, f"is defined twice ({name})"),
    )


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


def printer_profiles() -> dict[str, MachineProfile]:
    """Every printer profile on file, by id, validated (gcode.profile refuses a malformed one).

    Like the lots, read once per fixtures folder for the life of the process.
    """
    return dict(_printer_profiles(fixtures_dir()))


def printer_profile(profile_id: str) -> MachineProfile:
    """The named printer profile; an unknown id is refused naming the ones on file."""
    profiles = printer_profiles()
    if profile_id not in profiles:
        raise InputError(
            "printer", profile_id, f"is unknown (on file: {', '.join(sorted(profiles))})"
        )
    return profiles[profile_id]


@cache
def _printer_identities(folder: Path) -> dict[str, PrinterIdentity]:
    identities = {}
    for path in sorted((folder / "printers" / "identity").glob("*.json")):
        data = json.loads(path.read_text())
        if sorted(data) != ["firmware", "machine_type"] or not all(
            isinstance(v, str) and v.strip() for v in data.values()
        ):
            raise InputError("identity", path.name, "must give machine_type and firmware as text")
        identities[path.stem] = PrinterIdentity(data["machine_type"], data["firmware"])
    return identities


def printer_identities() -> dict[str, PrinterIdentity]:
    """Every printer identity on file, by profile id."""
    return dict(_printer_identities(fixtures_dir()))


def printer_identity(profile_id: str) -> PrinterIdentity:
    """Who printer `profile_id` must report being (fixtures/printers/identity/<id>.json, kept
    beside the profile because the slicer's profile schema has no place for it)."""
    identities = printer_identities()
    if profile_id not in identities:
        raise InputError("printer", profile_id, "has no identity on file to check it against")
    return identities[profile_id]
