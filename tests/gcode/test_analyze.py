"""The independent reader: E modes, resets, retractions, labels, refusals with line numbers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gcode.analyze import analyze

MM3_PER_E = 2.0


def test_absolute_and_relative_e_read_the_same_volume():
    absolute = "G90\nM82\nG92 E0\nM486 S0\nG1 X10 Y0 E1.5\nG1 X10 Y10 E4\nM486 S-1\n"
    relative = "G90\nM83\nM486 S0\nG1 X10 Y0 E1.5\nG1 X10 Y10 E2.5\nM486 S-1\n"
    assert analyze(absolute, MM3_PER_E).objects[0].volume_mm3 == pytest.approx(8.0)
    assert analyze(relative, MM3_PER_E).objects[0].volume_mm3 == pytest.approx(8.0)


def test_g91_makes_e_relative_and_g90_makes_it_absolute_again_as_marlin_does():
    text = "M486 S0\nG91\nG1 X1 E1\nG1 X1 E1\nG90\nG92 E0\nG1 X5 E3\nM486 S-1\n"
    reading = analyze(text, 1.0)
    assert reading.objects[0].net_e == pytest.approx(5.0)


def test_a_g92_reset_starts_absolute_e_again_without_counting_material():
    text = "M82\nM486 S0\nG1 X1 E2\nG92 E0\nG1 X2 E1\nM486 S-1\n"
    reading = analyze(text, 1.0)
    assert reading.objects[0].net_e == pytest.approx(3.0)
    assert reading.g92_resets == 1


def test_retractions_inside_a_label_are_counted_and_net_to_zero():
    text = "M83\nM486 S0\nG1 X1 E1\nG1 E-0.8\nG0 X5\nG1 E0.8\nG1 X6 E1\nM486 S-1\n"
    reading = analyze(text, 1.0)
    assert reading.objects[0].net_e == pytest.approx(2.0)
    assert reading.objects[0].retractions == 1


def test_extrusion_outside_any_label_is_reported_apart():
    text = "M83\nG1 X1 E0.5\nM486 S0\nG1 X2 E1\nM486 S-1\n"
    reading = analyze(text, 1.0)
    assert reading.unlabelled_volume_mm3 == pytest.approx(0.5)
    assert reading.objects[0].volume_mm3 == pytest.approx(1.0)


def test_layers_bounds_and_temperatures_are_kept_per_object():
    text = (
        "M104 S190\nM140 S55\nM83\nM486 T2\n"
        "M486 S0\nG1 Z0.2\nG1 X1 Y1 E1\nG1 X3 Y2 E1\nG1 Z0.4\nG1 X1 Y1 E1\nM486 S-1\n"
        "M104 S205\nM486 S1\nG1 Z0.2\nG1 X20 Y1 E1\nM486 S-1\n"
    )
    reading = analyze(text, 1.0)
    first, second = reading.objects[0], reading.objects[1]
    assert reading.declared_objects == 2
    assert (first.layers, second.layers) == (2, 1)
    assert first.max_xyz_mm == [3.0, 2.0, 0.4]
    assert (first.max_nozzle_temp_c, second.max_nozzle_temp_c) == (190.0, 205.0)
    assert first.max_bed_temp_c == 55.0


def test_comments_line_numbers_and_checksums_are_understood():
    text = "; header\nN1 G1 X1 E1 (move)*57\nG1 X2 E2 ; comment\n"
    reading = analyze(text, 1.0)
    assert reading.unlabelled_e == pytest.approx(2.0)
    assert reading.comments == 2
    assert not reading.malformed


def test_malformed_lines_are_reported_with_their_line_numbers():
    text = "G1 X1 E1\nG1 X1.2.3 E2\nhello\nG1 Xnan E1\n"
    reading = analyze(text, 1.0)
    assert [p.line for p in reading.malformed] == [2, 3, 4]


def test_commands_that_change_extrusion_unseen_are_reported_as_unsupported():
    text = "M221 S110\nG2 X1 Y1 I1 J0 E1\nM200 D1.75\n"
    reading = analyze(text, 1.0)
    assert [p.line for p in reading.unsupported] == [1, 2, 3]


def test_the_volume_per_e_comes_from_the_caller_not_from_the_header():
    honest = "; extrusion: absolute E, 2.405282 mm3 per unit of E\nM83\nM486 S0\nG1 X1 E1\n"
    tampered = honest.replace("2.405282", "2.525546")
    assert analyze(honest, 2.405282).objects[0].volume_mm3 == pytest.approx(2.405282)
    assert analyze(tampered, 2.405282).objects[0].volume_mm3 == pytest.approx(2.405282)


def test_print_time_is_distance_over_feed_rate():
    reading = analyze("G1 X60 F600\nG1 X0 F1200\n", 1.0)
    assert reading.print_time_s == pytest.approx(6.0 + 3.0)


def test_the_reader_imports_neither_the_slicer_nor_the_writer():
    """gcode.jit is how every kernel imports numba (no G-code in it), so the reader shares it."""
    probe = "import gcode.analyze; gcode.analyze.analyze('G1 X1 E1', 1.0); " + _LOADED
    read = ["gcode", "gcode.analyze", "gcode.jit", "gcode.replay", "gcode.scan", "gcode.words"]
    assert _run(probe) == read


_LOADED = "import sys; print(' '.join(sorted(m for m in sys.modules if m.startswith('gcode'))))"


def _run(probe: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_importing_the_reader_loads_no_numerical_library_until_it_reads():
    heavy = ("numpy", "numba", "trimesh", "scipy", "matplotlib")
    probe = f"import sys, gcode.analyze; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    assert _run(probe) == []
