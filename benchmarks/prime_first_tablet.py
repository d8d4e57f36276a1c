"""The first tablet of a plate with and without the prime line, weighed: a simulated printer
whose nozzle loses a start volume after heating (a filament nozzle's ooze, a syringe's pressure
build-up), a simulated balance (MT-SICS on a pty, with noise) weighing each unit it laid.

    python benchmarks/prime_first_tablet.py [--batches 3] [--units 5] [--noise-mg 0.3]

prints, per process and batch, the first tablet's content and the mean of the others (% of
label), the plate written by the product's own path (make_plate, gated) on the bundled profile
as it is (priming) and on the same profile with its prime taken out.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dosing.calculate import calculate
from dosing.design import design_tablet
from dosing.formulation import Formulation
from dosing.prescription import parse_prescription
from gcode.profile import MachineProfile
from printers.program import GcodeProgram
from printers.sim_balance import SimBalance, masses_of
from printers.sim_printer import SimPrinter
from printmed import catalog
from printmed.manufacture.plate import Plate, PlateItem, make_plate
from printmed.records.balance import read_weights

ON = dt.date(2026, 11, 25)
# process: (printer profile, lot, prescription's drug, dose per unit mg, start loss mm³)
CASES: dict[str, tuple[str, str, dict[str, str], float, float]] = {
    "fdm": (
        "fdm-pharma-04",
        "propranolol-pva-10",
        {"name": "propranolol", "code": "372772003"},
        5.0,
        3.0,  # ooze while heating: about 1.2 mm of 1.75 mm filament
    ),
    "sse": (
        "sse-syringe-08",
        "hydrocortisone-paste-5",
        {"name": "hydrocortisone", "code": "396458002"},
        2.5,
        8.0,  # paste pushed before it flows: 0.04 mm of a 15.9 mm plunger
    ),
}


@dataclass(frozen=True)
class FirstTablet:
    """One plate weighed: each unit's content (% of label) in plate order."""

    process: str
    primed: bool
    loss_mm3: float
    contents_percent: tuple[float, ...]

    @property
    def first(self) -> float:
        return self.contents_percent[0]

    @property
    def others(self) -> float:
        rest = self.contents_percent[1:]
        return sum(rest) / len(rest)


def unprimed(profile: MachineProfile) -> MachineProfile:
    """`profile` as a profile that states no prime (what a profile without the fields is)."""
    return profile.model_copy(
        update={"prime_volume_mm3": 0.0, "prime_pressure_mm3": 0.0, "max_prime_volume_mm3": 0.0}
    )


def plate_of(process: str, units: int, primed: bool) -> tuple[Plate, MachineProfile, Formulation]:
    """`units` tablets of the case's dose on one gated plate of its bundled printer."""
    profile_id, lot_id, drug, dose_mg, _ = CASES[process]
    profile = catalog.printer_profile(profile_id)
    profile = profile if primed else unprimed(profile)
    lot = catalog.formulation(lot_id)
    data: dict[str, Any] = {
        "id": f"RX-PRIME-{process}",
        "patient": {"id": "TEST-PATIENT-PRIME", "weight_kg": 20.0, "age_years": 6},
        "drug": copy.deepcopy(drug),
        "dose": {"value": dose_mg, "unit": "mg"},
        "frequency_per_day": 1,
        "units": units,
        "formulation": lot_id,
        "shape": "round",
    }
    dose = calculate(parse_prescription(data), lot, on=ON)
    design = design_tablet(dose, lot, "round", profile.layer_height_mm)
    items = [PlateItem(design, design.dose_mg)] * units
    return make_plate(items, lot, profile, job_id=f"prime-{process}"), profile, lot


def weigh_first_tablet(
    process: str,
    *,
    units: int,
    primed: bool,
    noise_mg: float = 0.0,
    seed: int = 7,
    loss_mm3: float | None = None,
) -> FirstTablet:
    """Write the plate, stream it to a simulated printer losing the case's start volume (or
    `loss_mm3`), weigh its units on the simulated balance; contents in % of label."""
    plate, _, lot = plate_of(process, units, primed)
    loss = CASES[process][4] if loss_mm3 is None else loss_mm3
    printer = SimPrinter(speed_factor=1000.0, baud=None, start_loss_e=loss / plate.mm3_per_e)
    try:
        printer.connect()
        report = printer.stream(GcodeProgram.from_text(plate.gcode, f"prime-{process}"))
        assert report.complete, report.summary()
        sim = printer.firmware_side
        assert sim is not None and sim.wait_until_idle(60.0)
        extruded = dict(sim.extruded_e)
    finally:
        printer.disconnect()
    mg_per_e = plate.mm3_per_e * lot.density_g_cm3
    drug_per_mg = lot.drug_mg_per_mm3 / lot.density_g_cm3  # drug mg in a printed mg
    with SimBalance(noise_sd_mg=noise_mg, seed=seed) as balance:
        balance.load(masses_of(extruded, mg_per_e, labels=range(units)))
        weights = read_weights(balance.port, units, request=True, unit_timeout_s=10.0)
    contents = tuple(
        100.0 * w * drug_per_mg / t.target_mg for w, t in zip(weights, plate.tablets, strict=True)
    )
    return FirstTablet(process, primed, loss, contents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--noise-mg", type=float, default=0.3)
    args = parser.parse_args(argv)
    print(
        f"{'process':<8} {'prime':<6} {'batch':>5} {'start loss mm3':>15} "
        f"{'first tablet % of label':>24} {'others, mean %':>15}"
    )
    for process in CASES:
        for primed in (False, True):
            for batch in range(1, args.batches + 1):
                row = weigh_first_tablet(
                    process, units=args.units, primed=primed, noise_mg=args.noise_mg, seed=batch
                )
                print(
                    f"{process:<8} {'yes' if primed else 'no':<6} {batch:>5} "
                    f"{row.loss_mm3:>15.1f} {row.first:>24.2f} {row.others:>15.2f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
