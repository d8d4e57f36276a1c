"""`printmed dose RX.json`: the dose of one administration and every step that reached it; for
a schedule (a taper, a titration), each step's dose, days and its own trail.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dosing.calculate import Dose, StepDose
from printmed import catalog
from printmed.cli.output import print_json, print_pairs
from printmed.intake import read_prescription
from printmed.manufacture.dosing_path import dose_for, doses_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dose", help="calculate the dose of a prescription")
    parser.add_argument("prescription", type=Path, help="native JSON or FHIR MedicationRequest")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rx = read_prescription(args.prescription)
    if rx.schedule is not None:
        lot, steps = doses_for(rx)
        if args.json:
            print_json(
                {
                    "prescription_id": rx.id,
                    "lot": lot.lot,
                    "doses": sum(s.dose.doses for s in steps),
                    "steps": [s.to_dict() for s in steps],
                }
            )
            return 0
        total_days = steps[-1].last_day
        print_pairs(
            [
                ("prescription", rx.id),
                ("drug", f"{rx.drug.name} from lot {lot.lot} ({lot.id})"),
                ("master data", catalog.FIXTURES_SOURCE),
                (
                    "schedule",
                    f"{len(steps)} steps over {total_days} days, "
                    f"{sum(s.dose.doses for s in steps)} doses in all",
                ),
            ]
        )
        for step in steps:
            print()
            _print_step(step, len(steps), total_days)
        return 0
    lot, dose = dose_for(rx)
    if args.json:
        print_json({"prescription_id": rx.id, "lot": lot.lot, **dose.to_dict()})
        return 0
    print_pairs(
        [
            ("prescription", rx.id),
            ("drug", f"{rx.drug.name} from lot {lot.lot} ({lot.id})"),
            ("master data", catalog.FIXTURES_SOURCE),  # offline: not the approved master file
            *_dose_rows(dose),
        ]
    )
    _print_trail(dose)
    return 0


def _dose_rows(dose: Dose) -> list[tuple[str, str]]:
    return [
        ("calculated", f"{dose.calculated_mg:.4g} mg" + (" (capped)" if dose.capped else "")),
        ("dose", f"{dose.dose_mg:g} mg per administration"),
        ("rounding", f"{dose.rounding_difference_mg:+.4g} mg to the lot's step"),
        ("supply", f"{dose.doses} doses, {dose.frequency_per_day} a day"),
    ]


def _print_step(step: StepDose, steps: int, total_days: int) -> None:
    print(f"step {step.step} of {steps}: days {step.first_day} to {step.last_day} of {total_days}")
    print_pairs(_dose_rows(step.dose))
    _print_trail(step.dose)


def _print_trail(dose: Dose) -> None:
    print("trail:")
    for number, step in enumerate(dose.trail, 1):
        inputs = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in step.inputs.items()
        )
        print(f"  {number}. {step.step}: {step.formula} [{inputs}] = {step.result:.4g} {step.unit}")
