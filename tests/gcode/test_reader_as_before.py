"""The array reader gives every figure the pure-Python reader gave, bit for bit: on any text
(Hypothesis), on written solids, and it still refuses malformed lines by their numbers."""

from __future__ import annotations

import json
import math

import trimesh
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gcode.analyze import Analysis, analyze
from tests.gcode.conftest import print_solid
from tests.gcode.slow_reader import slow_analyze


def as_recorded(reading: Analysis) -> str:
    """Every figure and the kept segments as text: NaN, ±0.0 and ±inf compare as bits do."""
    return json.dumps([reading.to_dict(), reading.segments], sort_keys=True)


def assert_reads_as_before(text: str, mm3_per_e: float) -> Analysis:
    fast = analyze(text, mm3_per_e, keep_segments=True)
    try:
        slow = slow_analyze(text, mm3_per_e, keep_segments=True)
    except OverflowError:  # an infinite object label: now refused by its line instead
        assert any("is not a finite number" in p.reason for p in fast.malformed)
        return fast
    assert as_recorded(fast) == as_recorded(slow)
    return fast


PLAIN_NUMBERS = st.one_of(
    st.integers(-400, 400).map(str),
    st.floats(-500, 500, allow_nan=False).map(lambda v: f"{v:.5f}"),
    st.floats(-2, 2, allow_nan=False).map(lambda v: f"{v:.3f}".replace("0.", ".", 1)),
)
NUMBERS = st.one_of(
    PLAIN_NUMBERS,
    st.sampled_from(["1.", "-.5", "+3", "-0", "007", "1.2.3", "1-2", ".", "-", "1e5", "nan"]),
    st.sampled_from(["12345678901234567890", "0." + "0" * 30 + "1", "9" * 400, "٣", "1_0"]),
)
LETTERS = st.sampled_from(list("XYZEFSTRIJPNxyze"))
COMMANDS = st.sampled_from(
    [
        *("G0", "G1", "G1", "G1", "G92", "G90", "G91", "M82", "M83", "M104", "M109", "M140"),
        *("M190", "G28", "M486", "M486", "G2", "M221", "T0", "T1", "M73", "G29.1", "g1", "G01"),
        *("G1.0", "M1.5", "G-1", "G100000", "N", "X", "hello"),
    ]
)
SPACE = st.sampled_from([" ", " ", " ", "", "  ", "\t", "\x1f", "\xa0"])
COMMENT = st.sampled_from(
    ["", "", " ; retract", ";", "; ", ";LAYER:3", " ; é", ";\xa0", " (paren) ", "*57", ' "x"']
)


PLAIN_COMMANDS = st.sampled_from(["G0", "G1", "G1", "G92", "G90", "G91", "M82", "M83", "M486"])


@st.composite
def plain_line(draw: st.DrawFn) -> str:
    """A line as slicers write them, which the scan reads without split_line."""
    words = [
        draw(st.sampled_from(list("XYZEFST"))) + draw(PLAIN_NUMBERS)
        for _ in range(draw(st.integers(0, 4)))
    ]
    comment = draw(st.sampled_from(["", "", " ; retract", ";TYPE:WALL"]))
    return " ".join([draw(PLAIN_COMMANDS), *words]) + comment


@st.composite
def gcode_line(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(plain_line())
    if draw(st.integers(0, 9)) == 0:  # anything at all
        return draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=12))
    head = draw(st.sampled_from(["", "", "", "N12 ", "n3 "]))
    words = [
        draw(LETTERS) + draw(st.sampled_from(["", "", " "])) + draw(NUMBERS)
        for _ in range(draw(st.integers(0, 4)))
    ]
    code = draw(COMMANDS) + "".join(draw(SPACE) + w for w in words)
    return head + code + draw(COMMENT)


BREAKS = st.sampled_from(["\n"] * 8 + ["\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"])


@st.composite
def gcode_text(draw: st.DrawFn) -> str:
    """Programs of plausible and implausible lines, any line break str.splitlines knows."""
    lines = draw(st.lists(gcode_line(), max_size=40))
    return "".join(line + draw(BREAKS) for line in lines) + draw(st.sampled_from(["", "G1 X1"]))


