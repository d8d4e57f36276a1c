"""`printmed dose` refuses issue 13's unsafe orders in one line naming the field, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from printmed.catalog import fixtures_dir
from tests.api.payloads import ANOTHER_CHILD, native_measured_order, uk_core_order

PRESCRIPTIONS = fixtures_dir() / "prescriptions"


def dose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printmed", "dose", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def written(folder: Path, order: dict[str, Any], name: str = "rx.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(order))
    return path


def refused_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_native_file_with_a_withdrawn_weight_exits_2_naming_its_status(tmp_path: Path):
    order = native_measured_order()
    order["patient"]["weight"]["status"] = "entered-in-error"
    line = refused_line(dose(written(tmp_path, order)))
    assert "patient.weight.status: 'entered-in-error' may not be used" in line


def test_a_fhir_file_with_another_childs_weight_exits_2_naming_its_subject(tmp_path: Path):
    order = uk_core_order()
    order["contained"][0]["subject"] = {"identifier": ANOTHER_CHILD}
    line = refused_line(dose(written(tmp_path, order)))
    assert "MedicationRequest.contained[0].subject: 'https://fhir.nhs.uk/Id/nhs-number|" in line


def test_a_referenced_weight_beside_the_file_is_questioned_too(tmp_path: Path):
    shutil.copy(PRESCRIPTIONS / "theophylline-adult.fhir.json", tmp_path / "rx.json")
    observation = json.loads((PRESCRIPTIONS / "Observation-test-weight-3.json").read_text())
    observation["status"] = "preliminary"
    written(tmp_path, observation, "Observation-test-weight-3.json")
    line = refused_line(dose(tmp_path / "rx.json"))
    assert "Observation/test-weight-3.status: 'preliminary' may not be used" in line


def test_a_native_daily_maximum_the_rounding_cannot_keep_exits_2_naming_it(tmp_path: Path):
    order = native_measured_order()
    order["patient"]["weight"]["value"] = 6.4
    order["max_daily_dose_mg"] = 12.8
    line = refused_line(dose(written(tmp_path, order)))
    assert "max_daily_dose_mg: 12.8 mg a day allows at most 6.4 mg a dose" in line


def test_the_issue_order_from_a_file_rounds_down_and_says_so(tmp_path: Path):
    result = dose(written(tmp_path, uk_core_order()))
    assert result.returncode == 0, result.stderr
    assert "12 mg per administration" in result.stdout
    assert "round down to stay within max_daily_dose_mg" in result.stdout


def test_reading_a_native_file_questions_it_without_loading_fhir_resources():
    # fhir.resources is imported only when a FHIR order is actually read
    code = (
        "import sys; from pathlib import Path; from printmed.intake import read_prescription; "
        f"read_prescription(Path({str(PRESCRIPTIONS / 'propranolol-child.json')!r})); "
        "print(any(m.startswith('fhir') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr
