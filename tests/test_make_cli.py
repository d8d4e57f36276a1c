"""`printmed make`, `analyze` and `preview` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from printmed.cli import main

RX = Path(__file__).resolve().parents[1] / "fixtures" / "prescriptions" / "propranolol-child.json"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("make") / "rx.gcode"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["make", str(RX), "--printer", "fdm-pharma-04", "-o", str(out), "--json"]) == 0
    return out, json.loads(stdout.getvalue())


def test_make_writes_gcode_and_lists_each_tablets_target_and_gcode_dose(made):
    out, report = made
    assert out.is_file()
    assert len(report["tablets"]) == 28
    for tablet in report["tablets"]:
        assert tablet["gcode_mg"] == pytest.approx(tablet["target_mg"], rel=0.005)
        assert tablet["target_mg"] == 12.5
    assert report["sha256"] and report["printer"] == "fdm-pharma-04"


def test_make_refuses_a_printer_of_the_wrong_process_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "no.gcode"
    code = main(["make", str(RX), "--printer", "sse-syringe-08", "-o", str(out)])
    assert code == 2
    assert not out.exists()
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "sse-syringe-08" in error


def test_analyze_reads_the_tablets_back_with_the_lots_drug_content(made, capsys):
    out, report = made
    code = main(
        [
            "analyze",
            str(out),
            "--printer",
            "fdm-pharma-04",
            "--formulation",
            "propranolol-pva-10",
            "--json",
        ]
    )
    assert code == 0
    reading = json.loads(capsys.readouterr().out)
    assert reading["declared_objects"] == 29  # 28 tablets and the prime line, object 28
    assert reading["object_names"] == {"28": "prime"} and "gcode_mg" not in reading["objects"][28]
    assert reading["prime_volume_mm3"] == pytest.approx(8.0, abs=1e-4)
    assert [o["gcode_mg"] for o in reading["objects"][:28]] == pytest.approx(
        [t["gcode_mg"] for t in report["tablets"]]
    )
    assert reading["malformed"] == [] and reading["unlabelled_volume_mm3"] == 0.0


def test_preview_writes_the_tablet_and_chosen_layers_as_png(tmp_path, capsys):
    code = main(
        ["preview", str(RX), "--printer", "fdm-pharma-04", "-o", str(tmp_path), "--layers", "0,-1"]
    )
    assert code == 0
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["layer-000.png", "layer-013.png", "tablet.png"]
    for name in written:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preview_refuses_a_layer_the_tablet_does_not_have(tmp_path, capsys):
    code = main(
        ["preview", str(RX), "--printer", "fdm-pharma-04", "-o", str(tmp_path), "--layers", "99"]
    )
    assert code == 2
    assert "--layers" in capsys.readouterr().err


def test_make_names_the_prime_line_apart_from_the_tablets(tmp_path, capsys):
    out = tmp_path / "rx.gcode"
    assert main(["make", str(RX), "--printer", "fdm-pharma-04", "-o", str(out)]) == 0
    [prime] = [row for row in capsys.readouterr().out.splitlines() if row.startswith("prime")]
    assert prime.split(None, 2)[2] == (
        "8.00 mm³ at the bed's edge, on no tablet (the profile allows up to 20 mm³)"
    )
