"""The calibration loop, end to end on the embedded default: a simulated FDM printer that lays
down E × (1 + flow error), a simulated balance on a pty that weighs what it laid down (with
noise), and the product's own path for every batch — entered (designed with the factor in
force), screened, queued, printed by the worker, weighed from the balance, released — then a
proposal from the fit of the released batches and its approval by a second pharmacist.

    python benchmarks/calibration_loop.py [--batches 6] [--flow-error 0.04] [--noise-mg 0.3]
        [--start-loss-mm3 3.0 [--no-prime]]

prints, per batch, the dose, the factor it was designed with and its mean content against the
label (from the weighed units), and each calibration approved between batches. With a start
loss (what the nozzle oozes while heating) it prints the first unit's content too; `--no-prime`
runs on a copy of the fixtures whose printer profile states no prime line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dosing.errors import CalibrationRejected
from dosing.prescription import parse_prescription
from printers.sim_balance import SimBalance, masses_of
from printers.sim_printer import SimPrinter
from printmed import catalog
from printmed.auth.users import create_user, get_user
from printmed.jobs import calibration as calibrations
from printmed.jobs import service
from printmed.jobs.making import enter_prescription
from printmed.jobs.worker import PrinterWorker
from printmed.records import calibration as approvals
from printmed.records import masterfile, screening
from printmed.records.balance import read_weights
from printmed.records.release import release
from printmed.records.signatures import SCREENED, Signer, admit_signer
from printmed.records.weighing import record_weights
from printmed.settings import Settings, SignInPolicy, load_settings
from printmed.store import Store, open_store

PROFILE = "fdm-pharma-04"
MACHINE_TYPE = "Pharma-FDM-04"  # what a printer of the profile reports (fixtures/printers/identity)
PRINTER = "sim-cal"
FORMULATION = "propranolol-pva-10"
PASSWORDS = {
    "tina": ("technician", "tina-enters-and-queues"),
    "theo": ("technician", "theo-weighs-the-units"),
    "paula": ("pharmacist", "paula-screens-releases"),
    "peter": ("pharmacist", "peter-approves-factors"),
}
WEIGHTS_KG = (10.0, 16.0, 13.0, 19.0, 11.0, 17.0, 14.0, 20.0)  # 1 mg/kg: a dose per patient
BENCH = "bench:calibration-loop"


@dataclass(frozen=True)
class BatchFigures:
    """One batch of the loop: its dose, the factor it was designed with, the mean content of
    its weighed units (% of label) and the calibration approved after it, if any."""

    batch_number: str
    dose_mg: float
    factor: float
    mean_content_percent: float
    contents_percent: tuple[float, ...]
    approved_factor: float | None


def _prescription(number: int, units: int) -> dict[str, Any]:
    weight = WEIGHTS_KG[(number - 1) % len(WEIGHTS_KG)]
    return {
        "id": f"RX-CAL-{number:03d}",
        "patient": {"id": f"TEST-PATIENT-CAL-{number}", "weight_kg": weight, "age_years": 6},
        "drug": {"name": "propranolol", "code": "372772003"},
        "dose": {"value": 1.0, "unit": "mg/kg"},
        "frequency_per_day": 2,
        "units": units,
        "formulation": FORMULATION,
        "shape": "round",
    }


def add_staff(store: Store) -> None:
    with store.session() as session:
        for name, (role, password) in PASSWORDS.items():
            create_user(
                session, None, username=name, full_name=name.title(), role=role, password=password
            )


def _signer(store: Store, name: str, meaning: str) -> Signer:
    return admit_signer(
        store, SignInPolicy(), name, PASSWORDS[name][1], meaning, address=BENCH, channel="cli"
    )


def one_batch(
    store: Store, worker: PrinterWorker, balance: SimBalance, number: int, units: int
) -> tuple[str, float, float]:
    """Enter, screen, queue, print, weigh (from the balance) and release batch `number`;
    (batch number, dose mg per unit, factor designed with)."""
    rx = parse_prescription(_prescription(number, units))
    with store.session() as session:
        tina = get_user(session, "tina")
        job = enter_prescription(session, tina, rx, printer=PRINTER, profile_id=PROFILE)
        batch = job.batch_number
    signer = _signer(store, "paula", SCREENED)
    with store.session() as session:
        screening.screen(session, batch, signer, "1 mg/kg: in range")
    with store.session() as session:
        service.queue(session, service.get_batch(session, batch), get_user(session, "tina"))
    assert worker.run(threading.Event(), until_idle=True) == [batch]
    printer = worker.printer
    assert isinstance(printer, SimPrinter) and printer.firmware_side is not None
    sim = printer.firmware_side
    assert sim.wait_until_idle(60.0), "the simulated printer did not finish its queue"
    extruded = dict(sim.extruded_e)
    sim.extruded_e.clear()
    with store.session() as session:
        job = service.get_batch(session, batch)
        assert job.state == "printed", job.state
        parameters = service.column_value(job, "parameters_json")
        formulation = service.column_value(job, "formulation_json")
        dose_mg = float(service.column_value(job, "design_json")["dose_mg"])
    mg_per_e = float(parameters["mm3_per_e"]) * float(formulation["density_g_cm3"])
    # the units only: the prime line (object `units`, after them) is on no balance
    balance.load(masses_of(extruded, mg_per_e, labels=range(units)))
    weights = read_weights(balance.port, units, request=True, unit_timeout_s=10.0)
    with store.session() as session:
        theo = get_user(session, "theo")
        record_weights(session, service.get_batch(session, batch), theo, weights, source="balance")
    releaser = _signer(store, "paula", "released")
    with store.session() as session:
        release(session, batch, releaser)
    return batch, dose_mg, float(formulation["calibration_factor"])


def close_the_loop(store: Store, settings: Settings) -> float | None:
    """Paula proposes from the fit of the released batches; Peter, a second pharmacist,
    approves with his password and a reason. The factor approved, or None."""
    with store.session() as session:
        try:
            proposal = calibrations.propose(
                session, get_user(session, "paula"), FORMULATION, PRINTER, PROFILE, settings
            )
        except CalibrationRejected:
            return None  # too few volumes yet, or a fit below R² 0.99: nothing proposed
        if proposal is None:
            return None
        proposal_id = proposal.id
    signer = _signer(store, "peter", approvals.APPROVAL_MEANING)
    with store.session() as session:
        row = approvals.approve(
            session, proposal_id, signer, "fit of weighed units of released batches"
        )
        return row.factor


def _start_loss_e(start_loss_mm3: float) -> float:
    """The simulated nozzle's start loss in E: mm³ over the profile's mm³ per E with the lot."""
    if not start_loss_mm3:
        return 0.0
    lot = catalog.formulation(FORMULATION)
    return start_loss_mm3 / catalog.printer_profile(PROFILE).mm3_per_e(lot.filament_diameter_mm)


def without_prime(fixtures: Path, into: Path) -> Path:
    """A copy of the `fixtures` folder in `into` whose PROFILE states no prime line."""
    copy = into / "fixtures"
    shutil.copytree(fixtures, copy)
    path = copy / "printers" / f"{PROFILE}.json"
    profile = json.loads(path.read_text())
    for field in ("prime_volume_mm3", "prime_pressure_mm3", "prime_width_mm"):
        profile.pop(field, None)
    profile["max_prime_volume_mm3"] = 0.0
    path.write_text(json.dumps(profile, indent=2) + "\n")
    return copy


def released_batches(
    store: Store, numbers: tuple[int, ...], *, units: int, flow_error: float, seed: int
) -> list[str]:
    """Batches `numbers` entered, printed on a simulated printer of `flow_error`, weighed on a
    simulated balance (0.3 mg noise) and released, without proposing anything."""
    printer = SimPrinter(
        speed_factor=400.0, baud=None, machine_type=MACHINE_TYPE, flow_error=flow_error
    )
    worker = PrinterWorker(store, PRINTER, printer, "w-cal", poll_s=0.05)
    try:
        with SimBalance(noise_sd_mg=0.3, seed=seed) as balance:
            return [one_batch(store, worker, balance, n, units)[0] for n in numbers]
    finally:
        printer.disconnect()


def run(
    store: Store,
    settings: Settings,
    *,
    batches: int,
    flow_error: float,
    noise_mg: float,
    units: int = 6,
    seed: int = 7,
    start_loss_mm3: float = 0.0,
) -> list[BatchFigures]:
    """The loop on `store` (staff made by `add_staff`): `batches` batches on one simulated
    printer of `flow_error` that loses `start_loss_mm3` after each heat-up, a balance of
    `noise_mg` standard deviation."""
    printer = SimPrinter(
        speed_factor=400.0,
        baud=None,
        machine_type=MACHINE_TYPE,
        flow_error=flow_error,
        start_loss_e=_start_loss_e(start_loss_mm3),
    )
    worker = PrinterWorker(store, PRINTER, printer, "w-cal", poll_s=0.05)
    figures = []
    try:
        with SimBalance(noise_sd_mg=noise_mg, seed=seed) as balance:
            for number in range(1, batches + 1):
                batch, dose_mg, factor = one_batch(store, worker, balance, number, units)
                with store.session() as session:
                    qc = service.column_value(service.get_batch(session, batch), "qc_json")
                contents = tuple(float(c) for c in qc["contents_percent"])
                approved = close_the_loop(store, settings)
                figures.append(
                    BatchFigures(
                        batch, dose_mg, factor, sum(contents) / len(contents), contents, approved
                    )
                )
    finally:
        printer.disconnect()
    return figures


def table(figures: list[BatchFigures], flow_error: float, start_loss_mm3: float = 0.0) -> str:
    loss = ""
    if start_loss_mm3:
        primes = catalog.printer_profile(PROFILE).primes
        loss = f", {start_loss_mm3:g} mm3 oozed at heat-up, {'a' if primes else 'no'} prime line"
    lines = [
        f"calibration loop: simulated {PROFILE} with a {flow_error * 100:+.1f} % flow error"
        f"{loss}, lot {catalog.formulation(FORMULATION).lot}",
        f"{'batch':<5} {'batch number':<18} {'dose mg':>8} {'factor':>8} "
        f"{'mean content % of label':>24}"
        + (f" {'first unit %':>13}" if start_loss_mm3 else "")
        + "  calibration approved after it",
    ]
    for number, f in enumerate(figures, start=1):
        after = f"factor {f.approved_factor:.4f}" if f.approved_factor is not None else ""
        first = f" {f.contents_percent[0]:>13.2f}" if start_loss_mm3 else ""
        lines.append(
            f"{number:<5} {f.batch_number:<18} {f.dose_mg:>8.1f} {f.factor:>8.4f} "
            f"{f.mean_content_percent:>24.2f}{first}  {after}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--flow-error", type=float, default=0.04)
    parser.add_argument("--noise-mg", type=float, default=0.3)
    parser.add_argument("--units", type=int, default=6)
    parser.add_argument("--start-loss-mm3", type=float, default=0.0)
    parser.add_argument("--no-prime", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as key_dir:
        environ = dict(os.environ, PRINTMED_DATA_DIR=folder, PRINTMED_KEY_DIR=key_dir)
        environ.pop("DATABASE_URL", None)
        os.environ["PRINTMED_KEY_DIR"] = key_dir  # the audit chain's service key
        if args.no_prime:
            fixtures = without_prime(catalog.fixtures_dir(), Path(folder))
            os.environ["PRINTMED_FIXTURES"] = environ["PRINTMED_FIXTURES"] = str(fixtures)
        settings = load_settings(environ)
        store = open_store(settings.database_url)
        masterfile.start(store)  # the master file's first start, as the service opens a store
        try:
            add_staff(store)
            figures = run(
                store,
                settings,
                batches=args.batches,
                flow_error=args.flow_error,
                noise_mg=args.noise_mg,
                units=args.units,
                start_loss_mm3=args.start_loss_mm3,
            )
            print(table(figures, args.flow_error, args.start_loss_mm3))
        finally:
            store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
