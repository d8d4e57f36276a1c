"""A batch whose tablet is a bundled mesh shape (the bear), as the pages show it: its tablet and
layer pictures are PNGs drawn from the record; the review page, the record page and the record's
PDF name the shape file by the SHA-256 of its bytes; its size reads length × width × height.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from dosing.prescription import parse_prescription
from printmed.auth.users import get_user
from printmed.jobs.making import enter_prescription
from printmed.web.batch_view import load_batch
from tests.web.conftest import PRINTER, REPO, Service, log_in, screenshot

BEAR_FILE = REPO / "fixtures" / "meshes" / "bear.stl"
BEAR = {
    "id": "RX-WEB-BEAR-1",
    "patient": {"id": "TEST-PATIENT-32", "weight_kg": 20.0},
    "drug": {"name": "propranolol"},
    "dose": {"value": 25.0, "unit": "mg"},
    "frequency_per_day": 1,
    "units": 3,
    "formulation": "propranolol-pva-10",
    "shape": "mesh",
    "mesh": {"name": "bear"},
}
# pixels: printmed.pictures draws a tablet at 480 × 480, a layer at 384 × 384 (and a picture
# that says why it cannot draw at 576 × 144)
TABLET_PX = (480, 480)
LAYER_PX = (384, 384)


@pytest.fixture(scope="module")
def bear_batch(service: Service) -> str:
    """A bear-shaped batch tess entered through the real dose gate on the shared FDM printer."""
    with service.store.session() as session:
        return enter_prescription(
            session,
            get_user(session, "tess"),
            parse_prescription(BEAR),
            printer=PRINTER,
            profile_id=PRINTER,
        ).batch_number


def bear_sha256() -> str:
    return hashlib.sha256(BEAR_FILE.read_bytes()).hexdigest()


def test_the_tablet_and_layer_pictures_of_a_mesh_batch_are_pngs_of_the_bear(
    page: Page, service: Service, bear_batch: str
) -> None:
    log_in(page, "tess")
    page.goto(f"/batches/{bear_batch}/review")
    pictures = page.locator(f'img[src^="/batches/{bear_batch}/"]')
    sources = [image.get_attribute("src") or "" for image in pictures.all()]
    assert sources[0] == f"/batches/{bear_batch}/tablet.png"
    with service.store.read_session() as session:
        layers = int(load_batch(session, bear_batch).design["layers"])
    # the first, the second, a middle and the top layer of the bear as recorded
    expected = [1, 2, (layers + 1) // 2, layers]
    assert sources[1:] == [f"/batches/{bear_batch}/layers/{n}.png" for n in expected]
    for source in sources:
        answer = page.request.get(source)
        assert (answer.status, answer.headers["content-type"]) == (200, "image/png"), source
        size = Image.open(io.BytesIO(answer.body())).size
        assert size == (TABLET_PX if source.endswith("tablet.png") else LAYER_PX), source
    pictures.last.scroll_into_view_if_needed()  # the layers load lazily
    for image in pictures.all():
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0, image.get_attribute("src")
    screenshot(page, "mesh-batch-review")


def test_the_review_and_record_pages_name_the_shape_file_by_its_sha256(
    page: Page, service: Service, bear_batch: str
) -> None:
    log_in(page, "phil")
    for view in ("review", "release"):
        page.goto(f"/batches/{bear_batch}/{view}")
        expect(page.locator('[data-shape-file="bear"]')).to_have_text(
            f"bear, SHA-256 {bear_sha256()}"
        )
        expect(page.locator("dd[data-shape-file]")).to_have_count(1)


def test_the_record_pdf_gives_the_shape_files_sha256(
    page: Page, service: Service, bear_batch: str, tmp_path: Path
) -> None:
    log_in(page, "phil")
    answer = page.request.get(f"/batches/{bear_batch}/record.pdf")
    assert answer.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(answer.body())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Shape file SHA-256 {bear_sha256()}" in " ".join(text.split())


def test_the_bears_size_reads_across_the_plate_first_and_height_last(
    page: Page, service: Service, bear_batch: str
) -> None:
    with service.store.read_session() as session:
        size = load_batch(session, bear_batch).design["dimensions_mm"]
    log_in(page, "tess")
    page.goto(f"/batches/{bear_batch}/review")
    dimensions = page.locator("dt", has_text="Dimensions").locator("xpath=following-sibling::dd[1]")
    expect(dimensions).to_have_text(
        f"{size['length_mm']:.2f} × {size['width_mm']:.2f} × {size['height_mm']:.2f} mm"
    )
