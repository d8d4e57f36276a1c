"""Machine profiles: the shipped ones load; a bad one is refused naming the field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gcode.errors import ProfileInvalid
from gcode.profile import PROFILES_DIR, load_profile, parse_profile


def test_every_shipped_profile_loads():
    ids = sorted(load_profile(p).id for p in PROFILES_DIR.glob("*.json"))
    assert {"fdm-pharma-04", "sse-syringe-08"} <= set(ids)


def test_e_drives_filament_on_fdm_and_the_plunger_on_sse(fdm, sse):
    assert fdm.mm3_per_e() == pytest.approx(math.pi * 1.75**2 / 4)
    assert fdm.mm3_per_e(1.70) == pytest.approx(math.pi * 1.70**2 / 4)
    assert sse.mm3_per_e() == pytest.approx(math.pi * 15.9**2 / 4)


def _data(name: str) -> dict:
    return json.loads((PROFILES_DIR / f"{name}.json").read_text())


def test_an_sse_printer_with_a_hot_end_above_80_c_is_refused():
    data = _data("sse-syringe-08") | {"max_nozzle_temp_c": 120.0}
    with pytest.raises(ProfileInvalid, match="80"):
        parse_profile(data)


def test_an_fdm_printer_without_a_filament_diameter_is_refused():
    data = _data("fdm-pharma-04")
    del data["filament_diameter_mm"]
    with pytest.raises(ProfileInvalid, match="filament_diameter_mm"):
        parse_profile(data)


def test_a_missing_field_is_named():
    data = _data("fdm-pharma-04")
    del data["nozzle_mm"]
    with pytest.raises(ProfileInvalid) as refusal:
        parse_profile(data, source="mine")
    assert refusal.value.field == "mine.nozzle_mm"


def test_an_unknown_profile_id_is_refused_listing_the_known_ones(tmp_path: Path):
    with pytest.raises(ProfileInvalid, match="fdm-pharma-04"):
        load_profile("no-such-printer")
