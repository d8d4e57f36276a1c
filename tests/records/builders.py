"""Test data for the store, jobs and records tests: users, a lot, a prescription, a batch.

Batches go through the real path: the prescription is dosed, designed, sliced, written and
gated (`make_batch`, a fraction of a second for a few tablets), and the job service gates the
stored G-code again as it records `verified`. Fictional patients only (TEST-PATIENT-…).
Passwords are test values, never defaults.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import select

from dosing.formulation import Formulation, parse_formulation
from dosing.prescription import parse_prescription
from printmed import catalog
from printmed.auth.users import create_user
from printmed.jobs import service
from printmed.manufacture import GatedBatch, make_batch
from printmed.records import screening
from printmed.records.signatures import authenticate_signer
from printmed.store import Store
from printmed.store.models import Batch, User

PASSWORD = "correct horse battery"
PROFILE_ID = "fdm-pharma-04"
FORMULATION: dict[str, Any] = {
    "id": "propranolol-pva-10",
    "drug_name": "propranolol",
    "drug_code": "372772003",
    "process": "fdm",
    "excipients": "PVA",
    "lot": "LOT-TEST-001",
    "manufacturer": "Test Filaments Ltd",
    "expiry": "2099-12-31",
    "assay_percent": 100.0,
    "loading_percent_w_w": 10.0,
    "density_g_cm3": 1.25,
    "dose_step_mg": 0.5,
    "calibration_factor": 1.0,
    "filament_diameter_mm": 1.75,
    "nozzle_temp_c": [180.0, 200.0],
}
PRESCRIPTION: dict[str, Any] = {
    "id": "RX-TEST-1",
    "patient": {"id": "TEST-PATIENT-1", "weight_kg": 12.4, "height_cm": 88, "age_years": 2.5},
    "drug": {"name": "propranolol", "code": "372772003"},
    "dose": {"value": 1.0, "unit": "mg/kg"},
    "frequency_per_day": 2,
    "units": 10,
    "formulation": "propranolol-pva-10",
    "shape": "round",
}
DOSE_MG = 12.5
# What a printer of PROFILE_ID says in its M115 (fixtures/printers/identity/fdm-pharma-04.json)
FIRMWARE: dict[str, Any] = {
    "name": "Marlin 2.1.2",
    "fields": {"FIRMWARE_NAME": "Marlin 2.1.2", "MACHINE_TYPE": "Pharma-FDM-04"},
}


def formulation_lot() -> Formulation:
    """FORMULATION as a lot, with the drug's limits from the master data."""
    limits = catalog.formulation(FORMULATION["id"]).drug_limits
    return parse_formulation(FORMULATION).model_copy(update={"drug_limits": limits})


@cache
def gated_batch(units: int = 10, shape: str = "round") -> GatedBatch:
    """PRESCRIPTION (`units` tablets of 12.5 mg in `shape`) of the test lot on PROFILE_ID,
    through the real dose gate; made once per process for each (units, shape)."""
    rx = parse_prescription({**PRESCRIPTION, "units": units, "shape": shape})
    return make_batch(rx, formulation_lot(), catalog.printer_profile(PROFILE_ID))


def add_users(store: Store, *names: str) -> dict[str, User]:
    """Some of (default: all) tech, tech2 (technicians), pharm, pharm2 (pharmacists), boss (admin).

    Each argon2 hash takes about 0.1 s, so tests create only the users they need.
    """
    people = {
        "tech": ("Tina Technician", "technician"),
        "tech2": ("Theo Technician", "technician"),
        "pharm": ("Paula Pharmacist", "pharmacist"),
        "pharm2": ("Peter Pharmacist", "pharmacist"),
        "boss": ("Ada Admin", "admin"),
    }
    with store.session() as session:
        return {
            name: create_user(
                session, None, username=name, full_name=full, role=role, password=PASSWORD
            )
            for name, (full, role) in people.items()
            if not names or name in names
        }


