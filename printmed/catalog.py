"""What the pharmacy has on the shelf: formulation lots and printer profiles from fixtures/.

Master data only: typed `Formulation` and `MachineProfile`, validated when read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from functools import cache
from pathlib import Path

from dosing.errors import FormulationRefused
from dosing.formulation import Formulation, parse_formulation
from gcode.profile import MachineProfile, parse_profile
from printmed.errors import InputError


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


def printer_profiles() -> dict[str, MachineProfile]:
    """Every printer profile on file, by id, validated (gcode.profile refuses a malformed one).

    Read afresh on each call, as the lots' folder is read once per folder.
    """
    profiles: dict[str, MachineProfile] = {}
    for path in sorted((fixtures_dir() / "printers").glob("*.json")):
        profile = parse_profile(json.loads(path.read_text()), source=path.stem)
        if profile.id in profiles:
            raise InputError("printer", profile.id, f"is defined twice ({path.name})")
        profiles[profile.id] = profile
    return profiles


def printer_profile(profile_id: str) -> MachineProfile:
    """The named printer profile; an unknown id is refused naming the ones on file."""
    profiles = printer_profiles()
    if profile_id not in profiles:
        raise InputError(
            "printer", profile_id, f"is unknown (on file: {', '.join(sorted(profiles))})"
        )
    return profiles[profile_id]
