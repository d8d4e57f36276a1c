"""/api/v1/printers as the register: pharmacists and admins register printers, set their status
and record calibrations; technicians clear a printer's line; the OctoPrint key is never
returned; a refusal is a problem naming the field and the value, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from printmed.auth.users import get_user
from printmed.settings import Settings
from printmed.store import Store, open_store
from tests.api.conftest import Callers
from tests.records.builders import PROFILE_ID, queued_job

PROBLEM = "application/problem+json"
KEY = "F00DCAFE0123456789ABCDEF01234567"
LOT = "LOT-TEST-001"  # the lot of the builders' test batches
CALIBRATED = {"e_steps_mm": 99.8, "bed_level_mm": 0.05, "nozzle_temperature_c": 2.0}


def _printer(name: str = "fdm-a", **change: Any) -> dict[str, Any]:
    return {
        "name": name,
        "profile_id": PROFILE_ID,
        "serial_number": f"SN-{name.upper()}",
        "location": "clean room 2, bench A",
        "connection": {"kind": "sim"},
        **change,
    }


@pytest.fixture
def store(settings: Settings, client: TestClient) -> Iterator[Store]:
    opened = open_store(settings.database_url)
    yield opened
    opened.dispose()


def _registered(client: TestClient, callers: Callers, name: str = "fdm-a") -> dict[str, Any]:
    added = client.post("/api/v1/printers", json=_printer(name), headers=callers["pharm"])
    assert added.status_code == 201, added.text
    calibrated = client.post(
        f"/api/v1/printers/{name}/calibrations", json=CALIBRATED, headers=callers["pharm"]
    )
    assert calibrated.status_code == 201, calibrated.text
    return dict(calibrated.json())


def test_a_pharmacist_registers_a_printer_and_it_is_listed_with_its_equipment(
    client: TestClient, callers: Callers
) -> None:
    calibration = _registered(client, callers)
    assert calibration["result"] == "pass"
    assert [c["passed"] for c in calibration["checks"]] == [True, True, True]
    listed = client.get("/api/v1/printers", headers=callers["tech"]).json()
    assert [p["id"] for p in listed] == ["fdm-a"]  # the register, once it holds a printer
    equipment = listed[0]["live"]["equipment"]
    assert equipment["serial_number"] == "SN-FDM-A"
    assert equipment["status"] == "in_service"
    assert equipment["ready"] is True
    assert equipment["calibration_due_on"] == calibration["next_due_on"]


def test_an_octoprint_key_goes_in_and_never_comes_out(client: TestClient, callers: Callers) -> None:
    connection = {"kind": "octoprint", "url": "http://octopi.local", "api_key": KEY}
    added = client.post(
        "/api/v1/printers", json=_printer("sse-a", connection=connection), headers=callers["admin"]
    )
    assert added.status_code == 201, added.text
    assert added.json()["connection"] == {
        "kind": "octoprint",
        "port": None,
        "baud": None,
        "url": "http://octopi.local",
        "api_key": "(sealed; not shown)",
    }
    for path in ("/api/v1/printers", "/api/v1/printers/sse-a/equipment"):
        answer = client.get(path, headers=callers["pharm"])
        assert answer.status_code == 200
        assert KEY not in answer.text


def test_a_technician_may_not_register_a_printer(client: TestClient, callers: Callers) -> None:
    answer = client.post("/api/v1/printers", json=_printer(), headers=callers["tech"])
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert client.get("/api/v1/printers/fdm-a/equipment", headers=callers["pharm"]).status_code == (
        404
    )


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"name": "has space"}, "name", "has space"),
        ({"profile_id": "no-such-profile"}, "printer", "no-such-profile"),
        ({"connection": {"kind": "usb", "port": "/dev/ttyACM0", "baud": 12}}, "usb_baud", 12),
        ({"connection": {"kind": "octoprint", "url": "octopi"}}, "octoprint_url", "octopi"),
    ],
)
def test_bad_register_input_is_a_problem_naming_field_and_value_and_nothing_changes(
    client: TestClient, callers: Callers, change: dict[str, Any], field: str, value: Any
) -> None:
    answer = client.post("/api/v1/printers", json=_printer(**change), headers=callers["pharm"])
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert (problem["field"], problem["value"]) == (field, value)
    listed = client.get("/api/v1/printers", headers=callers["pharm"]).json()
    assert [p["id"] for p in listed] == ["fdm-pharma-04", "sse-syringe-08"]  # none registered


def test_a_printer_marked_calibration_due_is_not_ready(
    client: TestClient, callers: Callers
) -> None:
    _registered(client, callers)
    answer = client.post(
        "/api/v1/printers/fdm-a/status",
        json={"status": "calibration_due", "reason": "nozzle replaced"},
        headers=callers["pharm"],
    )
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert (shown["status_now"], shown["ready"]) == ("calibration_due", False)
    assert shown["ready_reason"] == "calibration due: nozzle replaced"


def test_line_clearance_refuses_a_wrong_lot_and_takes_the_right_one(
    client: TestClient, callers: Callers, store: Store
) -> None:
    _registered(client, callers)
    with store.session() as session:
        tech = get_user(session, "tech")
    batch = queued_job(store, tech, printer=PROFILE_ID, units=1)
    clearance = {"batch_number": batch, "lot_number": "LOT-TEST-002", "plate_clear": True}
    wrong = client.post(
        "/api/v1/printers/fdm-a/line-clearance", json=clearance, headers=callers["tech"]
    )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"] == PROBLEM
    assert (wrong.json()["field"], wrong.json()["value"]) == ("lot_number", "LOT-TEST-002")
    equipment = client.get("/api/v1/printers/fdm-a/equipment", headers=callers["tech"]).json()
    assert equipment["cleared_batch"] is None
    right = client.post(
        "/api/v1/printers/fdm-a/line-clearance",
        json={**clearance, "lot_number": LOT},
        headers=callers["tech"],
    )
    assert right.status_code == 200, right.text
    assert right.json()["cleared_batch"] == batch
