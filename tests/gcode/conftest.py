"""Shared pieces for the gcode tests: the two shipped printer profiles, a solid print helper and
the extrusions a file states, read line by line."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import trimesh

from gcode.analyze import Analysis, analyze
from gcode.flow import plan_flow
from gcode.mesh_io import PartMesh, check_mesh
from gcode.profile import MachineProfile, load_profile
from gcode.settings import settings_for
from gcode.slice import SlicedPart, slice_part
from gcode.words import split_line
from gcode.write import PlacedTablet, PlateHeader, write_gcode


@pytest.fixture(scope="session")
def fdm() -> MachineProfile:
    return load_profile("fdm-pharma-04")


@pytest.fixture(scope="session")
def sse() -> MachineProfile:
    return load_profile("sse-syringe-08")


@dataclass(frozen=True)
class Printed:
    part: PartMesh
    sliced: SlicedPart
    tablets: list[PlacedTablet]
    text: str
    reading: Analysis


def print_solid(
    meshes: list[trimesh.Trimesh],
    profile: MachineProfile,
    *,
    to_design_volume: bool = False,
    **settings: object,
) -> Printed:
    """Slice each mesh solid, place them 20 mm apart, write G-code and read it back."""
    config = settings_for(profile, **settings)
    tablets = []
    part = sliced = None
    for i, mesh in enumerate(meshes):
        part = check_mesh(mesh, name=f"part{i}")
        sliced = slice_part(part.triangles, config)
        target = part.volume_mm3 if to_design_volume else None
        flow = plan_flow(sliced, config.line_width_mm, target, f"part{i}")
        tablets.append(PlacedTablet(f"part{i}", sliced, (40.0 + 20.0 * i, 50.0), flow, None))
    temp = 60.0 if profile.process == "sse" else 200.0
    job = PlateHeader("test-job", "LOT-T", "test-lot", temp, 0.0, profile.mm3_per_e())
    text = write_gcode(tablets, profile, job)
    assert part is not None and sliced is not None
    return Printed(part, sliced, tablets, text, analyze(text, profile.mm3_per_e(), True))


@dataclass(frozen=True)
class Extrusion:
    """One `G1` with X or Y and E: a move the writer meant to extrude, as the file states it."""

    label: int
    start_xy_mm: tuple[float, float]
    end_xy_mm: tuple[float, float]
    delta_e: float


def extrusions(text: str) -> list[Extrusion]:
    """Every extruding move of G-code `text`, whatever E it ended up with (zero included).

    Follows M82/M83, G92 E and `M486 S`; travels (`G0`) and E-only moves are not extrusions.
    """
    found = []
    x = y = e = 0.0
    relative = False
    label = -1
    for raw in text.splitlines():
        words = split_line(raw)
        if words is None or not words.command:
            continue
        command, values = words.command, words.values
        if command in ("M82", "M83"):
            relative = command == "M83"
        elif command == "M486" and "S" in values:
            label = int(values["S"])
        elif command == "G92" and "E" in values:
            e = values["E"]
        elif command in ("G0", "G1"):
            end = (values.get("X", x), values.get("Y", y))
            if "E" in values:
                delta_e = values["E"] if relative else values["E"] - e
                e = e + values["E"] if relative else values["E"]
                if command == "G1" and ("X" in values or "Y" in values):
                    found.append(Extrusion(label, (x, y), end, delta_e))
            x, y = end
    return found


def resolution(text: str, letter: str) -> float:
    """The smallest step the file states in `letter` (X, Y or E): one unit of its last decimal."""
    code = "\n".join(line.partition(";")[0] for line in text.splitlines())
    decimals = {len(d) for d in re.findall(rf" {letter}-?\d+\.(\d+)", code)}
    assert len(decimals) == 1, f"{letter} words with {sorted(decimals)} decimals"
    return 10.0 ** -decimals.pop()


def assert_no_extrusion_below_resolution(text: str) -> None:
    """Every extrusion of `text` states a step of E and a move in X or Y the file can hold."""
    e_unit, xy_unit = resolution(text, "E"), resolution(text, "X")
    for move in extrusions(text):
        assert move.delta_e > 0.5 * e_unit, move
        (x0, y0), (x1, y1) = move.start_xy_mm, move.end_xy_mm
        assert max(abs(x1 - x0), abs(y1 - y0)) > 0.5 * xy_unit, move
