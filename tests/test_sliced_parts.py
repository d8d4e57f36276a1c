"""A service process remembers the last tablets it sliced (by their exact triangles, settings
and volume): the same standard dose is sliced once, and the plate made from a remembered part
is the plate made afresh, byte for byte; what is shared cannot be written to."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from dosing.prescription import parse_prescription
from gcode.settings import settings_for
from printmed import catalog
from printmed.manufacture import manufacture, plate

RX = catalog.fixtures_dir() / "prescriptions" / "propranolol-child.json"


@pytest.fixture(autouse=True)
def kept() -> Iterator[None]:
    plate.keep_sliced_parts(0)  # empties what earlier tests left
    plate.keep_sliced_parts(32)
    yield
    plate.keep_sliced_parts(32)


def _made(units: int, weight_kg: float = 12.4) -> str:
    data = json.loads(RX.read_text())
    data["units"] = units
    data["patient"]["weight_kg"] = weight_kg
    return manufacture(parse_prescription(data), "fdm-pharma-04").plate.gcode


def test_a_plate_from_a_remembered_part_is_the_plate_made_afresh() -> None:
    plate.keep_sliced_parts(0)
    afresh = [_made(2), _made(3, weight_kg=20.0)]
    plate.keep_sliced_parts(32)
    first = [_made(2), _made(3, weight_kg=20.0)]
    remembered = [_made(2), _made(3, weight_kg=20.0)]
    assert remembered == first == afresh


def test_the_same_triangles_are_sliced_once_and_shared_read_only() -> None:
    profile = catalog.printer_profile("fdm-pharma-04")
    settings = settings_for(profile)
    design = _design()
    part, flow = plate.sliced_part(design.triangles, settings, design.volume_mm3, "t")
    again = plate.sliced_part(design.triangles.copy(), settings, design.volume_mm3, "t")
    assert again[0] is part and again[1] is flow
    with pytest.raises(ValueError, match="read-only"):
        part.layers[0].paths[0].points[0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        flow.mm3_per_mm[0] = 0.0
    other_volume = plate.sliced_part(design.triangles, settings, design.volume_mm3 * 1.01, "t")
    assert other_volume[0] is not part
    moved = design.triangles + np.array([1e-9, 0.0, 0.0])
    assert plate.sliced_part(moved, settings, design.volume_mm3, "t")[0] is not part


def test_with_none_kept_every_part_is_sliced_afresh() -> None:
    plate.keep_sliced_parts(0)
    settings = settings_for(catalog.printer_profile("fdm-pharma-04"))
    design = _design()
    first = plate.sliced_part(design.triangles, settings, design.volume_mm3, "t")
    assert plate.sliced_part(design.triangles, settings, design.volume_mm3, "t")[0] is not first[0]


def test_the_oldest_part_is_forgotten_first() -> None:
    plate.keep_sliced_parts(2)
    settings = settings_for(catalog.printer_profile("fdm-pharma-04"))
    design = _design()
    volumes = [design.volume_mm3 * (1 + k / 100) for k in range(3)]
    parts = [plate.sliced_part(design.triangles, settings, v, "t")[0] for v in volumes]
    assert plate.sliced_part(design.triangles, settings, volumes[2], "t")[0] is parts[2]
    assert plate.sliced_part(design.triangles, settings, volumes[0], "t")[0] is not parts[0]


def _design():  # type: ignore[no-untyped-def]
    from printmed.manufacture import design_for

    rx = parse_prescription(json.loads(RX.read_text()))
    profile = catalog.printer_profile("fdm-pharma-04")
    return design_for(rx, catalog.formulation(rx.formulation), profile).design
