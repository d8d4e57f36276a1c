"""Test data for the store, jobs and records tests: users, a lot, a prescription, a job.

Fictional patients only (TEST-PATIENT-…). Passwords are test values, never defaults.
"""

from __future__ import annotations

import hashlib
from typing import Any

from printmed.auth.users import create_user
from printmed.jobs import service
from printmed.store import Store
from printmed.store.models import Batch, User

PASSWORD = "correct horse battery"
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
FIRMWARE: dict[str, Any] = {"name": "Marlin test", "fields": {"FIRMWARE_NAME": "Marlin test"}}


def gcode_text(lines: int = 200) -> str:
    """A plain FDM program: heat, home, then `lines` short extruding moves of one object."""
    body = [
        f"G1 X{10 + (i % 20) * 0.5:.2f} Y{10 + (i // 20) * 0.5:.2f} E{i * 0.01:.3f} F600"
        for i in range(lines)
    ]
    return (
        "\n".join(["; test program", "M104 S190", "G28", "M486 S0", *body, "M486 S-1", "M104 S0"])
        + "\n"
    )


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


def draft_job(store: Store, actor: User, *, printer: str = "sim-1") -> str:
    """A job entered by `actor`, not yet through the dose gate; its batch number."""
    with store.session() as session:
        return service.create_batch(
            session,
            actor,
            prescription=PRESCRIPTION,
            formulation=FORMULATION,
            printer=printer,
            profile_id="fdm-pharma-04",
        ).batch_number


def verify(store: Store, batch: str, actor: User, text: str, sha256: str | None = None) -> None:
    """Record `text` as the batch's gated G-code (its real hash unless `sha256` is given)."""
    with store.session() as session:
        service.record_verification(
            session,
            service.get_batch(session, batch),
            actor,
            dose={"dose_mg": DOSE_MG, "doses": 10},
            design={"shape": "round", "volume_mm3": DOSE_MG / 0.125},
            gate={"tablets": [{"target_mg": DOSE_MG, "gcode_mg": DOSE_MG}] * 10},
            gcode_text=text,
            gcode_sha256=sha256 or hashlib.sha256(text.encode()).hexdigest(),
            parameters={"nozzle_temp_c": 190, "layer_height_mm": 0.2},
        )


def verified_job(store: Store, actor: User, *, printer: str = "sim-1", lines: int = 200) -> str:
    """A job entered and verified by `actor`; returns its batch number."""
    batch = draft_job(store, actor, printer=printer)
    verify(store, batch, actor, gcode_text(lines))
    return batch


def queued_job(store: Store, actor: User, **kwargs: Any) -> str:
    batch = verified_job(store, actor, **kwargs)
    with store.session() as session:
        service.queue(session, service.get_batch(session, batch), actor)
    return batch


def job(store: Store, batch: str) -> Batch:
    with store.session() as session:
        return service.get_batch(session, batch)


def printed_job(store: Store, actor: User, **kwargs: Any) -> str:
    """A job queued by `actor`, taken by worker w1 and printed completely."""
    batch = queued_job(store, actor, **kwargs)
    with store.session() as session:
        job = service.claim_next(
            session,
            "sim-1",
            "w1",
            {"name": "Marlin test", "fields": {"FIRMWARE_NAME": "Marlin test"}},
        )
        assert job is not None and job.batch_number == batch
        service.finish_print(
            session,
            job,
            "w1",
            "printed",
            {"complete": True, "lines_total": 206, "lines_acknowledged": 206},
        )
    return batch


def good_weights(count: int = 10) -> list[float]:
    """Unit masses (mg) of a uniform batch around the 125 mg that carries 12.5 mg."""
    return [125.0 + ((i % 5) - 2) * 0.8 for i in range(count)]
