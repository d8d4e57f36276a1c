"""The must-show invariants: solids sliced solid hold their volume; G-code reads back its paths."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import trimesh
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.gcode.conftest import (
    Printed,
    assert_no_extrusion_below_resolution,
    print_solid,
    resolution,
)

SETTINGS = settings(max_examples=30)


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


Point = tuple[float, float]
Segment = tuple[Point, Point, float]  # ends in order, layer z (mm), as the file rounds them


def _segment(a: Point, b: Point, z: float) -> Segment:
    first, second = sorted([a, b])
    return (first, second, round(z, 3))


@dataclass
class SlicedSegments:
    """The slicer's extruding segments moved to the plate as the file rounds them, and the
    ends of those below the file's resolution (which the writer merges into a neighbour)."""

    segments: set[Segment] = field(default_factory=set)
    vertices: set[tuple[Point, float]] = field(default_factory=set)
    next_to_small: set[tuple[Point, float]] = field(default_factory=set)


def _sliced_segments(printed: Printed, mm3_per_e: float) -> SlicedSegments:
    from gcode.write import ordered_paths

    found = SlicedSegments()
    e_unit_mm3 = resolution(printed.text, "E") * mm3_per_e
    xy_unit = resolution(printed.text, "X")
    for tablet in printed.tablets:
        offset = np.asarray(tablet.offset_xy_mm)
        for k, layer in enumerate(tablet.part.layers):
            z = round(layer.z_mm, 3)
            # shorter than this, a segment may carry less than one unit of E, or move less
            # than a unit in X or Y, once its neighbours below the resolution are merged
            small_mm = e_unit_mm3 / float(tablet.flow.mm3_per_mm[k]) + 5 * xy_unit
            for path in ordered_paths(layer.paths, 0.0, 0.0, offset):
                rounded = [(float(f"{x:.3f}"), float(f"{y:.3f}")) for x, y in path]
                for a, b in itertools.pairwise(rounded):
                    found.vertices.update([(a, z), (b, z)])
                    if a != b:
                        found.segments.add(_segment(a, b, z))
                    if math.dist(a, b) <= small_mm:
                        found.next_to_small.update([(a, z), (b, z)])
    return found


@SETTINGS
@example(
    solid=trimesh.creation.cylinder(1.8156321953710828, 2.4946318951486792, sections=96),
    process="sse",
)  # its thin top layer had 0.001 mm segments whose E step rounded to zero
@given(solid=solids(), process=st.sampled_from(["fdm", "sse"]))
def test_gcode_written_then_read_back_gives_the_same_paths(
    solid: trimesh.Trimesh, process: str, fdm, sse
) -> None:
    """The reader finds the slicer's segments, but for those below the file's resolution,
    merged into a neighbour; no extrusion it reads is one the slicer did not make."""
    profile = fdm if process == "fdm" else sse
    printed = print_solid([solid], profile)
    assert_no_extrusion_below_resolution(printed.text)
    read = {
        _segment((x0, y0), (x1, y1), z)
        for label, x0, y0, x1, y1, z, e in printed.reading.segments
        if e > 0
    }
    sliced = _sliced_segments(printed, profile.mm3_per_e())
    for a, b, z in read:
        assert (a, z) in sliced.vertices and (b, z) in sliced.vertices
    for a, b, z in sliced.segments - read:
        assert (a, z) in sliced.next_to_small or (b, z) in sliced.next_to_small
    for a, b, z in read - sliced.segments:
        assert (a, z) in sliced.next_to_small or (b, z) in sliced.next_to_small
    # and each segment carries its layer's flow: E per mm is constant within a layer
    flows: dict[float, list[float]] = {}
    for _, x0, y0, x1, y1, z, e in printed.reading.segments:
        length = float(np.hypot(x1 - x0, y1 - y0))
        if e > 0 and length > 0.2:
            flows.setdefault(round(z, 3), []).append(e / length)
    for per_mm in flows.values():
        assert max(per_mm) / min(per_mm) < 1.1
