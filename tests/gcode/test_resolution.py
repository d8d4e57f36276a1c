"""No extrusion below the file's resolution: a segment whose E step or XY move would round away
is merged into its neighbour, the reader never sees a travel where an extrusion was meant, and
every tablet keeps its exact E."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcode.analyze import analyze
from gcode.flow import PartFlow
from gcode.profile import MachineProfile
from gcode.slice import SlicedPart
from gcode.toolpaths import Layer, Path
from gcode.write import PlacedTablet, PlateHeader, Sequence, write_gcode
from tests.gcode.conftest import assert_no_extrusion_below_resolution, resolution

# What Hypothesis drew on an SSE solid: a 0.0014 mm segment at z 1.0 whose E step the writer of
# f817fc5 rounded to zero (`E0.000000`), so the reader saw a travel where it meant an extrusion.
TINY_START, TINY_END = (38.335, 46.638), (38.336, 46.639)
THIN_TOP_MM3_PER_MM = 0.1  # a 0.2 mm top layer at 0.6 of the SSE bead, as on that solid

# one tablet's layers, each (z mm, mm³ per mm of path, paths)
Layers = list[tuple[float, float, list[Path]]]


def _tablet(name: str, layers: Layers, offset_xy_mm: tuple[float, float]) -> PlacedTablet:
    part = SlicedPart(
        [Layer(z, 0.2, 1.0, True, paths) for z, _, paths in layers],
        max(z for z, _, _ in layers),
        0,
    )
    per_mm = np.array([mm3_per_mm for _, mm3_per_mm, _ in layers])
    volume = exact_volume_mm3(layers)
    return PlacedTablet(name, part, offset_xy_mm, PartFlow(per_mm, 1.0, volume, volume))


def exact_volume_mm3(layers: Layers) -> float:
    """What the tablet's paths hold at their flows, in exact arithmetic."""
    return sum(mm3_per_mm * sum(p.length_mm() for p in paths) for _, mm3_per_mm, paths in layers)


def _write(
    profile: MachineProfile,
    tablets: list[Layers],
    spacing_mm: float = 100.0,
    sequence: Sequence = "layers",
) -> str:
    placed = [_tablet(f"t{i}", t, (spacing_mm * i, 0.0)) for i, t in enumerate(tablets)]
    temp = 60.0 if profile.process == "sse" else 200.0
    header = PlateHeader("resolution", "LOT-R", "test-lot", temp, 0.0, profile.mm3_per_e())
    if sequence == "parts":  # one tablet after another: the gantry must clear them
        profile = profile.model_copy(update={"gantry_clearance_mm": 20.0})
    return write_gcode(placed, profile, header, sequence)


def _open(*points: tuple[float, float]) -> Path:
    return Path("perimeter", np.array(points, dtype=np.float64), False)


def test_a_segment_whose_e_step_rounds_to_nothing_is_merged_not_read_as_a_travel(sse):
    path = _open((30.0, 46.638), TINY_START, TINY_END, (38.336, 40.0))
    layers = [(1.0, THIN_TOP_MM3_PER_MM, [path])]
    text = _write(sse, [layers])
    assert_no_extrusion_below_resolution(text)
    reading = analyze(text, sse.mm3_per_e(), keep_segments=True)
    (figures,) = reading.objects.values()
    assert figures.extruding_moves == 2  # three segments, the tiny one merged into its neighbour
    exact = exact_volume_mm3(layers)
    assert abs(figures.volume_mm3 - exact) <= 0.5 * resolution(text, "E") * sse.mm3_per_e()


def test_a_path_below_the_resolution_is_not_written(sse):
    chord = _open(TINY_START, TINY_END)  # a fill line across a corner of the fill area
    text = _write(sse, [[(1.0, THIN_TOP_MM3_PER_MM, [_open((30.0, 44.0), (31.0, 44.0)), chord])]])
    assert_no_extrusion_below_resolution(text)
    assert "X38.336 Y46.639" not in text


def test_a_step_from_minus_zero_to_zero_is_no_move(fdm):
    # Hypothesis found it: "Y-0.000" and "Y0.000" differ as text, not as a place on the bed
    path = _open((30.0, -0.0001), (30.0, 0.0002), (34.0, 0.0002))
    text = _write(fdm, [[(0.4, 0.3, [path])]])
    assert_no_extrusion_below_resolution(text)


def _dab() -> Path:
    """A path that never leaves one written point (38.335, 46.638), yet holds 18 units of E."""
    return _open(*[(38.3351 + 0.0003 * (i % 2), 46.6381) for i in range(41)])


DAB_MM3_PER_MM = 0.3


