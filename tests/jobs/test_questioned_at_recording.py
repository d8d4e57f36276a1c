"""The job service questions the clinical data of every batch it records, whichever way the
prescription came in: `record_gated_batch`, handed a gated batch whose weight was never
questioned, refuses it and records nothing."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from dosing.errors import InvalidPrescription
from dosing.prescription import parse_prescription
from printmed import catalog
from printmed.auth.principal import client
from printmed.jobs.making import enter_prescription, record_gated_batch
from printmed.manufacture import GatedBatch, manufacture
from printmed.settings import ObservationWindows
from printmed.store import Store
from printmed.store.models import AuditEntry, Batch, StoredGcode, User
from tests.records.builders import PRESCRIPTION, PROFILE_ID, add_users


def weighed(days_ago: int, status: str = "final") -> dict[str, Any]:
    """PRESCRIPTION (2 tablets) with its weight as recorded `days_ago` days before now (and no
    height: a prescribing system would have to send that as recorded too)."""
    rx = copy.deepcopy(PRESCRIPTION) | {"units": 2}
    del rx["patient"]["weight_kg"], rx["patient"]["height_cm"]
    rx["patient"]["weight"] = {
        "value": 12.4,
        "unit": "kg",
        "status": status,
        "subject": "TEST-PATIENT-1",
        "effective": (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).isoformat(),
        "source": "Observation/w-recording-1",
    }
    return rx


def gated(store: Store, order: dict[str, Any]) -> GatedBatch:
    """The order dosed, sliced and gated from the store's master file, never questioned."""
    with store.read_session() as session:
        master = catalog.master_from_store(session)
    return manufacture(parse_prescription(order), PROFILE_ID, master=master)


def rows(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Batch, StoredGcode, AuditEntry)
        }


@pytest.fixture
def tech(store: Store) -> User:
    return add_users(store, "tech")["tech"]


@pytest.mark.parametrize(
    ("order", "field"),
    [
        (weighed(3, status="entered-in-error"), "patient.weight.status"),
        (weighed(200), "patient.weight.effective"),  # a child of 2.5: at most 90 days
    ],
    ids=["withdrawn", "stale"],
)
def test_recording_a_batch_whose_weight_was_never_questioned_is_refused(
    store: Store, tech: User, order: dict[str, Any], field: str
) -> None:
    made = gated(store, order)  # the gate itself does not look at the weight's record
    before = rows(store)
    with pytest.raises(InvalidPrescription) as refused, store.session() as session:
        record_gated_batch(session, tech, made, printer=PROFILE_ID)
    assert refused.value.field == field
    assert rows(store) == before


def test_the_windows_given_are_the_ones_applied(store: Store, tech: User) -> None:
    made = gated(store, weighed(20))
    strict = ObservationWindows(under_1_year_days=7, under_18_years_days=7, adult_days=7)
    with pytest.raises(InvalidPrescription, match="at most 7 days old"), store.session() as s:
        record_gated_batch(s, tech, made, printer=PROFILE_ID, windows=strict)
    with store.session() as session:
        batch = record_gated_batch(session, tech, made, printer=PROFILE_ID)
        assert batch.state == "verified"


def test_a_prescribing_systems_bare_weight_is_refused_at_recording(store: Store) -> None:
    made = gated(store, PRESCRIPTION | {"units": 2})  # weight_kg 12.4, no date, no source
    before = rows(store)
    with pytest.raises(InvalidPrescription) as refused, store.session() as session:
        epma = client("epma", "prescriptions.write").actor(session)
        record_gated_batch(session, epma, made, printer=PROFILE_ID)
    assert (refused.value.field, refused.value.value) == ("patient.weight_kg", 12.4)
    assert rows(store) == before


def test_a_staff_members_own_weight_and_a_systems_recorded_one_are_recorded(
    store: Store, tech: User
) -> None:
    with store.session() as session:
        own = enter_prescription(
            session,
            tech,
            parse_prescription(PRESCRIPTION | {"units": 2}),
            printer=PROFILE_ID,
            profile_id=PROFILE_ID,
        )
        epma = client("epma", "prescriptions.write").actor(session)
        sent = record_gated_batch(session, epma, gated(store, weighed(3)), printer=PROFILE_ID)
        assert (own.created_by, own.state) == ("tech", "verified")
        assert (sent.created_by, sent.state) == ("client:epma", "verified")
