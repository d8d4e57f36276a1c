"""/api/v1/meshes: an uploaded shape is checked, kept by its SHA-256 and printed from a
prescription naming it; each bad mesh is refused as problem+json naming the field, nothing kept."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import trimesh
from fastapi.testclient import TestClient

from printmed import catalog
from printmed.settings import Settings
from tests.api.conftest import Callers
from tests.api.fhir_helpers import batch_of, post_order
from tests.api.payloads import adult_fixed_dose_order, as_recorded
from tests.api.test_questioned_orders import recorded

PROBLEM_JSON = "application/problem+json"


def stl(triangles: np.ndarray, count: int | None = None) -> bytes:
    """A binary STL of (n, 3, 3) triangles; `count` overrides the header's triangle count."""
    records = np.zeros(len(triangles), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = triangles
    header = b"printmed test".ljust(80, b" ")
    return (
        header + struct.pack("<I", len(triangles) if count is None else count) + records.tobytes()
    )


def cylinder_stl() -> bytes:
    mesh = trimesh.creation.cylinder(radius=5.0, height=3.0, sections=48)
    return stl(np.asarray(mesh.triangles))


def rx(sha256: str) -> dict[str, Any]:
    """A prescribing system's order for a tablet of the uploaded shape (the weight and height
    as recorded, as a prescribing system must send them)."""
    return as_recorded(
        {
            "id": "RX-UPLOAD-1",
            "patient": {
                "id": "TEST-PATIENT-8",
                "weight_kg": 30.0,
                "height_cm": 130,
                "age_years": 9,
            },
            "drug": {"name": "propranolol", "code": "372772003"},
            "dose": {"value": 30.0, "unit": "mg"},
            "frequency_per_day": 1,
            "units": 3,
            "formulation": "propranolol-pva-10",
            "shape": "mesh",
            "mesh": {"sha256": sha256},
        }
    )


def upload(client: TestClient, who: dict[str, str], data: bytes, name: str = "shape.stl") -> Any:
    return client.post(
        "/api/v1/meshes", files={"file": (name, data, "application/octet-stream")}, headers=who
    )


def kept(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "meshes"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_an_uploaded_shape_is_kept_by_hash_and_a_prescription_naming_it_is_verified(
    client: TestClient, callers: Callers, settings: Settings
) -> None:
    data = cylinder_stl()
    answer = upload(client, callers["tech"], data)
    assert answer.status_code == 201, answer.text
    sha256 = hashlib.sha256(data).hexdigest()
    assert answer.json()["sha256"] == sha256
    assert [p.name for p in kept(settings)] == [f"{sha256}.stl"]

    order = client.post("/api/v1/prescriptions", json=rx(sha256), headers=callers["epma"])
    assert order.status_code == 201, order.text
    batch = order.json()["batch"]
    assert batch["state"] == "verified"
    assert batch["design"]["source_mesh"]["sha256"] == sha256
    assert order.json()["prescription"]["mesh"] == {"name": None, "sha256": sha256}
    for tablet in batch["gate"]["tablets"]:
        assert abs(tablet["gcode_mg"] - 30.0) <= 0.01 * 30.0


def test_the_bundled_shapes_are_listed_with_their_hash_and_size_range(
    client: TestClient, callers: Callers
) -> None:
    answer = client.get("/api/v1/meshes", headers=callers["viewer"])
    assert answer.status_code == 200, answer.text
    shapes = {s["name"]: s for s in answer.json()}
    assert set(shapes) == {"star", "heart", "bear", "letter-h"}
    assert shapes["star"]["size_range_mm"] == [6.0, 18.0]


def test_a_prescription_naming_an_unknown_upload_is_refused(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post("/api/v1/prescriptions", json=rx("0" * 64), headers=callers["epma"])
    assert answer.status_code == 422
    assert answer.json()["field"] == "mesh.sha256"


def _box_without_a_side() -> bytes:
    box = trimesh.creation.box((10.0, 10.0, 4.0))
    return stl(np.asarray(box.triangles)[2:])


def _nan() -> bytes:
    triangles = np.asarray(trimesh.creation.box((10.0, 10.0, 4.0)).triangles).copy()
    triangles[3, 1, 2] = np.nan
    return stl(triangles)


def _degenerate() -> bytes:
    return stl(np.tile(np.array([[0.0, 0, 0], [0, 0, 0], [2, 2, 2]]), (12, 1, 1)))


BAD_MESHES = {
    "over the size limit": (lambda: b"\0" * 1_000_000, "shape.stl", None),
    "not an STL or 3MF": (cylinder_stl, "shape.obj", "mesh.file"),
    "more triangles than the file holds": (
        lambda: stl(np.asarray(trimesh.creation.box((10.0, 10.0, 4.0)).triangles), count=500),
        "shape.stl",
        "mesh.triangle_count",
    ),
    "a NaN coordinate": (_nan, "shape.stl", "mesh.vertices"),
    "degenerate triangles only": (_degenerate, "shape.stl", "mesh.triangles"),
    "flat: encloses no volume": (
        lambda: stl(np.tile(np.array([[0.0, 0, 0], [1, 1, 1], [2, 2, 2]]), (12, 1, 1))),
        "shape.stl",
        "mesh.volume_mm3",
    ),
    "a hole too large to close": (_box_without_a_side, "shape.stl", "mesh.holes"),
}


@pytest.mark.parametrize("case", list(BAD_MESHES))
def test_a_bad_mesh_upload_is_refused_naming_the_field_and_nothing_is_kept(
    client: TestClient, callers: Callers, settings: Settings, case: str
) -> None:
    make, name, field = BAD_MESHES[case]
    answer = upload(client, callers["tech"], make(), name)
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    if field is None:  # above the request limit: the service refuses before reading it
        assert answer.status_code == 413
        assert "limit" in answer.json()["detail"]
    else:
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
    assert kept(settings) == []


def test_an_upload_a_little_under_the_request_limit_is_refused_naming_its_size(
    client: TestClient, callers: Callers, settings: Settings
) -> None:
    answer = upload(client, callers["tech"], b"\0" * 960_000)
    assert answer.status_code == 422
    assert answer.json()["field"] == "mesh.file_bytes"
    assert kept(settings) == []


def test_a_caller_that_may_only_read_cannot_upload(client: TestClient, callers: Callers) -> None:
    assert upload(client, callers["viewer"], cylinder_stl()).status_code == 403


def with_shape(order: dict[str, Any], value: str) -> dict[str, Any]:
    for extension in order["extension"]:
        if extension["url"].endswith("/tablet-shape"):
            extension.pop("valueCode", None)
            extension["valueCode"] = value
    return order


def test_a_fhir_order_names_a_bundled_shape_in_the_tablet_shape_extension(
    client: TestClient, callers: Callers
) -> None:
    answer = post_order(
        client, with_shape(adult_fixed_dose_order(doses=1), "mesh:star"), callers["epma"]
    )
    assert answer.status_code == 201, answer.text
    batch = batch_of(client, answer.json()["id"], callers["epma"])
    assert batch["design"]["shape"] == "mesh:star"
    assert (
        batch["design"]["source_mesh"]["sha256"]
        == hashlib.sha256((catalog.fixtures_dir() / "meshes" / "star.stl").read_bytes()).hexdigest()
    )
    assert batch["gate"]["tablets"][0]["gcode_mg"] == pytest.approx(200.0, rel=0.01)


def test_a_fhir_order_names_an_uploaded_shape_by_its_hash(
    client: TestClient, callers: Callers
) -> None:
    sha256 = upload(client, callers["tech"], cylinder_stl()).json()["sha256"]
    order = with_shape(adult_fixed_dose_order(doses=1), f"mesh:{sha256}")
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 201, answer.text
    batch = batch_of(client, answer.json()["id"], callers["epma"])
    assert batch["design"]["source_mesh"]["sha256"] == sha256


def test_a_fhir_order_naming_an_unknown_shape_is_refused_naming_the_extension(
    client: TestClient, callers: Callers
) -> None:
    order = with_shape(adult_fixed_dose_order(doses=1), "mesh:unicorn")
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert "unicorn" in issue["diagnostics"] and "bundled shape" in issue["diagnostics"]


# Too thin and too large. A shape thinner than two lines of the finest printer even at the
# largest size an upload may have (20 mm) is refused when uploaded: no dose could make it
# printable. Whether a shape is wide enough, and small enough, at the size a dose needs on the
# chosen printer is judged when it is ordered, and refused naming the shape.


def finned_disc_stl(fin_mm: float) -> bytes:
    """A disc 8 mm across, 3 mm high, with a fin `fin_mm` wide reaching out to 12 mm across."""
    outline = shapely.Point(0, 0).buffer(4.0).union(shapely.box(3.5, -fin_mm / 2, 8.0, fin_mm / 2))
    return stl(np.asarray(trimesh.creation.extrude_polygon(outline, 3.0).triangles))


def coin_stl() -> bytes:
    """A flat disc 10 mm across and 0.6 mm high: at its largest, 20 mm, it holds 377 mm³."""
    return stl(np.asarray(trimesh.creation.cylinder(radius=5.0, height=0.6, sections=48).triangles))


def rx_for_dose(sha256: str, dose_mg: float) -> dict[str, Any]:
    return rx(sha256) | {"dose": {"value": dose_mg, "unit": "mg"}, "units": 2}


def test_an_upload_too_thin_at_any_size_is_refused_naming_the_file_and_nothing_is_kept(
    client: TestClient, callers: Callers, settings: Settings
) -> None:
    answer = upload(client, callers["tech"], finned_disc_stl(0.2), "fin.stl")
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    assert (answer.json()["field"], answer.json()["value"]) == ("mesh.file", "fin.stl")
    assert "thinner than two line widths (0.9 mm)" in answer.json()["detail"]
    assert "even at its largest size of 20 mm" in answer.json()["detail"]
    assert kept(settings) == []


# (shape file, dose mg, what the refusal says): 11 mg of propranolol 10 % makes the finned disc
# about 10 mm across and its fin 0.5 mm wide; 50 mg would need the coin larger than 20 mm
UNFIT_ORDERS = {
    "too thin at the size its dose needs": (
        lambda: finned_disc_stl(0.6),
        11.0,
        "thinner than two line widths (0.9 mm)",
    ),
    "too large for the dose": (coin_stl, 50.0, "larger than its 20 mm maximum"),
}


@pytest.mark.parametrize("case", list(UNFIT_ORDERS))
def test_an_order_the_uploaded_shape_cannot_be_made_for_is_refused_and_nothing_is_recorded(
    client: TestClient, callers: Callers, settings: Settings, case: str
) -> None:
    make, dose_mg, words = UNFIT_ORDERS[case]
    sha256 = upload(client, callers["tech"], make()).json()["sha256"]
    before = recorded(settings)
    order = rx_for_dose(sha256, dose_mg)
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["epma"])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    problem = answer.json()
    assert (problem["field"], problem["value"]) == ("shape", f"mesh:upload-{sha256[:12]}")
    assert words in problem["detail"]
    assert recorded(settings) == before
