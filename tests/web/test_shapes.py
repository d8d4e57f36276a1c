"""Shapes children will take, on the form: each bundled shape offered with its picture, an
uploaded shape checked as the slicer checks it, and every bad mesh refused beside its field
with nothing kept or recorded (the form's check, then Chromium)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from printmed import catalog
from printmed.store.models import Batch
from printmed.web.prescription_form import MeshUpload, check_form
from tests.api.test_meshes import BAD_MESHES, coin_stl, cylinder_stl, finned_disc_stl
from tests.web.conftest import REPO, Service, log_in, screenshot
from tests.web.test_prescription_form import COMPLETE, PRINTERS

README_SCREENSHOT = REPO / "docs" / "screenshots" / "7-shapes.png"
STAR = COMPLETE | {
    "patient.weight_kg": "20",
    "dose.value": "25",
    "dose.unit": "mg",
    "frequency_per_day": "1",
    "units": "7",
    "shape": "mesh:star",
}


@pytest.fixture
def uploads(tmp_path: Path) -> Iterator[Path]:
    """Uploaded meshes kept under a data folder of this test's own."""
    before = list(catalog._uploads)
    catalog.use_data_dir(tmp_path)
    yield tmp_path / "meshes"
    catalog._uploads[:] = before


def kept(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_bundled_shape_is_chosen_by_name_and_designed_for_the_dose() -> None:
    result = check_form(STAR, PRINTERS)
    assert result.ok, result.errors
    assert result.plan is not None and result.plan.design.source_mesh is not None
    assert result.plan.design.source_mesh["name"] == "star"
    assert result.preview().startswith("25 mg per dose → mesh:star ")


def test_a_dose_the_shape_cannot_hold_sits_beside_the_shape() -> None:
    # the star holds 4.679 mg of propranolol 10 % at its smallest, 6 mm
    errors = check_form(STAR | {"dose.value": "4.5"}, PRINTERS).errors
    assert list(errors) == ["shape"]
    assert "too small to hold 4.5 mg" in errors["shape"]
    assert "it holds 4.679–126.3 mg of propranolol-pva-10 within 6–18 mm" in errors["shape"]


def test_the_uploaded_shape_without_a_file_asks_for_one_beside_the_file_field() -> None:
    errors = check_form(STAR | {"shape": "mesh:upload"}, PRINTERS).errors
    assert errors == {"mesh.file": "Choose a shape file to upload (STL or 3MF)"}


def test_an_uploaded_file_is_kept_by_hash_and_chosen(uploads: Path) -> None:
    data = cylinder_stl()
    result = check_form(STAR, PRINTERS, MeshUpload(data, "own.stl", 900_000))
    assert result.ok, result.errors
    sha256 = result.values["mesh.sha256"]
    assert result.values["shape"] == "mesh:upload"
    assert kept(uploads) == [f"{sha256}.stl"]
    assert result.plan is not None and result.plan.design.source_mesh is not None
    assert result.plan.design.source_mesh["sha256"] == sha256


@pytest.mark.parametrize("case", list(BAD_MESHES))
def test_a_bad_mesh_upload_is_refused_beside_the_file_field_and_nothing_kept(
    uploads: Path, case: str
) -> None:
    make, name, field = BAD_MESHES[case]
    result = check_form(STAR, PRINTERS, MeshUpload(make(), name, 900_000))
    assert not result.ok
    assert list(result.errors) == ["mesh.file"]
    message = result.errors["mesh.file"]
    assert message.startswith("Your own shape (STL or 3MF)")
    if field is not None and field != "mesh.file":
        assert field.removeprefix("mesh.") in message
    assert kept(uploads) == []


def test_an_upload_too_thin_at_any_size_is_refused_beside_the_file_field(uploads: Path) -> None:
    result = check_form(STAR, PRINTERS, MeshUpload(finned_disc_stl(0.2), "fin.stl", 900_000))
    assert list(result.errors) == ["mesh.file"]
    message = result.errors["mesh.file"]
    assert message.startswith("Your own shape (STL or 3MF): fin.stl is thinner than two line")
    assert "even at its largest size of 20 mm" in message
    assert kept(uploads) == []


def test_a_dose_the_uploaded_shape_would_hold_too_thin_is_refused_beside_the_shape(
    uploads: Path,
) -> None:
    # kept (a shape that is wide enough at 20 mm), but 11 mg makes it 10 mm and its fin 0.5 mm
    data = finned_disc_stl(0.6)
    result = check_form(STAR | {"dose.value": "11"}, PRINTERS, MeshUpload(data, "fin.stl", 900_000))
    assert list(result.errors) == ["shape"]
    assert "thinner than two line widths (0.9 mm)" in result.errors["shape"]
    assert result.plan is None


def test_a_dose_too_large_for_the_uploaded_shape_is_refused_beside_the_shape(
    uploads: Path,
) -> None:
    values = STAR | {"patient.weight_kg": "30", "dose.value": "50"}
    result = check_form(values, PRINTERS, MeshUpload(coin_stl(), "coin.stl", 900_000))
    assert list(result.errors) == ["shape"]
    assert "larger than its 20 mm maximum" in result.errors["shape"]
    assert result.plan is None


def choose_star(page: Page) -> None:
    page.goto("/prescriptions/new")
    for label, value in {
        "Prescription number": "RX-WEB-STAR-1",
        "Patient identifier": "TEST-PATIENT-31",
        "Weight (kg)": "20",
        "Weighed on": dt.datetime.now(dt.UTC).date().isoformat(),
        "Drug": "propranolol",
        "Dose": "25",
        "Doses a day": "1",
        "Doses to supply": "3",
    }.items():
        page.get_by_label(label, exact=True).fill(value)
    for label, value in {
        "Formulation lot": "propranolol-pva-10",
        "Dose unit": "mg",
        "Tablet shape": "mesh:star",
        "Printer": "fdm-pharma-04",
    }.items():
        page.get_by_label(label, exact=True).select_option(value)


def test_the_shape_choice_shows_each_bundled_shape_with_its_picture(
    page: Page, service: Service
) -> None:
    log_in(page, "tess")
    choose_star(page)
    expect(page.locator("[data-preview]")).to_contain_text("25 mg per dose → mesh:star")
    gallery = page.locator(".shape-option")
    expect(gallery).to_have_count(4)
    for image in page.locator(".shape-option img").all():
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0, image.get_attribute("src")
    chosen = page.locator('.shape-option[data-shape="mesh:star"]')
    assert chosen.evaluate("e => getComputedStyle(e).borderTopWidth") == "2px"
    page.evaluate("document.activeElement.blur()")
    page.locator(".shape-gallery").scroll_into_view_if_needed()
    README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(README_SCREENSHOT), full_page=False)
    screenshot(page, "shapes-form")
    page.get_by_role("button", name=re.compile("Calculate, design")).click()
    page.wait_for_url(re.compile(r".*/batches/[A-Z0-9-]+/review$"), timeout=120_000)
    expect(page.get_by_text("mesh:star").first).to_be_visible()