@settings(max_examples=400)
@example(text="")
@example(text="\n\n")
@example(text="M83\nM486 S0\nG1 X1 E1\nG1 X1 E1 X2\nN5\nG1 X1.2.3 E1\nhello\nM486 S-1\n")
@example(text="M486 S-0.5\nG1 X1 E1\nM486 T3\nM486 S7 T2\nG1 X2 E1\r\nG29.1\x85M73 P1\u2028")
@example(text="G1 X" + "9" * 400 + " E1\nG1 X0 Y1e5 E2 ; é\nG1 X1 (a) E3\nG1 X2 E\xa04")
@given(text=gcode_text())
def test_any_text_reads_as_the_pure_python_reader_read_it(text: str) -> None:
    assert_reads_as_before(text, 2.405282)


@settings(max_examples=15)
@given(
    radius_mm=st.floats(1.5, 8.0),
    height_mm=st.floats(1.0, 6.0),
    process=st.sampled_from(["fdm", "sse"]),
)
def test_a_written_solid_reads_as_the_pure_python_reader_read_it(
    radius_mm: float, height_mm: float, process: str, fdm, sse
) -> None:
    profile = fdm if process == "fdm" else sse
    printed = print_solid([trimesh.creation.cylinder(radius_mm, height_mm, sections=64)], profile)
    fast = assert_reads_as_before(printed.text, profile.mm3_per_e())
    assert not fast.malformed and not fast.unsupported


def test_malformed_lines_in_a_whole_plate_are_refused_by_their_numbers(fdm):
    printed = print_solid([trimesh.creation.cylinder(4.0, 2.0, sections=64)] * 2, fdm)
    lines = printed.text.splitlines()
    spoiled = {100: "G1 X1.2.3 E2", 2000: "G1 Xnan E1", len(lines) - 3: "hello"}
    for number, bad in spoiled.items():
        lines[number - 1] = bad
    reading = analyze("\n".join(lines) + "\n", fdm.mm3_per_e())
    assert [(p.line, p.text) for p in reading.malformed] == sorted(spoiled.items())
    assert reading.malformed[0].reason == "unreadable text '.3'"


def test_unsupported_commands_are_reported_by_their_numbers_and_reasons():
    text = "G1 X1\nG29.1 Z0\nM221 S110\nM73 P5\nT0\nT1\n"
    reading = analyze(text, 1.0)
    assert [(p.line, p.reason) for p in reading.unsupported] == [
        (2, "G29.1 is not a known command"),
        (3, "changes flow"),
        (4, "M73 is not a known command"),
        (6, "T1 is not a known command"),
    ]


def test_an_object_label_too_long_to_be_a_number_is_refused_by_its_line():
    # the line-by-line reader stopped here with an OverflowError
    reading = analyze(f"M83\nM486 S{'9' * 400}\nG1 X1 E1\nM486 T{'9' * 400}\n", 1.0)
    assert [(p.line, p.reason) for p in reading.malformed] == [
        (2, "object S inf is not a finite number"),
        (4, "object T inf is not a finite number"),
    ]
    assert reading.unlabelled_e == 1.0


def test_line_numbers_count_every_break_str_splitlines_knows():
    text = "G1 X1\r\nG1 X2\rG1 X3\x0bhello\x85G1 X4\u2028bad bad\n"
    reading = analyze(text, 1.0)
    assert reading.lines == len(text.splitlines()) == 6
    assert [p.line for p in reading.malformed] == [4, 6]


COORDINATE = st.one_of(
    st.floats(-1e3, 1e3),
    st.floats(-1e-300, 1e-300),  # subnormal differences: CPython scales them up first
    st.sampled_from([0.0, -0.0, 5e-324, 1e308, float("inf"), float("nan")]),
)


@settings(max_examples=3000)
@given(start=st.tuples(COORDINATE, COORDINATE, COORDINATE), end=st.tuples(*[COORDINATE] * 3))
def test_move_lengths_are_math_dist_to_the_last_bit(
    start: tuple[float, float, float], end: tuple[float, float, float]
) -> None:
    from gcode.replay import python_dist

    expected = math.dist(start, end)
    found = python_dist(*start, *end)
    assert found == expected or (math.isnan(found) and math.isnan(expected))