@pytest.mark.parametrize("process", ["fdm", "sse"])
def test_the_e_of_a_path_too_small_to_write_goes_into_its_labels_last_move(process, request):
    profile = request.getfixturevalue(process)
    first = [(1.0, DAB_MM3_PER_MM, [_open((30.0, 44.0), (31.0, 44.0)), _dab()])]
    second = [(1.0, DAB_MM3_PER_MM, [_open((30.0, 44.0), (35.0, 44.0))])]
    text = _write(profile, [first, second])
    assert_no_extrusion_below_resolution(text)
    assert "X38.335 Y46.638" not in text
    reading = analyze(text, profile.mm3_per_e())
    unit_mm3 = resolution(text, "E") * profile.mm3_per_e()
    for label, layers in enumerate([first, second]):
        assert abs(reading.objects[label].volume_mm3 - exact_volume_mm3(layers)) <= unit_mm3


@pytest.mark.parametrize("process", ["fdm", "sse"])
def test_a_layer_with_nothing_the_file_can_state_gives_its_e_to_the_tablets_next_layer(
    process, request
):
    profile = request.getfixturevalue(process)
    tablet = [
        (0.4, DAB_MM3_PER_MM, [_open((10.0, 10.0), (14.0, 10.0))]),
        (0.8, DAB_MM3_PER_MM, [_dab()]),
        (1.0, DAB_MM3_PER_MM, [_open((10.0, 12.0), (14.0, 12.0))]),
    ]
    neighbour = [(z, DAB_MM3_PER_MM, [_open((10.0, 10.0), (16.0, 10.0))]) for z in (0.4, 0.8, 1.0)]
    text = _write(profile, [tablet, neighbour], spacing_mm=30.0)
    assert_no_extrusion_below_resolution(text)
    reading = analyze(text, profile.mm3_per_e())
    unit_mm3 = resolution(text, "E") * profile.mm3_per_e()
    for label, layers in enumerate([tablet, neighbour]):
        error = abs(reading.objects[label].volume_mm3 - exact_volume_mm3(layers))
        assert error <= len(layers) * unit_mm3


# ----------------------------------------------------------------- the rule, for any toolpath

CELL_MM = 20.0
STEP_MM = st.one_of(
    st.floats(0.0, 0.003),  # below the resolution in XY or E
    st.floats(0.003, 0.05),  # a few units of E on a thin layer
    st.floats(0.05, 1.0),
)


@st.composite
def toolpath(draw: st.DrawFn, origin: tuple[float, float]) -> Path:
    """A path of 1 to 8 steps, some below the file's resolution, within 9 mm of `origin`."""
    steps = draw(st.lists(STEP_MM, min_size=1, max_size=8))
    angles = draw(st.lists(st.floats(0.0, 2 * np.pi), min_size=len(steps), max_size=len(steps)))
    at = np.array(origin) + draw(st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 0.5)))
    points = [at]
    for step, angle in zip(steps, angles, strict=True):
        points.append(points[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    return Path(draw(st.sampled_from(["perimeter", "fill"])), np.array(points), draw(st.booleans()))


@st.composite
def tablet_layers(draw: st.DrawFn) -> Layers:
    """1 to 3 layers of 1 to 4 paths, each path in its own 20 mm cell so that every path is
    reached by a travel; each layer holds at least one path longer than the resolution, as
    every sliced layer does."""
    layers: Layers = []
    for k in range(draw(st.integers(1, 3))):
        count = draw(st.integers(1, 4))
        paths = [draw(toolpath((CELL_MM * j, CELL_MM * k))) for j in range(count)]
        paths.append(_open((CELL_MM * count, CELL_MM * k), (CELL_MM * count + 2.0, CELL_MM * k)))
        paths = draw(st.permutations(paths))
        mm3_per_mm = draw(st.floats(0.03, 0.5))
        layers.append((0.4 * (k + 1), mm3_per_mm, paths))
    return layers


@settings(max_examples=60)
@given(
    tablets=st.lists(tablet_layers(), min_size=1, max_size=3),
    process=st.sampled_from(["fdm", "sse"]),
    sequence=st.sampled_from(["layers", "parts"]),
)
def test_every_extrusion_in_the_file_is_above_its_resolution_and_tablets_keep_their_e(
    tablets: list[Layers],
    process: str,
    sequence: Sequence,
    fdm: MachineProfile,
    sse: MachineProfile,
) -> None:
    profile = fdm if process == "fdm" else sse
    text = _write(profile, tablets, 6 * CELL_MM, sequence)
    assert_no_extrusion_below_resolution(text)
    reading = analyze(text, profile.mm3_per_e())
    unit_mm3 = resolution(text, "E") * profile.mm3_per_e()
    for label, layers in enumerate(tablets):
        # each label rounds its first and last E by half a unit at most
        error = abs(reading.objects[label].volume_mm3 - exact_volume_mm3(layers))
        assert error <= len(layers) * unit_mm3 + 1e-9
