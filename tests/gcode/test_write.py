"""What the writer puts in the file: labels, header, temperatures, E modes, sequences."""

from __future__ import annotations

import re

import pytest
import trimesh

from gcode.errors import MaterialWindowRefused, SettingsInvalid
from gcode.flow import plan_flow
from gcode.settings import settings_for
from gcode.slice import slice_part
from gcode.write import PlacedTablet, PlateHeader, check_temperatures, write_gcode
from tests.gcode.conftest import print_solid


def _discs(n: int) -> list[trimesh.Trimesh]:
    return [trimesh.creation.cylinder(3.0 + i, 2.0, sections=64) for i in range(n)]


def test_every_tablet_is_labelled_and_all_material_is_inside_labels(fdm):
    printed = print_solid(_discs(3), fdm)
    assert "M486 T3" in printed.text
    assert sorted(printed.reading.objects) == [0, 1, 2]
    assert printed.reading.unlabelled_e == 0.0
    assert printed.text.count("M486 S-1") == sum(len(t.part.layers) for t in printed.tablets)


def test_the_header_names_job_lot_printer_and_each_tablets_target(fdm):
    printed = print_solid(_discs(2), fdm, to_design_volume=True)
    header = [line for line in printed.text.splitlines() if line.startswith(";")][:12]
    text = "\n".join(header)
    assert "job: test-job" in text and "lot: LOT-T" in text and "fdm-pharma-04" in text
    assert len(re.findall(r"; tablet \d \(part\d\): volume \d+\.\d+ mm3", text)) == 2


def test_sse_uses_relative_plunger_moves_and_fdm_absolute_filament(fdm, sse):
    sse_text = print_solid(_discs(1), sse).text
    fdm_text = print_solid(_discs(1), fdm).text
    assert "M83" in sse_text.split("M486 T1")[0]
    assert "M82" in fdm_text.split("M486 T1")[0]


def test_a_design_volume_is_deposited_to_within_half_a_percent(fdm, sse):
    for profile in (fdm, sse):
        printed = print_solid(_discs(2), profile, to_design_volume=True)
        for i, figures in printed.reading.objects.items():
            target = printed.tablets[i].flow.target_volume_mm3
            assert abs(figures.volume_mm3 / target - 1) < 0.005


def test_temperatures_above_the_printer_or_the_sse_limit_are_refused(fdm, sse):
    with pytest.raises(MaterialWindowRefused):
        check_temperatures(fdm, 300.0, 60.0)
    with pytest.raises(MaterialWindowRefused):
        check_temperatures(sse, 85.0, 0.0)
    with pytest.raises(MaterialWindowRefused):
        check_temperatures(fdm, 200.0, 140.0)


def test_one_after_another_needs_the_gantry_to_clear_the_tablets(fdm):
    config = settings_for(fdm)
    mesh = trimesh.creation.cylinder(3.0, 2.0, sections=32)
    mesh.apply_translation((0, 0, 1.0))
    part = slice_part(mesh.triangles, config)
    flow = plan_flow(part, config.line_width_mm, None)
    tablets = [PlacedTablet(f"t{i}", part, (30.0 + 15 * i, 30.0), flow) for i in range(2)]
    job = PlateHeader("j", "lot", "f", 200.0, 60.0, fdm.mm3_per_e())
    with pytest.raises(SettingsInvalid):
        write_gcode(tablets, fdm, job, sequence="parts")
    cleared = fdm.model_copy(update={"gantry_clearance_mm": 20.0})
    text = write_gcode(tablets, cleared, job, sequence="parts")
    labels = [
        line for line in text.splitlines() if line.startswith("M486 S") and line != "M486 S-1"
    ]
    assert labels == ["M486 S0"] * len(part.layers) + ["M486 S1"] * len(part.layers)
