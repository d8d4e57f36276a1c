"""G-code no one here wrote (CuraEngine's, PrusaSlicer's) reads back with every figure the
pure-Python reader gave it, volumes to 1e-6 mm³ and better: the reader knows no printmed habit.

Peers from Debian (`bash benchmarks/install_peers.sh`): `cura-engine` with Cura's machine
definitions, `prusa-slicer`. Both slice headless; settings as DESIGN.md records them.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trimesh

from gcode.analyze import Analysis, analyze
from tests.gcode.slow_reader import slow_analyze
from tests.gcode.test_reader_as_before import as_recorded

FILAMENT_MM = 1.75
MM3_PER_E = math.pi * FILAMENT_MM**2 / 4
LAYER_MM = 0.2
BED_MM = 200.0
DEFINITIONS = Path(os.environ.get("PRINTMED_PEERS_DIR", Path.home() / ".cache" / "printmed-peers"))


def _need(program: str) -> str:
    found = shutil.which(program)
    assert found, f"{program} is missing: bash benchmarks/install_peers.sh"
    return found


@pytest.fixture(scope="module")
def meshes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 10 × 4 mm tablet, and three of them a plate apart, as STL files."""
    folder = tmp_path_factory.mktemp("foreign-meshes")
    tablet = trimesh.creation.cylinder(radius=5.0, height=4.0, sections=128)
    tablet.apply_translation((0, 0, 2.0))
    plate = trimesh.util.concatenate(
        [tablet.copy().apply_translation((14.0 * i, 0, 0)) for i in range(3)]
    )
    paths = {"tablet": folder / "tablet.stl", "plate": folder / "plate.stl"}
    tablet.export(paths["tablet"])
    plate.export(paths["plate"])
    return paths


def _cura(mesh: Path, out: Path) -> None:
    assert (DEFINITIONS / "fdmprinter.def.json").is_file(), "bash benchmarks/install_peers.sh"
    settings = {
        "machine_width": BED_MM,
        "machine_depth": BED_MM,
        "machine_height": BED_MM,
        "machine_center_is_zero": "false",
        "center_object": "true",
        "adhesion_type": "none",
        "layer_height": LAYER_MM,
        "layer_height_0": LAYER_MM,
        "line_width": 0.4,
        "wall_line_count": 2,
        "infill_sparse_density": 20,
        "infill_line_distance": 2.0,
        "top_layers": 3,
        "bottom_layers": 3,
        "retraction_enable": "true",
        "material_diameter": FILAMENT_MM,
    }
    command = [_need("CuraEngine"), "slice", "-j", str(DEFINITIONS / "fdmprinter.def.json")]
    for key, value in settings.items():
        command += ["-s", f"{key}={value}"]
    command += ["-e0", "-s", f"material_diameter={FILAMENT_MM}", "-l", str(mesh), "-o", str(out)]
    subprocess.run(command, check=True, capture_output=True)


def _prusa(mesh: Path, out: Path) -> None:
    command = [
        _need("prusa-slicer"),
        "--export-gcode",
        *("--layer-height", str(LAYER_MM), "--first-layer-height", str(LAYER_MM)),
        *("--perimeters", "2", "--fill-density", "20%", "--skirts", "0"),
        *("--solid-infill-below-area", "0", "--filament-diameter", str(FILAMENT_MM)),
        *("--gcode-label-objects", "--center", f"{BED_MM / 2:g},{BED_MM / 2:g}"),
        *("--gcode-flavor", "marlin2", "--remaining-times"),  # progress lines, M73
        *("--output", str(out), str(mesh)),
    ]
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="module")
def foreign(meshes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """G-code text by "<peer> <mesh>", sliced now by the installed peers."""
    folder = tmp_path_factory.mktemp("foreign-gcode")
    texts = {}
    for peer, slicer in (("cura", _cura), ("prusa", _prusa)):
        for name, mesh in meshes.items():
            out = folder / f"{peer}-{name}.gcode"
            slicer(mesh, out)
            texts[f"{peer} {name}"] = out.read_text(errors="replace")
    return texts


def _volume_mm3(reading: Analysis) -> float:
    return reading.unlabelled_volume_mm3 + sum(o.volume_mm3 for o in reading.objects.values())


@pytest.mark.parametrize("peer", ["cura", "prusa"])
@pytest.mark.parametrize("mesh", ["tablet", "plate"])
def test_foreign_gcode_reads_as_the_pure_python_reader_read_it(foreign, peer, mesh):
    text = foreign[f"{peer} {mesh}"]
    fast = analyze(text, MM3_PER_E, keep_segments=True)
    slow = slow_analyze(text, MM3_PER_E, keep_segments=True)
    assert abs(_volume_mm3(fast) - _volume_mm3(slow)) <= 1e-6
    assert as_recorded(fast) == as_recorded(slow)


@pytest.mark.parametrize("peer", ["cura", "prusa"])
def test_foreign_gcode_holds_about_the_volume_of_its_tablets(foreign, peer):
    # a 20 % filled 10 × 4 mm tablet: well under the solid 314 mm³, well over its shell alone
    volume = _volume_mm3(analyze(foreign[f"{peer} tablet"], MM3_PER_E))
    assert 100.0 < volume < 314.2


def test_prusaslicers_progress_lines_are_named_by_line_not_ignored(foreign):
    text = foreign["prusa tablet"]
    reading = analyze(text, MM3_PER_E)
    progress_lines = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("M73 ")]
    assert progress_lines
    named = [p.line for p in reading.unsupported if p.reason == "M73 is not a known command"]
    assert named == progress_lines
    assert not reading.malformed
