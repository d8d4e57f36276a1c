"""`--mesh` on the command line: `printmed make`, `design` and `preview` with a bundled shape or
an STL file, refused (exit 2, one line naming the option, nothing written) when it names
neither; and the preview of a mesh tablet draws the mesh's outline, not the built-in shape."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import trimesh
from matplotlib.colors import to_rgb
from PIL import Image
from scipy import ndimage

from printmed import catalog
from printmed.cli import main
from printmed.pictures import COLOURS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHILD = FIXTURES / "prescriptions" / "propranolol-child.json"
DOSE_MM3 = 12.5 / catalog.formulation("propranolol-pva-10").drug_mg_per_mm3


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The data folder the command line keeps meshes in (PRINTMED_DATA_DIR), this test's own."""
    folder = tmp_path / "data"
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(folder))
    before = list(catalog._uploads)
    catalog._uploads.clear()  # as in a fresh process: no app has named a data folder
    yield folder
    catalog._uploads[:] = before


@pytest.fixture
def rx(tmp_path: Path) -> Path:
    """The children's propranolol prescription (12.5 mg), four units to keep the plate small."""
    path = tmp_path / "rx.json"
    path.write_text(json.dumps(json.loads(CHILD.read_text()) | {"units": 4}))
    return path


def make(rx: Path, mesh: str, out: Path) -> dict[str, Any]:
    """`printmed make RX --mesh MESH -o OUT --json` on the FDM printer: its report."""
    stdout = io.StringIO()
    argv = ["make", str(rx), "--printer", "fdm-pharma-04", "--mesh", mesh, "-o", str(out)]
    with contextlib.redirect_stdout(stdout):
        assert main([*argv, "--json"]) == 0
    return dict(json.loads(stdout.getvalue()))


def test_make_with_a_bundled_shape_writes_gated_gcode_of_that_shape(
    rx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "star.gcode"
    report = make(rx, "star", out)
    assert report["design"]["shape"] == "mesh:star"
    star = (FIXTURES / "meshes" / "star.stl").read_bytes()
    assert report["design"]["source_mesh"]["sha256"] == hashlib.sha256(star).hexdigest()
    assert len(report["tablets"]) == 4
    for tablet in report["tablets"]:
        assert abs(tablet["gcode_mg"] - 12.5) <= 0.01 * 12.5
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report["sha256"]


def test_make_with_an_stl_file_keeps_it_by_hash_and_prints_it(
    rx: Path, tmp_path: Path, data_dir: Path
) -> None:
    shape = tmp_path / "own.stl"
    cylinder = trimesh.creation.cylinder(radius=5.0, height=3.0, sections=48)
    shape.write_bytes(cylinder.export(file_type="stl"))
    sha256 = hashlib.sha256(shape.read_bytes()).hexdigest()
    out = tmp_path / "own.gcode"
    report = make(rx, str(shape), out)
    assert report["design"]["shape"] == f"mesh:upload-{sha256[:12]}"
    assert report["design"]["source_mesh"]["sha256"] == sha256
    assert [p.name for p in (data_dir / "meshes").iterdir()] == [f"{sha256}.stl"]
    for tablet in report["tablets"]:
        assert abs(tablet["gcode_mg"] - 12.5) <= 0.01 * 12.5
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report["sha256"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "unicorn",
            "is neither a bundled shape (star, heart, bear, letter-h) nor an .stl or .3mf file",
        ),
        ("missing.stl", "does not exist"),
    ],
)
@pytest.mark.parametrize("command", ["make", "design"])
def test_a_mesh_that_is_neither_a_bundled_shape_nor_a_file_is_refused_and_nothing_written(
    rx: Path,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    value: str,
    reason: str,
) -> None:
    out = tmp_path / "out"
    printer = ["--printer", "fdm-pharma-04"]
    code = main([command, str(rx), *printer, "--mesh", value, "-o", str(out)])
    assert code == 2
    error = capsys.readouterr().err
    assert error == f"printmed {command}: error: --mesh: {value!r} {reason}\n"
    assert not out.exists()
    assert not data_dir.exists()


def test_design_with_a_bundled_shape_writes_the_scaled_mesh(rx: Path, tmp_path: Path) -> None:
    out = tmp_path / "heart.stl"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["design", str(rx), "--mesh", "heart", "-o", str(out), "--json"]) == 0
    design = json.loads(stdout.getvalue())
    assert design["shape"] == "mesh:heart" and design["printer"] == "fdm-pharma-04"
    assert design["source_mesh"]["name"] == "heart"
    assert design["volume_mm3"] == pytest.approx(DOSE_MM3, rel=1e-12)
    written = trimesh.load_mesh(out, file_type="stl")
    assert written.volume == pytest.approx(DOSE_MM3, rel=1e-6)  # STL keeps 32-bit floats
    low, high = catalog.bundled_shapes()["heart"].size_range_mm
    assert low <= max(written.extents[:2]) <= high
    assert written.extents[2] == pytest.approx(design["height_mm"], abs=1e-5)


def outline_iou(png: bytes, outline: shapely.Polygon) -> float:
    """How well the drawn outer perimeter encloses `outline` (intersection over union), the two
    matched by their bounding boxes: the picture's scale and place do not count, its shape does."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    blue = np.array(to_rgb(COLOURS["perimeter"])) * 255
    perimeter = np.abs(pixels - blue).sum(axis=2) < 90
    parts, count = ndimage.label(perimeter)
    sizes = ndimage.sum(perimeter, parts, range(1, count + 1))
    drawn = ndimage.binary_fill_holes(parts == 1 + int(np.argmax(sizes)))  # the outer wall
    rows, cols = np.nonzero(drawn)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    x0, y0, x1, y1 = outline.bounds
    c, r = np.meshgrid(np.arange(left, right) + 0.5, np.arange(top, bottom) + 0.5)
    inside = shapely.contains_xy(
        outline,
        x0 + (c - left) / (right - left) * (x1 - x0),
        y1 - (r - top) / (bottom - top) * (y1 - y0),  # rows run down
    )
    drawn = drawn[top:bottom, left:right]
    return float((inside & drawn).sum() / (inside | drawn).sum())


def bear_outline() -> Any:
    bear = trimesh.load_mesh(FIXTURES / "meshes" / "bear.stl", file_type="stl")
    section = bear.section(plane_origin=[0.0, 0.0, 0.1], plane_normal=[0.0, 0.0, 1.0])
    assert section is not None
    return shapely.union_all([shapely.Polygon(loop) for loop in section.discrete])


def test_the_preview_of_a_bear_tablet_draws_the_bears_outline_not_a_round_tablet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pictures = {}
    for name, mesh in (("bear", ["--mesh", "bear"]), ("round", [])):
        folder = tmp_path / name
        argv = ["preview", str(CHILD), "--printer", "fdm-pharma-04", "-o", str(folder)]
        assert main([*argv, "--layers", "0", *mesh]) == 0
        pictures[name] = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(pictures["bear"]) == set(pictures["round"]) == {"tablet.png", "layer-000.png"}
    assert pictures["bear"]["tablet.png"] != pictures["round"]["tablet.png"]
    assert outline_iou(pictures["bear"]["layer-000.png"], bear_outline()) > 0.95
    assert outline_iou(pictures["round"]["layer-000.png"], bear_outline()) < 0.85
    assert outline_iou(pictures["round"]["layer-000.png"], shapely.Point(0, 0).buffer(1.0)) > 0.95
