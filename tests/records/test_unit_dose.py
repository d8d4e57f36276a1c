"""QC judges each printed unit against the dose that unit holds, not the whole administration.

A mini-tablet batch carries several units per dose: their content must be compared with the
per-unit dose, or a perfect batch fails (found in review: AV 88.6 instead of 1.3).
"""

from __future__ import annotations

import hashlib

import pytest

from printmed.jobs import service
from printmed.records.weighing import qc_of, record_weights
from printmed.store import Store
from tests.records.builders import add_users, draft_job, gcode_text


def _printed_minitablet_batch(store: Store) -> tuple[str, dict]:
    users = add_users(store, "tech")
    tech = users["tech"]
    batch = draft_job(store, tech)
    text = gcode_text()
    with store.session() as session:
        service.record_verification(
            session,
            service.get_batch(session, batch),
            tech,
            # 12.5 mg a dose as 10 mini-tablets of 1.25 mg (10 mm³ at 0.125 mg/mm³)
            dose={"dose_mg": 12.5, "doses": 1},
            design={
                "shape": "minitablet",
                "units_per_dose": 10,
                "dose_mg": 1.25,
                "volume_mm3": 10.0,
            },
            gate={"tablets": [{"target_mg": 1.25, "gcode_mg": 1.25}] * 10},
            gcode_text=text,
            gcode_sha256=hashlib.sha256(text.encode()).hexdigest(),
            parameters={"nozzle_temp_c": 190, "layer_height_mm": 0.2},
        )
        service.queue(session, service.get_batch(session, batch), tech)
    with store.session() as session:
        job = service.claim_next(session, "sim-1", "w1", {"name": "Marlin test", "fields": {}})
        assert job is not None
        service.finish_print(
            session,
            job,
            "w1",
            "printed",
            {"complete": True, "lines_total": 206, "lines_acknowledged": 206},
        )
    return batch, users


def test_a_uniform_minitablet_batch_passes_against_the_per_unit_dose(store: Store) -> None:
    batch, users = _printed_minitablet_batch(store)
    # 12.5 mg of material at 10 % loading and 100 % assay holds 1.25 mg: the per-unit dose
    weights = [12.5 + ((i % 5) - 2) * 0.1 for i in range(10)]
    with store.session() as session:
        qc = record_weights(session, service.get_batch(session, batch), users["tech"], weights)
    assert qc["dose_mg"] == pytest.approx(1.25)
    assert qc["acceptance_value"]["value"] < 15
    assert qc["passed"] is True


def test_the_live_check_judges_units_the_same_way_and_records_nothing(store: Store) -> None:
    batch, _ = _printed_minitablet_batch(store)
    weights = [12.5 + ((i % 5) - 2) * 0.1 for i in range(10)]
    with store.session() as session:
        qc = qc_of(service.get_batch(session, batch), weights)
        assert qc["dose_mg"] == pytest.approx(1.25)
        assert qc["passed"] is True
        assert service.get_batch(session, batch).state == "printed"
