"""A taper over the API: propranolol 10 mg, then 7.5 mg, then 5 mg, twice a day for 7 days each
(42 tablets), from a FHIR MedicationRequest of three dosageInstructions to a released batch on
the simulated printer: each step dosed with its own trail, each tablet designed and gated for
its own step and named by it in the G-code, each step's units weighed and judged against its
own dose, and a dispensing label for each step's tablets.
"""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.medicationdispense import MedicationDispense

from printmed import catalog
from printmed.jobs.stored_gate import StoredProgramDiffers, gate_program
from printmed.manufacture import DoseGateFailed
from printmed.records.batch_record import load_record
from printmed.records.label import label_lines
from printmed.store.models import StoredGcode
from tests.api import test_batch_lifecycle as lifecycle
from tests.api.conftest import PASSWORD, Callers
from tests.api.fhir_helpers import batch_of, post_order
from tests.api.payloads import fixture

PRINTER = "fdm-pharma-04"
# the app with its own worker and simulated printer, as the whole path of one batch uses it
printing_client = lifecycle.printing_client
STEP_MG = {1: 10.0, 2: 7.5, 3: 5.0}


def _ordered_taper(client: TestClient, callers: Callers) -> tuple[str, dict[str, Any]]:
    """The FHIR taper posted by the prescribing system: (order id, its batch)."""
    answer = post_order(client, fixture("propranolol-taper.fhir.json"), callers["epma"])
    assert answer.status_code == 201, answer.text
    order_id = answer.json()["id"]
    return order_id, batch_of(client, order_id, callers["epma"])


def _made_taper(client: TestClient, callers: Callers) -> dict[str, Any]:
    return _ordered_taper(client, callers)[1]


def test_a_taper_is_dosed_step_by_step_each_with_its_own_trail(
    client: TestClient, callers: Callers
) -> None:
    made = _made_taper(client, callers)
    steps = made["dose"]["steps"]
    assert [(s["step"], s["dose_mg"], s["doses"]) for s in steps] == [
        (1, 10.0, 14),
        (2, 7.5, 14),
        (3, 5.0, 14),
    ]
    assert [(s["first_day"], s["last_day"]) for s in steps] == [(1, 7), (8, 14), (15, 21)]
    assert made["dose"]["doses"] == 42
    for step in steps:
        assert step["trail"][0]["step"] == f"schedule step {step['step']} of 3"
        assert step["trail"][-1]["result"] == step["dose_mg"]
    assert made["design"]["units_total"] == 42
    assert [s["dose_mg"] for s in made["design"]["steps"]] == [10.0, 7.5, 5.0]


