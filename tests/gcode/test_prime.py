"""The prime line: placed on the bed at its front edge, a part spacing clear of every tablet;
written as one more object, named `prime`, before the first tablet; read back apart from the
tablets, whose figures are those of the plate written without it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gcode.analyze import analyze
from gcode.errors import PartTooLarge, ProfileInvalid, SettingsInvalid
from gcode.flow import PartFlow
from gcode.plate import PrimeLine, arrange, plan_prime
from gcode.profile import MachineProfile, load_profile, parse_profile
from gcode.slice import SlicedPart
from gcode.toolpaths import Layer, Path
from gcode.write import PlacedTablet, PlateHeader, write_gcode

BASES = {"fdm": load_profile("fdm-pharma-04"), "sse": load_profile("sse-syringe-08")}


@st.composite
def priming_profiles(draw: st.DrawFn) -> MachineProfile:
    """A bundled profile with another prime line and part spacing (valid ones only)."""
    base = BASES[draw(st.sampled_from(["fdm", "sse"]))]
    volume = draw(st.floats(0.5, 30.0))
    pressure = draw(st.sampled_from([0.0, 0.0, draw(st.floats(0.1, 15.0))]))
    data = json.loads(base.model_dump_json()) | {
        "prime_volume_mm3": volume,
        "prime_pressure_mm3": pressure,
        "prime_width_mm": draw(st.floats(max(0.3, base.nozzle_mm * 0.5), 2.5)),
        "max_prime_volume_mm3": volume + pressure + draw(st.floats(0.0, 10.0)),
        "part_spacing_mm": draw(st.floats(0.5, 12.0)),
    }
    try:
        return parse_profile(data, "drawn")
    except ProfileInvalid:
        assume(False)
        raise  # not reached


def square_tablet(name: str, width: float, depth: float, at: tuple[float, float], z: float):  # type: ignore[no-untyped-def]
    """A one-layer tablet: its perimeter half a line inside a width × depth footprint."""
    half_w, half_d = width / 2 - 0.2, depth / 2 - 0.2
    points = np.array([[-half_w, -half_d], [half_w, -half_d], [half_w, half_d], [-half_w, half_d]])
    path = Path("perimeter", points, True)
    part = SlicedPart([Layer(z, z, width * depth, True, [path])], z, 0)
    volume = 0.05 * path.length_mm()
    return PlacedTablet(name, part, at, PartFlow(np.array([0.05]), 1.0, volume, volume))


def _header(profile: MachineProfile) -> PlateHeader:
    temp = 60.0 if profile.process == "sse" else 200.0
    return PlateHeader("prime-test", "LOT-P", "test-lot", temp, 0.0, profile.mm3_per_e())


@settings(max_examples=60, deadline=None)
@given(
    profile=priming_profiles(),
    footprints=st.lists(
        st.tuples(st.floats(1.5, 25.0), st.floats(1.5, 25.0)), min_size=1, max_size=40
    ),
)
def test_the_prime_is_on_the_bed_and_a_part_spacing_clear_of_every_tablet(profile, footprints):
    try:
        offsets = arrange(footprints, profile)
    except PartTooLarge:
        assume(False)
    prime = plan_prime(profile)
    assert prime is not None
    x0, y0, x1, y1 = prime.footprint_mm()
    bed_x, bed_y, _ = profile.build_volume_mm
    assert 0 <= x0 < x1 <= bed_x and 0 <= y0 < y1 <= bed_y
    assert prime.volume_mm3 == profile.prime_volume_mm3
    assert (x1 - x0 - prime.width_mm) * prime.width_mm * prime.z_mm == pytest.approx(
        profile.prime_volume_mm3
    )
    for (cx, cy), (w, d) in zip(offsets, footprints, strict=True):
        gap_x = max(cx - w / 2 - x1, x0 - (cx + w / 2))
        gap_y = max(cy - d / 2 - y1, y0 - (cy + d / 2))
        assert max(gap_x, gap_y) >= profile.part_spacing_mm - 1e-9
    # and the writer lays it there, one object after the tablets, read back apart
    z = profile.first_layer_height_mm
    tablets = [
        square_tablet(f"t{i}", w, d, at, z)
        for i, ((w, d), at) in enumerate(zip(footprints, offsets, strict=True))
    ]
    header = _header(profile)
    with_prime = analyze(write_gcode(tablets, profile, header, prime=prime), header.mm3_per_e)
    without = analyze(write_gcode(tablets, profile, header), header.mm3_per_e)
    n = len(tablets)
    assert with_prime.declared_objects == n + 1 and without.declared_objects == n
    assert with_prime.prime_labels == [n] and next(iter(with_prime.objects)) == n
    assert with_prime.object_names == {n: "prime"}
    assert [with_prime.objects[i].to_dict() for i in range(n)] == [
        without.objects[i].to_dict() for i in range(n)
    ]
    assert with_prime.unlabelled_volume_mm3 == 0.0 and not with_prime.malformed
    e_step = header.mm3_per_e * 10.0 ** -max(5, int(np.ceil(np.log10(header.mm3_per_e / 1e-3))))
    assert with_prime.prime_volume_mm3 == pytest.approx(
        profile.prime_volume_mm3 + profile.prime_pressure_mm3, abs=e_step
    )
    figures = with_prime.objects[n]
    assert figures.layers == 1 and figures.extruding_moves == 1
    assert figures.min_xyz_mm[:2] == pytest.approx(
        [x0 + prime.width_mm / 2, y0 + prime.width_mm / 2], abs=5.1e-4
    )  # written to 0.001 mm


def test_a_syringe_builds_its_pressure_standing_at_the_start_of_the_line():
    profile = BASES["sse"]
    prime = plan_prime(profile)
    assert prime is not None
    text = write_gcode(
        [square_tablet("t0", 8, 8, (100.0, 100.0), 0.4)], profile, _header(profile), prime=prime
    )
    block = text.split("M486 Aprime\n", 1)[1].split("M486 S-1\n", 1)[0].splitlines()
    assert block[-2].startswith("G1 E0.050363 F120")  # 10 mm³ of a 15.9 mm plunger, standing
    assert block[-1].startswith(f"G1 X{prime.end_xy_mm[0]:.3f} Y{prime.end_xy_mm[1]:.3f} E0.100727")
    assert text.split("M486 S-1\n", 1)[1].startswith("G92 E0\n")  # tablets' E as without it


def test_the_writer_refuses_a_prime_near_a_tablet_or_off_the_bed():
    profile = BASES["fdm"]
    header = _header(profile)
    tablet = square_tablet("t0", 10, 10, (40.0, 20.0), 0.2)
    near = PrimeLine((10.0, 12.0), (60.0, 12.0), 0.2, 0.6, 8.0, 0.0)  # 2.7 mm from t0's edge
    with pytest.raises(SettingsInvalid, match="is within 4 mm of tablet 0 \\(t0\\)") as refused:
        write_gcode([tablet], profile, header, prime=near)
    assert refused.value.field == "prime"
    off = PrimeLine((-1.0, 4.3), (60.0, 4.3), 0.2, 0.6, 8.0, 0.0)
    with pytest.raises(SettingsInvalid, match="is off fdm-pharma-04's bed"):
        write_gcode([tablet], profile, header, prime=off)


def test_a_profile_that_says_nothing_of_a_prime_primes_nothing():
    data = json.loads(BASES["fdm"].model_dump_json())
    for field in (
        "prime_volume_mm3",
        "prime_pressure_mm3",
        "prime_width_mm",
        "max_prime_volume_mm3",
    ):
        del data[field]
    profile = parse_profile(data)
    assert (profile.primes, profile.prime_band_mm, plan_prime(profile)) == (False, 0.0, None)
    assert profile.max_prime_volume_mm3 == 0.0


@pytest.mark.parametrize(
    ("updates", "says"),
    [
        ({"prime_volume_mm3": 15.0, "max_prime_volume_mm3": 10.0}, "is above max_prime_volume"),
        ({"prime_volume_mm3": 0.0, "prime_pressure_mm3": 2.0}, "needs a prime line"),
        ({"prime_volume_mm3": 60.0, "max_prime_volume_mm3": 60.0}, "the bed has 242.0 mm"),
        ({"prime_volume_mm3": -1.0}, "prime_volume_mm3"),
    ],
)
def test_a_profile_with_an_impossible_prime_is_refused(updates, says):
    data = json.loads(BASES["fdm"].model_dump_json()) | updates
    with pytest.raises(ProfileInvalid, match=says):
        parse_profile(data)


def test_a_full_plate_is_refused_naming_the_prime_line_beside_it():
    with pytest.raises(PartTooLarge, match="beside its prime line"):
        arrange([(15.0, 15.0)] * 120, BASES["sse"])


def test_object_names_are_read_as_prusaslicer_and_reprapfirmware_write_them():
    text = (
        "M83\nM486 T3\nM486 S0\nM486 AShape-Box id:0 copy 0\nM486 S-1\n"
        'M486 S1 A"cube copy 1"\nG1 X1 E1\nM486 S-1\nM486 S2\nM486 Aprime\nG1 X2 E2\nM486 S-1\n'
    )
    reading = analyze(text, 1.0)
    assert reading.object_names == {0: "Shape-Box id:0 copy 0", 1: "cube copy 1", 2: "prime"}
    assert reading.prime_labels == [2] and reading.prime_volume_mm3 == 2.0
    assert not reading.malformed and reading.to_dict()["prime_volume_mm3"] == 2.0


def test_a_name_with_no_object_open_is_refused_by_its_line():
    reading = analyze("M83\nM486 Aprime\nM486 S0\nG1 X1 E1\nM486 S-1\nM486 Afoo\n", 1.0)
    assert [(p.line, p.reason) for p in reading.malformed] == [
        (2, "object name 'prime' names no object"),
        (6, "object name 'foo' names no object"),
    ]
    assert reading.object_names == {} and reading.prime_volume_mm3 == 0.0
