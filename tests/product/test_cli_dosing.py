"""`printmed dose` and `printmed design` as a user runs them: output, files, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from stl import mesh as numpy_stl

from printmed.catalog import fixtures_dir

CHILD = fixtures_dir() / "prescriptions" / "propranolol-child.json"


def printmed(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printmed", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_dose_prints_the_dose_and_its_trail():
    result = printmed("dose", str(CHILD))
    assert result.returncode == 0, result.stderr
    assert "12.5 mg per administration" in result.stdout
    assert "1. weight-based dose: dose.value * weight_kg" in result.stdout


def test_dose_json_carries_the_trail():
    result = printmed("dose", str(CHILD), "--json")
    data = json.loads(result.stdout)
    assert data["dose_mg"] == 12.5
    assert data["calculated_mg"] == pytest.approx(12.4)
    assert [step["step"] for step in data["trail"]] == ["weight-based dose", "round to dose step"]


def test_design_writes_a_watertight_stl_holding_the_volume(tmp_path: Path):
    out = tmp_path / "tablet.stl"
    result = printmed("design", str(CHILD), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dose_mg"] == 12.5
    loaded = trimesh.load(out)
    assert loaded.is_watertight
    assert loaded.volume == pytest.approx(data["volume_mm3"], rel=1e-3)
    # an independent STL reader agrees on the solid's volume
    volume, _, _ = numpy_stl.Mesh.from_file(str(out)).get_mass_properties()
    assert volume == pytest.approx(data["volume_mm3"], rel=1e-3)
    assert data["volume_mm3"] * data["drug_mg_per_mm3"] == pytest.approx(12.5, rel=1e-3)
    assert np.isclose(data["height_mm"] / data["layer_height_mm"], data["layers"])


def write_rx(tmp_path: Path, **changes) -> Path:
    data = json.loads(CHILD.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        target = data
        for part in parents:
            target = target[part]
        target[leaf] = value
    path = tmp_path / "rx.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"patient.weight_kg": 400}, "patient.weight_kg: 400 is invalid"),
        ({"patient.weight_kg": 0}, "patient.weight_kg: 0 is invalid"),
        ({"dose.unit": "mg/lb"}, "dose.unit: 'mg/lb' is invalid"),
        ({"dose.value": -2}, "dose.value: -2 is invalid"),
        ({"dose.unit": "mg", "dose.value": 45}, "dose.value: 45 mg is above max_single_dose_mg 40"),
        ({"formulation": "aspirin-pva-5"}, "formulation: 'aspirin-pva-5' is unknown"),
        (
            {"dose.unit": "mg", "dose.value": 39, "shape": "minitablet", "units": 5},
            "dose: 39 mg is above propranolol's max_mg_per_kg_per_dose of 2 mg/kg a dose",
        ),
        (
            {"dose.unit": "mg", "dose.value": 39, "shape": "minitablet", "units": 5}
            | {"patient.weight_kg": 80},
            None,
        ),
        (
            {"dose.unit": "mg", "dose.value": 160, "shape": "caplet", "max_single_dose_mg": 500}
            | {"patient.weight_kg": 80},
            "shape: 'caplet' cannot hold 160 mg",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_field_and_exit_2(tmp_path, changes, message):
    out = tmp_path / "tablet.stl"
    result = printmed("design", str(write_rx(tmp_path, **changes)), "-o", str(out))
    if message is None:  # a control: the same path with a dose the shape can hold succeeds
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_expired_lot_is_refused_by_the_command(tmp_path: Path):
    materials = tmp_path / "fixtures" / "materials"
    materials.mkdir(parents=True)
    lot = json.loads((fixtures_dir() / "materials" / "propranolol-pva-10.json").read_text())
    lot["expiry"] = "2025-01-31"
    (materials / "propranolol-pva-10.json").write_text(json.dumps(lot))
    (tmp_path / "fixtures" / "printers").symlink_to(fixtures_dir() / "printers")
    result = subprocess.run(
        [sys.executable, "-m", "printmed", "dose", str(CHILD)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PRINTMED_FIXTURES": str(tmp_path / "fixtures"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "PVA-PRL-2611-A' expired on 2025-01-31" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not JSON (line 1"), ("[1, 2]", "prescription: list is not a JSON object")],
)
def test_a_malformed_file_is_refused(tmp_path: Path, content, message):
    path = tmp_path / "rx.json"
    path.write_text(content)
    result = printmed("dose", str(path))
    assert result.returncode == 2
    assert message in result.stderr


def test_a_missing_file_is_refused():
    result = printmed("dose", "/nonexistent/rx.json")
    assert result.returncode == 2
    assert "file: '/nonexistent/rx.json' does not exist" in result.stderr


def test_printer_for_another_process_is_refused():
    result = printmed("design", str(CHILD), "--printer", "sse-syringe-08")
    assert result.returncode == 2
    assert (
        "printer: 'sse-syringe-08' prints sse, but lot propranolol-pva-10 is fdm" in result.stderr
    )
