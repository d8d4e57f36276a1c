"""`printmed dose RX.json`: the dose of one administration and every step that reached it."""

from __future__ import annotations

import argparse
from pathlib import Path

from printmed.cli.output import print_json, print_pairs
from printmed.intake import read_prescription
from printmed.manufacture.dosing_path import dose_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dose", help="calculate the dose of a prescription")
    parser.add_argument("prescription", type=Path, help="native JSON or FHIR MedicationRequest")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rx = read_prescription(args.prescription)
    lot, dose = dose_for(rx)
    if args.json:
        print_json({"prescription_id": rx.id, "lot": lot.lot, **dose.to_dict()})
        return 0
    print_pairs(
        [
            ("prescription", rx.id),
            ("drug", f"{rx.drug.name} from lot {lot.lot} ({lot.id})"),
            ("calculated", f"{dose.calculated_mg:.4g} mg" + (" (capped)" if dose.capped else "")),
            ("dose", f"{dose.dose_mg:g} mg per administration"),
            ("rounding", f"{dose.rounding_difference_mg:+.4g} mg to the lot's step"),
            ("supply", f"{dose.doses} doses, {dose.frequency_per_day} a day"),
        ]
    )
    print("trail:")
    for number, step in enumerate(dose.trail, 1):
        inputs = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in step.inputs.items()
        )
        print(f"  {number}. {step.step}: {step.formula} [{inputs}] = {step.result:.4g} {step.unit}")
    return 0