def test_a_taper_goes_from_fhir_to_a_printed_batch_each_tablet_held_to_its_own_step(
    printing_client: TestClient, callers: Callers
) -> None:
    client = printing_client
    order_id, made = _ordered_taper(client, callers)
    batch = made["batch_number"]
    screening = {"note": "weaning 10 → 7.5 → 5 mg over 3 weeks: in range", "password": PASSWORD}
    screened = client.post(
        f"/api/v1/batches/{batch}/screen", json=screening, headers=callers["pharm"]
    )
    assert screened.status_code == 201, screened.text
    assert client.post(f"/api/v1/batches/{batch}/queue", headers=callers["tech"]).status_code == 200
    lifecycle._wait_for_state(client, batch, callers["tech"], "printed")

    record = client.get(f"/api/v1/batches/{batch}/record", headers=callers["tech"]).json()
    tablets = record["fields"]["gate_json"]["tablets"]
    assert len(tablets) == 42
    for tablet in tablets:
        step = 1 + tablet["index"] // 14
        assert tablet["name"] == f"step{step} round {STEP_MG[step]:g} mg"
        assert tablet["target_mg"] == STEP_MG[step]
        assert tablet["gcode_mg"] == pytest.approx(STEP_MG[step], rel=0.01)
    progress = client.get(f"/api/v1/batches/{batch}/progress", headers=callers["tech"]).json()
    assert progress["lines_acknowledged"] == progress["lines_total"] > 0

    store = client.app.state.store  # type: ignore[attr-defined]
    with store.session() as session:
        stored = session.get(StoredGcode, record["fields"]["gcode_sha256"])
        assert stored is not None
        heads = [line for line in stored.text.splitlines() if line.startswith("; tablet ")]
        assert heads[7].startswith("; tablet 7 (step1 round 10 mg): target 10.0000 mg")
        assert heads[21].startswith("; tablet 21 (step2 round 7.5 mg): target 7.5000 mg")
        assert heads[41].startswith("; tablet 41 (step3 round 5 mg): target 5.0000 mg")
        label = label_lines(load_record(session, batch))
    assert label["medicine"] == (
        "Propranolol 10 mg, Propranolol 7.5 mg, Propranolol 5 mg printed tablets"
    )
    assert [(s["medicine"], s["directions"], s["quantity"]) for s in label["steps"]] == [
        (
            "Propranolol 10 mg printed tablets (step 1 of 3)",
            "Days 1 to 7 of 21: take 1 tablet TWICE a day (10 mg a dose). Then start step 2.",
            "14 tablets",
        ),
        (
            "Propranolol 7.5 mg printed tablets (step 2 of 3)",
            "Days 8 to 14 of 21: take 1 tablet TWICE a day (7.5 mg a dose). Then start step 3.",
            "14 tablets",
        ),
        (
            "Propranolol 5 mg printed tablets (step 3 of 3)",
            "Days 15 to 21 of 21: take 1 tablet TWICE a day (5 mg a dose). Then stop.",
            "14 tablets",
        ),
    ]
    pdf = client.get(f"/api/v1/batches/{batch}/label.pdf", headers=callers["tech"])
    assert pdf.headers["content-type"] == "application/pdf"
    pages = _pdf_text(pdf.content).split("\f")
    assert len([page for page in pages if page.strip()]) == 3  # a label for each step's tablets
    for page, step in zip(pages, label["steps"], strict=False):
        text = " ".join(page.split())
        assert step["medicine"] in text and step["directions"] in text
        assert "NOT RELEASED" in text
    document = client.get(f"/api/v1/batches/{batch}/record.pdf", headers=callers["tech"])
    text = " ".join(_pdf_text(document.content).split())
    assert "10 mg 2 a day for 7 days, then 7.5 mg 2 a day for 7 days, then 5 mg 2" in text
    for step, days in ((1, "1 to 7"), (2, "8 to 14"), (3, "15 to 21")):
        assert f"Dose and calculation trail: step {step}, days {days}" in text
        assert f"Tablet design: step {step}" in text

    _weigh_and_release_the_taper(client, callers, batch, record["fields"]["formulation_json"])
    _dispensed_step_by_step(client, callers, order_id)


