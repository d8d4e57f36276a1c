"""A batch is queued for its profile or for one registered printer of it, checked against the
register as it is recorded: an unknown printer, one of another profile or of another site is
refused naming the printer, and nothing is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dosing.prescription import parse_prescription
from printmed.errors import InputError
from printmed.jobs import register
from printmed.jobs.making import batch_printer, enter_prescription
from printmed.store import Store
from printmed.store.models import Batch, User
from tests.records.builders import PRESCRIPTION, PROFILE_ID, add_users

CALIBRATED = {"e_steps": 100.0, "bed_level": 0.02, "nozzle_temperature": 0.5}


@pytest.fixture
def users(store: Store) -> dict[str, User]:
    people = add_users(store, "tech", "pharm")
    with store.session() as session:
        for name, profile, serial in (
            ("fdm-a", PROFILE_ID, "SN-FDM-0001"),
            ("sse-a", "sse-syringe-08", "SN-SSE-0001"),
        ):
            register.add_printer(
                session,
                people["pharm"],
                name=name,
                profile_id=profile,
                serial_number=serial,
                location="clean room 2",
                connection=register.Connection("sim"),
            )
            register.record_calibration(session, people["pharm"], name, CALIBRATED)
    return people


def enter(store: Store, user: User, printer: str) -> str:
    with store.session() as session:
        return enter_prescription(
            session,
            user,
            parse_prescription(PRESCRIPTION | {"units": 1}),
            printer=printer,
            profile_id=PROFILE_ID,
        ).printer


def batches(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Batch)) or 0


def test_a_batch_is_queued_for_its_profile_or_one_registered_printer_of_it(
    store: Store, users: dict[str, User]
) -> None:
    assert enter(store, users["tech"], PROFILE_ID) == PROFILE_ID
    assert enter(store, users["tech"], "fdm-a") == "fdm-a"


@pytest.mark.parametrize(
    ("printer", "reason"),
    [
        ("fdm-z", "is neither a printer in the register nor the profile fdm-pharma-04"),
        ("sse-a", "is a printer of profile sse-syringe-08: this batch is made for fdm-pharma-04"),
        ("sse-syringe-08", "is another printer profile: this batch is made for fdm-pharma-04"),
    ],
)
def test_a_printer_the_register_does_not_allow_is_refused_and_nothing_recorded(
    store: Store, users: dict[str, User], printer: str, reason: str
) -> None:
    with pytest.raises(InputError) as refused:
        enter(store, users["tech"], printer)
    assert (refused.value.field, refused.value.value, refused.value.reason) == (
        "printer",
        printer,
        reason,
    )
    assert batches(store) == 0


def test_a_printer_of_another_site_is_refused(store: Store, users: dict[str, User]) -> None:
    elsewhere = User(
        username="tina-b",
        full_name="Tina at ward B",
        role="technician",
        active=True,
        site_id=2,
        control_site=False,
    )
    with store.session() as session, pytest.raises(InputError) as refused:
        batch_printer(session, elsewhere, "fdm-a", PROFILE_ID)
    assert (refused.value.value, refused.value.reason) == ("fdm-a", "is a printer of another site")


def test_before_any_printer_is_registered_a_workers_own_name_is_taken(store: Store) -> None:
    # a store from before the register: its workers take the batches queued under their names
    tech = add_users(store, "tech")["tech"]
    with store.session() as session:
        assert batch_printer(session, tech, "sim-1", PROFILE_ID) == "sim-1"
        with pytest.raises(InputError, match="is another printer profile"):
            batch_printer(session, tech, "sse-syringe-08", PROFILE_ID)
