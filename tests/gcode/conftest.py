"""Shared pieces for the gcode tests: the two shipped printer profiles and a solid print helper."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trimesh

from gcode.analyze import Analysis, analyze
from gcode.flow import plan_flow
from gcode.mesh_io import PartMesh, check_mesh
from gcode.profile import MachineProfile, load_profile
from gcode.settings import settings_for
from gcode.slice import SlicedPart, slice_part
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