def _step_weights(formulation: dict[str, Any]) -> list[float]:
    """Each unit at its own step's target mass, within ±0.4 % (plate order, 14 per step)."""
    fraction = formulation["loading_percent_w_w"] / 100 * formulation["assay_percent"] / 100
    return [STEP_MG[1 + unit // 14] / fraction * (1 + 0.002 * (unit % 5 - 2)) for unit in range(42)]


def _weigh_and_release_the_taper(
    client: TestClient, callers: Callers, batch: str, formulation: dict[str, Any]
) -> None:
    weights = _step_weights(formulation)
    preview = client.post(
        f"/api/v1/batches/{batch}/weights/check",
        json={"weights_mg": weights},
        headers=callers["tech"],
    )
    assert preview.status_code == 200, preview.text
    weighed = client.post(
        f"/api/v1/batches/{batch}/weights", json={"weights_mg": weights}, headers=callers["tech"]
    )
    assert weighed.status_code == 201, weighed.text
    qc = weighed.json()
    assert qc == preview.json()
    assert qc["passed"] is True
    assert (qc["mass_uniformity"], qc["acceptance_value"], qc["dose_mg"]) == (None, None, None)
    fraction = formulation["loading_percent_w_w"] / 100 * formulation["assay_percent"] / 100
    assert [
        (s["step"], s["dose_mg"], s["first_unit"], s["last_unit"], s["units_weighed"])
        for s in qc["steps"]
    ] == [(1, 10.0, 1, 14, 14), (2, 7.5, 15, 28, 14), (3, 5.0, 29, 42, 14)]
    for step in qc["steps"]:
        assert step["passed"] is True
        assert step["target_unit_mass_mg"] == pytest.approx(step["dose_mg"] / fraction)
        assert step["mass_uniformity"]["mean_mg"] == pytest.approx(
            step["target_unit_mass_mg"], rel=1e-3
        )
        assert step["acceptance_value"]["k"] == 2.4  # 14 units: stage 1 of 2.9.40
        assert step["acceptance_value"]["value"] < 1.0
        assert step["contents_percent"] == pytest.approx([100.0] * 14, abs=0.5)

    weigh_page = _page(client, "tech", f"/batches/{batch}/weigh")
    assert "Passes — 42 of 42 units weighed; each step judged on its own" in weigh_page
    for heading in (
        "Step 1: 10 mg, units 1–14 — passes",
        "Step 2: 7.5 mg, units 15–28 — passes",
        "Step 3: 5 mg, units 29–42 — passes",
    ):
        assert heading in weigh_page
    assert "Unit 15, step 2 (mg)" in weigh_page

    released = client.post(
        f"/api/v1/batches/{batch}/release", json={"password": PASSWORD}, headers=callers["pharm"]
    )
    assert released.status_code == 201, released.text
    record = client.get(f"/api/v1/batches/{batch}/record", headers=callers["pharm"]).json()
    assert record["fields"]["state"] == "released"
    assert record["fields"]["qc_json"]["steps"][2]["dose_mg"] == 5.0
    assert record["integrity"]["intact"] is True
    page = _page(client, "pharm", f"/batches/{batch}/release")
    for text in (
        "Dose, step 2 (days 8–14) 7.5 mg (calculated 7.5 mg)",
        "Tablet, step 3 round 5.08 × 2.00 mm, 5 mg, 14 units",
        "Step 3: 5 mg, units 29–42 — passes",
    ):
        assert text in page

    document = client.get(f"/api/v1/batches/{batch}/record.pdf", headers=callers["pharm"])
    text = " ".join(_pdf_text(document.content).split())
    for heading in (
        "Quality control: step 1 (10 mg, units 1–14)",
        "Quality control: step 2 (7.5 mg, units 15–28)",
        "Quality control: step 3 (5 mg, units 29–42)",
    ):
        assert heading in text
    assert "QC result PASS (every step)" in text
    labels = client.get(f"/api/v1/batches/{batch}/label.pdf", headers=callers["tech"])
    pages = [p for p in _pdf_text(labels.content).split("\f") if p.strip()]
    assert len(pages) == 3
    assert all("NOT RELEASED" not in page for page in pages)
    assert "Propranolol 7.5 mg printed tablets (step 2 of 3)" in " ".join(pages[1].split())


def _dispensed_step_by_step(client: TestClient, callers: Callers, order_id: str) -> None:
    answer = client.get(f"/fhir/MedicationDispense/{order_id}", headers=callers["epma"])
    assert answer.status_code == 200, answer.text
    dispense = MedicationDispense.model_validate(answer.json())
    assert dispense.quantity is not None and dispense.quantity.value == 42
    steps = answer.json()["dosageInstruction"]
    assert [
        (
            d["sequence"],
            d["doseAndRate"][0]["doseQuantity"]["value"],
            d["timing"]["repeat"]["boundsDuration"]["value"],
            d["timing"]["repeat"]["frequency"],
        )
        for d in steps
    ] == [(1, 10.0, 7, 2), (2, 7.5, 7, 2), (3, 5.0, 7, 2)]
    assert steps[1]["text"] == (
        "Step 2 of 3, days 8 to 14: 7.5 mg (1 tablet of 7.5 mg) 2 times a day for 7 days"
    )


def _page(client: TestClient, username: str, path: str) -> str:
    """The page at `path` as `username` sees it, signed in through the login form."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed_in = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert signed_in.status_code == 200, signed_in.text
    page = client.get(path)
    assert page.status_code == 200, page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def _pdf_text(content: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True
    ).stdout.decode()


def test_a_fhir_step_that_cannot_be_made_is_refused_naming_its_dose_element(
    client: TestClient, callers: Callers
) -> None:
    order = fixture("propranolol-taper.fhir.json")
    order["dosageInstruction"][2]["doseAndRate"][0]["doseQuantity"]["value"] = 2.0
    answer = post_order(client, order, callers["epma"])
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert issue["expression"] == [
        "MedicationRequest.dosageInstruction[2].doseAndRate[0].doseQuantity"
    ]
    assert "cannot be made" in issue["diagnostics"]
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []


# ------------------------------------------------------------------ every step shown, not step 1


def test_the_api_check_gives_each_steps_dose_trail_and_tablet(
    client: TestClient, callers: Callers
) -> None:
    answer = client.post(
        "/api/v1/prescriptions/check",
        json=fixture("propranolol-taper.json"),
        headers=callers["tech"],
    )
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert [(s["step"], s["dose_mg"], s["first_day"]) for s in plan["dose"]["steps"]] == [
        (1, 10.0, 1),
        (2, 7.5, 8),
        (3, 5.0, 15),
    ]
    assert plan["dose"]["steps"][2]["trail"][0]["step"] == "schedule step 3 of 3"
    assert [(s["step"], s["dose_mg"], s["units_total"]) for s in plan["design"]["steps"]] == [
        (1, 10.0, 14),
        (2, 7.5, 14),
        (3, 5.0, 14),
    ]
    assert plan["design"]["units_total"] == 42


def test_the_screening_view_and_page_show_every_step(client: TestClient, callers: Callers) -> None:
    batch = _made_taper(client, callers)["batch_number"]
    sheet = client.get(f"/api/v1/batches/{batch}/screening", headers=callers["pharm"]).json()
    # the order's reasonCode, for the pharmacist (it changes no dose)
    assert sheet["prescribed"]["indication"] == (
        "Infantile haemangioma: propranolol withdrawn over three weeks"
    )
    assert sheet["prescribed"]["schedule_text"] == (
        "10 mg 2 a day for 7 days, then 7.5 mg 2 a day for 7 days, then 5 mg 2 a day for 7 days"
    )
    assert [
        (s["step"], s["first_day"], s["last_day"], s["dose_mg"], s["ordered"]["dose"]["value"])
        for s in sheet["steps"]
    ] == [(1, 1, 7, 10.0, 10.0), (2, 8, 14, 7.5, 7.5), (3, 15, 21, 5.0, 5.0)]
    assert [s["tablet"]["size_text"] for s in sheet["steps"]] == [
        "6.30 × 2.60",
        "5.68 × 2.40",
        "5.08 × 2.00",
    ]
    assert sheet["steps"][1]["trail"][-1]["result"] == 7.5

    page = _page(client, "pharm", f"/batches/{batch}/screen")
    assert "A schedule of 3 steps, 42 doses: 10 mg 2 a day for 7 days, then 7.5 mg" in page
    for step, days, mg in ((1, "1 to 7", "10"), (2, "8 to 14", "7.5"), (3, "15 to 21", "5")):
        assert f"Step {step} of 3: days {days} {mg} mg per dose" in page
        assert f"schedule step {step} of 3 : frequency_per_day * days" in page
        assert f"Tablet of step {step}" in page
    assert "Dimensions 5.08 × 2.00 mm" in page


def test_the_review_page_shows_every_steps_dose_trail_and_tablet(
    client: TestClient, callers: Callers
) -> None:
    batch = _made_taper(client, callers)["batch_number"]
    page = _page(client, "tech", f"/batches/{batch}/review")
    assert "3 steps, 42 doses" in page
    assert "10 mg 2 a day for 7 days, then 7.5 mg 2 a day for 7 days, then 5 mg" in page
    for step, text in (
        (1, "Step 1: 10 mg per dose, days 1 to 7"),
        (2, "Step 2: 7.5 mg per dose, days 8 to 14"),
        (3, "Step 3: 5 mg per dose, days 15 to 21"),
    ):
        assert text in page
        assert f"Calculation trail of step {step}" in page
    assert "3 (days 15–21) round 5.08 × 2.00 40.57 5 mg 14" in page
    assert "29 step3 round 5 mg 5.0000" in page  # the gate's table names each tablet's step


def test_printmed_dose_shows_each_steps_dose_and_trail(capsys: pytest.CaptureFixture[str]) -> None:
    from printmed.cli import main

    path = str(catalog.fixtures_dir() / "prescriptions" / "propranolol-taper.fhir.json")
    assert main(["dose", path]) == 0
    out = capsys.readouterr().out
    assert "schedule      3 steps over 21 days, 42 doses in all" in out
    for step, days, mg in ((1, "1 to 7", "10"), (2, "8 to 14", "7.5"), (3, "15 to 21", "5")):
        assert f"step {step} of 3: days {days} of 21\n" in out
        assert f"  1. schedule step {step} of 3: frequency_per_day * days" in out
        assert f"dose        {mg} mg per administration" in out
    assert main(["dose", "--json", path]) == 0
    dosed = json.loads(capsys.readouterr().out)
    assert dosed["doses"] == 42
    assert [s["dose_mg"] for s in dosed["steps"]] == [10.0, 7.5, 5.0]


def test_printmed_demo_shows_a_row_for_each_step(capsys: pytest.CaptureFixture[str]) -> None:
    from printmed.cli import main

    assert main(["demo"]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    for row in (
        "│ propranolol-taper.json step 1/3 │ 10 mg, days 1–7 │ 10 mg │ PVA-PRL-2611-A │ round "
        "6.30 × 2.60 mm │ 1×14 │ 81.14 mm³ │ 10 mg │",
        "│ propranolol-taper.json step 2/3 │ 7.5 mg, days 8–14 │ 7.5 mg │ PVA-PRL-2611-A │ "
        "round 5.68 × 2.40 mm │ 1×14 │ 60.85 mm³ │ 7.5 mg │",
        "│ propranolol-taper.json step 3/3 │ 5 mg, days 15–21 │ 5 mg │ PVA-PRL-2611-A │ round "
        "5.08 × 2.00 mm │ 1×14 │ 40.57 mm³ │ 5 mg │",
    ):
        assert row in rows


def test_printmed_make_shows_each_steps_tablets_and_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from printmed.cli import main

    path = str(catalog.fixtures_dir() / "prescriptions" / "propranolol-taper.json")
    out_file = tmp_path / "taper.gcode"
    assert main(["make", path, "--printer", PRINTER, "-o", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "schedule      3 steps, 42 units on one plate" in out
    for step, text in (
        (1, "10 mg per unit, 14 units (tablets 0–13), days 1 to 7; worst tablet"),
        (2, "7.5 mg per unit, 14 units (tablets 14–27), days 8 to 14; worst tablet"),
        (3, "5 mg per unit, 14 units (tablets 28–41), days 15 to 21; worst tablet"),
    ):
        assert f"step {step}        {text}" in out
    assert out_file.read_text().count("; tablet ") == 42


# ------------------------------------------------------------------ the native form, over the API


def test_the_native_taper_is_made_as_the_fhir_one(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        "/api/v1/prescriptions", json=fixture("propranolol-taper.json"), headers=callers["tech"]
    )
    assert answer.status_code == 201, answer.text
    batch = answer.json()["batch"]
    assert [s["dose_mg"] for s in batch["dose"]["steps"]] == [10.0, 7.5, 5.0]
    assert batch["design"]["units_total"] == 42


def _native_refusal(client: TestClient, callers: Callers, order: dict[str, Any]) -> Any:
    answer = client.post("/api/v1/prescriptions", json=order, headers=callers["tech"])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.json()


def test_a_step_no_tablet_of_the_shape_can_hold_refuses_the_order_naming_the_step(
    client: TestClient, callers: Callers
) -> None:
    before = client.get("/api/v1/batches", headers=callers["tech"]).json()
    order = fixture("propranolol-taper.json")
    order["schedule"][2]["dose"]["value"] = 2.0  # a round tablet of this lot holds 4.84 mg or more
    problem = _native_refusal(client, callers, order)
    assert (problem["field"], problem["value"]) == ("schedule[2].dose", 2.0)
    assert "cannot be made" in problem["detail"]
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == before


def test_a_schedule_too_large_for_one_plate_is_refused_naming_the_step_cut_off(
    client: TestClient, callers: Callers
) -> None:
    order = fixture("propranolol-taper.json")
    order["patient"] |= {"weight_kg": 70, "age_years": 40, "height_cm": 175}
    order["max_single_dose_mg"] = 160
    order["schedule"] = [
        {"dose": {"value": 120.0, "unit": "mg"}, "frequency_per_day": 2, "days": 50},
        {"dose": {"value": 60.0, "unit": "mg"}, "frequency_per_day": 2, "days": 50},
    ]
    problem = _native_refusal(client, callers, order)
    assert (problem["field"], problem["value"]) == ("schedule[1]", 200)
    assert "the first 150 fit and step 2's are cut off" in problem["detail"]
    assert client.get("/api/v1/batches", headers=callers["tech"]).json() == []


# ------------------------------------------------------------------ the gate on stored targets


@pytest.fixture(scope="module")
def gated_taper() -> Any:
    from printmed.intake.files import read_prescription
    from printmed.manufacture import manufacture

    rx = read_prescription(catalog.fixtures_dir() / "prescriptions" / "propranolol-taper.json")
    return manufacture(rx, PRINTER)


def _regate(gated: Any, dose: dict[str, Any], design: dict[str, Any]) -> dict[str, Any]:
    return gate_program(
        gated.gcode,
        formulation=gated.formulation.model_dump(mode="json"),
        profile_id=gated.profile.id,
        dose=dose,
        design=design,
        parameters=gated.process_parameters(),
    )


def test_the_stored_gate_holds_each_tablet_to_its_own_steps_stored_target(
    gated_taper: Any,
) -> None:
    record = gated_taper.to_dict()
    figures = _regate(gated_taper, record["dose"], record["design"])
    assert figures == gated_taper.gate_record()
    targets = [t["target_mg"] for t in figures["tablets"]]
    assert targets == [10.0] * 14 + [7.5] * 14 + [5.0] * 14


def test_stored_steps_out_of_order_are_refused_naming_the_step(gated_taper: Any) -> None:
    record = gated_taper.to_dict()
    design = copy.deepcopy(record["design"])
    design["steps"][1], design["steps"][2] = design["steps"][2], design["steps"][1]
    with pytest.raises(StoredProgramDiffers) as refused:
        _regate(gated_taper, record["dose"], design)
    assert (refused.value.field, refused.value.value) == ("design.steps[1].step", 3)


def test_a_stored_step_target_the_gcode_does_not_hold_fails_the_gate_at_its_first_tablet(
    gated_taper: Any,
) -> None:
    # step 2 recorded as 5 mg throughout (dose, design and volume agree), the G-code holds 7.5
    record = copy.deepcopy(gated_taper.to_dict())
    dose, design = record["dose"]["steps"][1], record["design"]["steps"][1]
    dose["dose_mg"] = 5.0
    design |= {"dose_mg": 5.0, "dose_per_administration_mg": 5.0}
    design["volume_mm3"] = record["design"]["steps"][2]["volume_mm3"]
    with pytest.raises(DoseGateFailed) as refused:
        _regate(gated_taper, record["dose"], record["design"])
    assert (refused.value.field, refused.value.value) == ("tablet[14]", "+50.00%")