def draft_job(
    store: Store, actor: User, *, printer: str = "sim-1", units: int = 10, shape: str = "round"
) -> str:
    """A batch entered by `actor`, not yet through the dose gate; its batch number."""
    gated = gated_batch(units, shape)
    with store.session() as session:
        return service.create_batch(
            session,
            actor,
            prescription=gated.prescription.model_dump(mode="json"),
            formulation=gated.formulation.model_dump(mode="json"),
            printer=printer,
            profile_id=PROFILE_ID,
        ).batch_number


def verify(store: Store, batch: str, actor: User, gated: GatedBatch | None = None) -> None:
    """Record `gated` (default: the batch of 10) as the batch's G-code and targets; the job
    service gates the stored text itself."""
    gated = gated or gated_batch()
    with store.session() as session:
        service.record_verification(
            session,
            service.get_batch(session, batch),
            actor,
            dose=gated.dose.to_dict(),
            design=gated.design.to_dict(),
            gcode_text=gated.gcode,
            parameters=gated.process_parameters(),
        )


def verified_job(
    store: Store, actor: User, *, printer: str = "sim-1", units: int = 10, shape: str = "round"
) -> str:
    """A batch of `units` tablets entered and verified by `actor`; its batch number."""
    batch = draft_job(store, actor, printer=printer, units=units, shape=shape)
    verify(store, batch, actor, gated_batch(units, shape))
    return batch


def screener_for(store: Store, actor: User) -> User:
    """A pharmacist other than `actor` to screen its batches: pharm or pharm2 if the test made
    them, else `screener`, made here (a pharmacist who took no other part)."""
    with store.session() as session:
        for name in ("pharm", "pharm2", "screener"):
            user = session.scalar(select(User).where(User.username == name))
            if user is not None and name != actor.username:
                return user
        return create_user(
            session,
            None,
            username="screener",
            full_name="Sam Screener",
            role="pharmacist",
            password=PASSWORD,
        )


def screen(store: Store, batch: str, screener: User, note: str = "dose checked") -> None:
    """`screener` clinically screens the batch with their password and a note."""
    with store.session() as session:
        signer = authenticate_signer(session, screener.username, PASSWORD, "screened")
        screening.screen(session, batch, signer, note)


def screened_job(store: Store, actor: User, screener: User | None = None, **kwargs: Any) -> str:
    """A batch entered and verified by `actor` and screened by a pharmacist (`screener_for`)."""
    batch = verified_job(store, actor, **kwargs)
    screen(store, batch, screener or screener_for(store, actor))
    return batch


def queued_job(store: Store, actor: User, **kwargs: Any) -> str:
    """A batch entered, verified and queued by `actor`, screened in between by a pharmacist."""
    batch = screened_job(store, actor, **kwargs)
    with store.session() as session:
        service.queue(session, service.get_batch(session, batch), actor)
    return batch


def job(store: Store, batch: str) -> Batch:
    with store.session() as session:
        return service.get_batch(session, batch)


def printed_job(store: Store, actor: User, **kwargs: Any) -> str:
    """A batch queued by `actor`, taken by worker w1 (a printer of PROFILE_ID) and recorded
    as printed completely."""
    batch = queued_job(store, actor, **kwargs)
    with store.session() as session:
        job = service.claim_next(session, kwargs.get("printer", "sim-1"), "w1", FIRMWARE)
        assert job is not None and job.batch_number == batch
        lines = len(service.program_to_print(session, job).splitlines())
        service.finish_print(
            session,
            job,
            "w1",
            "printed",
            {"complete": True, "lines_total": lines, "lines_acknowledged": lines},
        )
    return batch


def good_weights(count: int = 10) -> list[float]:
    """Unit masses (mg) of a uniform batch around the 125 mg that carries 12.5 mg."""
    return [125.0 + ((i % 5) - 2) * 0.8 for i in range(count)]
