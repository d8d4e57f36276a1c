"""QC judges each printed unit against the dose that unit holds, not the whole administration.

A mini-tablet batch carries several units per dose: their content must be compared with the
per-unit dose, or a perfect batch fails (found in review: AV 88.6 instead of 1.3).
"""

from __future__ import annotations

import pytest

from printmed.jobs import service
from printmed.records.weighing import qc_of, record_weights
from printmed.store import Store
from printmed.store.models import User
from tests.records.builders import add_users, printed_job

# 12.5 mg a dose as 2 mini-tablets of 6.25 mg (50 mm³ at 0.125 mg/mm³), 10 doses: 20 units,
# each 62.5 mg of material at 10 % loading and 100 % assay.
UNIT_DOSE_MG = 6.25
UNITS = 20


def _printed_minitablet_batch(store: Store) -> tuple[str, dict[str, User]]:
    users = add_users(store, "tech")
    return printed_job(store, users["tech"], shape="minitablet"), users


def _uniform_weights() -> list[float]:
    return [62.5 + ((i % 5) - 2) * 0.5 for i in range(UNITS)]


def test_a_uniform_minitablet_batch_passes_against_the_per_unit_dose(store: Store) -> None:
    batch, users = _printed_minitablet_batch(store)
    with store.session() as session:
        qc = record_weights(
            session, service.get_batch(session, batch), users["tech"], _uniform_weights()
        )
    assert qc["dose_mg"] == pytest.approx(UNIT_DOSE_MG)
    assert qc["acceptance_value"]["value"] < 15
    assert qc["passed"] is True


def test_the_live_check_judges_units_the_same_way_and_records_nothing(store: Store) -> None:
    batch, _ = _printed_minitablet_batch(store)
    with store.session() as session:
        qc = qc_of(service.get_batch(session, batch), _uniform_weights())
        assert qc["dose_mg"] == pytest.approx(UNIT_DOSE_MG)
        assert qc["passed"] is True
        assert service.get_batch(session, batch).state == "printed"
