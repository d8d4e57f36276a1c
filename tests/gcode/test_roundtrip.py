"""The must-show invariants: solids sliced solid hold their volume; G-code reads back its paths."""

from __future__ import annotations

import itertools

import numpy as np
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gcode.conftest import print_solid

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def solids(draw: st.DrawFn) -> trimesh.Trimesh:
    kind = draw(st.sampled_from(["cylinder", "box", "ring"]))
    height = draw(st.floats(1.0, 6.0))
    if kind == "cylinder":
        mesh = trimesh.creation.cylinder(draw(st.floats(1.5, 8.0)), height, sections=96)
    elif kind == "box":
        size = (draw(st.floats(2.0, 15.0)), draw(st.floats(2.0, 15.0)), height)
        mesh = trimesh.creation.box(size)
    else:
        inner = draw(st.floats(1.0, 5.0))
        outer = inner + draw(st.floats(2.0, 5.0))
        mesh = trimesh.creation.annulus(inner, outer, height, sections=96)
    return mesh


@SETTINGS
@given(solid=solids(), process=st.sampled_from(["fdm", "sse"]))
def test_a_solid_sliced_solid_reads_back_as_its_mesh_volume_within_1_percent(
    solid: trimesh.Trimesh, process: str, fdm, sse
) -> None:
    profile = fdm if process == "fdm" else sse
    printed = print_solid([solid], profile)
    (figures,) = printed.reading.objects.values()
    assert abs(figures.volume_mm3 / solid.volume - 1.0) < 0.01
    assert printed.reading.unlabelled_volume_mm3 == 0.0
    assert not printed.reading.malformed and not printed.reading.unsupported


def _written_segments(printed) -> set[tuple[float, ...]]:
    """Every extruding segment the slicer produced, moved to the plate, as the file rounds it."""
    from gcode.write import ordered_paths

    found = set()
    for tablet in printed.tablets:
        for layer in tablet.part.layers:
            offset = np.asarray(tablet.offset_xy_mm)
            for path in ordered_paths(layer.paths, 0.0, 0.0, offset):
                rounded = [(float(f"{x:.3f}"), float(f"{y:.3f}")) for x, y in path]
                for a, b in itertools.pairwise(rounded):
                    if a != b:
                        found.add((*sorted([a, b]), round(layer.z_mm, 3)))
    return found


@SETTINGS
@given(solid=solids(), process=st.sampled_from(["fdm", "sse"]))
def test_gcode_written_then_read_back_gives_the_same_paths(
    solid: trimesh.Trimesh, process: str, fdm, sse
) -> None:
    printed = print_solid([solid], fdm if process == "fdm" else sse)
    read = {
        (*sorted([(x0, y0), (x1, y1)]), round(z, 3))
        for label, x0, y0, x1, y1, z, e in printed.reading.segments
        if e > 0
    }
    assert read == _written_segments(printed)
    # and each segment carries its layer's flow: E per mm is constant within a layer
    flows: dict[float, list[float]] = {}
    for _, x0, y0, x1, y1, z, e in printed.reading.segments:
        length = float(np.hypot(x1 - x0, y1 - y0))
        if e > 0 and length > 0.2:
            flows.setdefault(round(z, 3), []).append(e / length)
    for per_mm in flows.values():
        assert max(per_mm) / min(per_mm) < 1.1
