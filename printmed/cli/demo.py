"""`printmed demo`: the worked example on the bundled prescriptions, from order to tablet design."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from printmed import catalog
from printmed.errors import user_errors

if TYPE_CHECKING:
    from dosing.calculate import Dose
    from dosing.design import TabletDesign
    from printmed.manufacture.batch import TabletPlan


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
        for row in _rows(path.name, plan):
            table.add_row(*row)
    console.print(table)
    return 0


def _rows(name: str, plan: TabletPlan) -> list[list[str]]:
    """One row per tablet: the order's, or for a schedule one per step (`name step 2/3`, its
    own dose, days and tablet)."""
    rx = plan.prescription
    if not plan.steps:
        order = f"{rx.dose.value:g} {rx.dose.unit}"
        return [_row(name, order, plan.dose, plan.formulation.lot, plan.design)]
    assert rx.schedule is not None
    return [
        _row(
            f"{name} step {step.dose.step}/{len(plan.steps)}",
            f"{ordered.dose.value:g} {ordered.dose.unit}, days {step.dose.first_day}–"
            f"{step.dose.last_day}",
            step.dose.dose,
            plan.formulation.lot,
            step.design,
        )
        for step, ordered in zip(plan.steps, rx.schedule, strict=True)
    ]


def _row(name: str, order: str, dose: Dose, lot: str, design: TabletDesign) -> list[str]:
    size = " × ".join(f"{v:.2f}" for v in design.dimensions_mm.values())
    return [
        name,
        order,
        f"{dose.dose_mg:g} mg",
        lot,
        f"{design.shape} {size} mm",
        f"{design.units_per_dose}×{dose.doses}",
        f"{design.volume_mm3:.2f} mm³",
        f"{design.dose_mg:.4g} mg",
    ]
