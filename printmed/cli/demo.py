"""`printmed demo`: the worked example on the bundled prescriptions, from order to tablet design."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from printmed import catalog
from printmed.errors import user_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="dose and design every bundled prescription")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported when run, so that `printmed demo --help` does not load the slicer (Numba).
    from printmed.intake import read_prescription
    from printmed.manufacture import plan_tablet

    console = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title="printmed worked example: bundled prescriptions → tablets")
    for column in (
        "prescription",
        "order",
        "dose",
        "lot",
        "tablet",
        "units",
        "volume",
        "drug/unit",
    ):
        table.add_column(column)
    folder = catalog.fixtures_dir() / "prescriptions"
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("Observation-"):
            continue
        try:
            plan = plan_tablet(read_prescription(path))
        except user_errors() as exc:
            table.add_row(path.name, "", f"refused: {exc}", "", "", "", "", "")
            continue
        rx, design = plan.prescription, plan.design
        size = " × ".join(f"{v:.2f}" for v in design.dimensions_mm.values())
        table.add_row(
            path.name,
            f"{rx.dose.value:g} {rx.dose.unit}",
            f"{plan.dose.dose_mg:g} mg",
            plan.formulation.lot,
            f"{design.shape} {size} mm",
            f"{design.units_per_dose}×{plan.dose.doses}",
            f"{design.volume_mm3:.2f} mm³",
            f"{design.dose_mg:.4g} mg",
        )
    console.print(table)
    return 0
