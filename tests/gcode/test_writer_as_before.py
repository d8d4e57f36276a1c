"""The array writer writes, byte for byte, what the line-by-line writer of commit 3930256 wrote:
on the bundled prescriptions, on seeded solids and toolpaths (SHA-256 recorded in
tests/gcode/reference/ before the rewrite; the bundled plates re-recorded with their prime
line), and its numbers are Python's own text."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gcode.analyze import analyze
from gcode.errors import SettingsInvalid
from gcode.fixed import format_fixed
from gcode.plate import plan_prime
from gcode.write import write_gcode
from tests.gcode import reference_cases as cases


def _recorded(name: str) -> dict[str, object]:
    return json.loads((cases.REFERENCE / f"{name}.json").read_text())


def _reading(text: str, mm3_per_e: float) -> object:
    # through JSON, as recorded: tuples become lists, floats keep every bit
    return json.loads(json.dumps(analyze(text, mm3_per_e).to_dict()))


@pytest.fixture(scope="module")
def bundled() -> list[tuple[str, str, str, float]]:
    """(name, digest of the writer's input, G-code, mm³ per E) of every bundled plate."""
    return [
        (
            name,
            cases.tablets_digest(tablets),
            write_gcode(tablets, profile, header, prime=plan_prime(profile)),
            header.mm3_per_e,
        )
        for name, tablets, profile, header in cases.bundled_plates()
    ]


def test_the_bundled_prescriptions_are_written_byte_for_byte_as_before(bundled):
    recorded = _recorded("bundled")
    assert sorted(name for name, *_ in bundled) == sorted(recorded)
    for name, digest, text, _ in bundled:
        assert digest == recorded[name]["input_sha256"], f"{name}: the slicer's output changed"
        assert cases.sha256(text) == recorded[name]["gcode_sha256"], name


def test_the_bundled_prescriptions_read_back_as_before(bundled):
    recorded = _recorded("bundled")
    for name, _, text, mm3_per_e in bundled:
        assert _reading(text, mm3_per_e) == recorded[name]["reading"], name


def test_seeded_solids_are_written_and_read_back_as_before():
    recorded = _recorded("random_solids")
    profiles = cases.shipped_profiles()
    for seed in cases.RANDOM_SOLID_SEEDS:
        tablets, profile, header = cases.random_solid_plate(seed, profiles)
        expected = recorded[str(seed)]
        assert cases.tablets_digest(tablets) == expected["input_sha256"], "the slicer changed"
        text = write_gcode(tablets, profile, header)
        assert cases.sha256(text) == expected["gcode_sha256"], seed
        assert _reading(text, header.mm3_per_e) == expected["reading"], seed


def test_seeded_toolpaths_below_the_resolution_are_written_byte_for_byte_as_before():
    recorded = _recorded("random_toolpaths")
    profiles = cases.shipped_profiles()
    changed = [
        seed
        for seed in cases.RANDOM_TOOLPATH_SEEDS
        if cases.sha256(cases.write_random_toolpath_plate(seed, profiles)) != recorded[str(seed)]
    ]
    assert changed == []


@settings(max_examples=2000)
@example(value=0.125, decimals=2)  # a tie on the exact value: to the even digit
@example(value=2.675, decimals=2)  # below the tie as a double: down
@example(value=-0.0, decimals=3)
@example(value=-0.0004, decimals=3)  # rounds to zero and keeps its sign, as Python writes it
@example(value=0.5, decimals=0)
@example(value=1.5, decimals=0)
@given(
    value=st.one_of(
        st.floats(-1e4, 1e4),
        st.integers(-(10**9), 10**9).map(lambda n: n / 2000.0),  # ties at 3 decimals
        st.integers(-(10**9), 10**9).map(lambda n: n * 5e-7),  # near-ties at 6 decimals
    ),
    decimals=st.sampled_from([0, 3, 5, 6, 7]),
)
def test_numbers_are_the_text_python_writes(value: float, decimals: int) -> None:
    assert format_fixed(value, decimals) == f"{value:.{decimals}f}"


def test_a_number_beyond_exact_fixed_point_text_is_refused_not_misprinted(fdm):
    tablets, _, header = cases.random_solid_plate(0, cases.shipped_profiles())
    far = [
        type(t)(t.name, t.part, (4.6e12, 0.0), t.flow, t.target_mg)  # 4.6e15 thousandths
        for t in tablets
    ]
    with pytest.raises(SettingsInvalid) as refused:
        write_gcode(far, fdm, header)
    assert refused.value.value >= 4.6e12
    assert math.isfinite(refused.value.value)


def test_a_path_of_one_point_is_refused_by_name(fdm):
    # the line-by-line writer failed on one with an IndexError; now it is named
    tablets, _, header = cases.random_solid_plate(0, cases.shipped_profiles())
    part = tablets[0].part
    layer = part.layers[0]
    lone = type(layer.paths[0])("fill", layer.paths[0].points[:1], False)
    broken = type(layer)(layer.z_mm, layer.thickness_mm, layer.area_mm2, layer.solid, [lone])
    sliced = type(part)([broken, *part.layers[1:]], part.height_mm, part.unclosed)
    tablet = type(tablets[0])("t", sliced, (40.0, 50.0), tablets[0].flow)
    with pytest.raises(SettingsInvalid) as refused:
        write_gcode([tablet], fdm, header)
    assert refused.value.field == "t.layer[0].paths[0].points"
    assert refused.value.value == 1
