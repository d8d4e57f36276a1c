"""A job is made through the real dose gate (make_batch): recorded whole when the G-code holds
the dose, and not at all when any check refuses."""

from __future__ import annotations

import hashlib

import pytest

from dosing.errors import DosingError
from dosing.prescription import parse_prescription
from printmed.audit import entries_for
from printmed.jobs import service
from printmed.jobs.making import enter_prescription
from printmed.records.integrity import verify_records
from printmed.store import Store
from printmed.store.models import StoredGcode
from tests.records.builders import PRESCRIPTION, add_users

SMALL_BATCH = {**PRESCRIPTION, "units": 2}


def test_a_gated_job_records_gcode_hash_lot_printer_and_parameters(store: Store) -> None:
    users = add_users(store, "tech")
    rx = parse_prescription(SMALL_BATCH)
    with store.session() as session:
        batch = enter_prescription(
            session, users["tech"], rx, printer="sim-1", profile_id="fdm-pharma-04"
        ).batch_number
    with store.session() as session:
        job = service.get_batch(session, batch)
        program = session.get(StoredGcode, job.gcode_sha256)
        assert program is not None
        assert hashlib.sha256(program.text.encode()).hexdigest() == job.gcode_sha256
        gate = service.column_value(job, "gate_json")
        params = service.column_value(job, "parameters_json")
        assert job.state == "verified"
        assert len(gate["tablets"]) == 2
        assert all(abs(t["deviation"]) <= 0.01 for t in gate["tablets"])
        assert params["lot"] == service.column_value(job, "formulation_json")["lot"]
        assert params["printer_profile"]["id"] == "fdm-pharma-04"
        assert 180 <= params["nozzle_temp_c"] <= 210
        assert [e.action for e in entries_for(session, batch)] == ["job.create", "job.verify"]
        assert verify_records(session).intact


def test_a_refused_prescription_leaves_no_job_behind(store: Store) -> None:
    users = add_users(store, "tech")
    rx = parse_prescription(
        {**SMALL_BATCH, "dose": {"value": 500.0, "unit": "mg"}, "max_single_dose_mg": 40}
    )
    with pytest.raises(DosingError), store.session() as session:
        enter_prescription(session, users["tech"], rx, printer="sim-1", profile_id="fdm-pharma-04")
    with store.session() as session:
        assert service.list_batches(session) == []