# through the browser, a file under the request limit but over the upload's own limit
BROWSER_CASES = {
    **{case: made for case, made in BAD_MESHES.items() if case != "over the size limit"},
    "over the upload limit": (lambda: b"\0" * 960_000, "shape.stl", "mesh.file_bytes"),
    "too thin at any size": (lambda: finned_disc_stl(0.2), "fin.stl", "mesh.file"),
}


@pytest.mark.parametrize("case", list(BROWSER_CASES))
def test_a_bad_upload_in_the_browser_is_refused_beside_the_field_and_nothing_recorded(
    page: Page, service: Service, case: str
) -> None:
    with service.store.session() as session:
        batches_before = session.scalar(select(func.count()).select_from(Batch))
    log_in(page, "tess")
    choose_star(page)
    make, name, field = BROWSER_CASES[case]
    page.get_by_label("Your own shape (STL or 3MF) (optional)").set_input_files(
        {"name": name, "mimeType": "model/stl", "buffer": make()}
    )
    page.get_by_role("button", name=re.compile("Calculate, design")).click()
    error = page.locator("#f-mesh-file-error")
    expect(error).to_contain_text("Your own shape (STL or 3MF)")
    if field not in (None, "mesh.file"):
        expect(error).to_contain_text(field.removeprefix("mesh."))
    expect(page.locator("#f-mesh-file")).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/prescriptions/new")  # redirected: a reload sends nothing
    uploads = service.data_dir / "meshes"
    assert not uploads.exists() or not any(uploads.iterdir())
    with service.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == batches_before
    screenshot(page, f"shapes-bad-upload-{re.sub(r'[^a-z]+', '-', case)}")
