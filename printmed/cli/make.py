"""`printmed make RX.json --printer P -o out.gcode`: G-code that the dose gate has passed.

Designs, slices, writes and reads back; nothing is written unless every tablet is within ±1 %.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from printmed import catalog
from printmed.cli.output import print_json, print_pairs, write_atomically

if TYPE_CHECKING:
    from rich.progress import TaskID

    from printmed.manufacture import GatedBatch

STAGES = {"slice": "slicing", "write": "writing G-code", "gate": "reading back (dose gate)"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("make", help="design, slice and gate a prescription's G-code")
    parser.add_argument("prescription", type=Path, help="native JSON or FHIR MedicationRequest")
    parser.add_argument("--printer", required=True, help="printer profile id")
    parser.add_argument("-o", "--output", type=Path, required=True, help="G-code file to write")
    parser.add_argument(
        "--sequence",
        choices=("layers", "parts"),
        default="layers",
        help="layer by layer across the plate, or one tablet after another",
    )
    parser.add_argument(
        "--mesh",
        metavar="FILE|NAME",
        help="tablet shape from a mesh: a bundled shape (star, heart, …) or an .stl/.3mf file",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


@contextlib.contextmanager
def stage_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar per stage on stderr; nothing (and rich not even imported) when
    stderr is not a terminal, as in scripts and pipelines."""
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(STAGES.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        yield report


def run(args: argparse.Namespace) -> int:
    # Imported when run, so that `printmed make --help` does not load the slicer (Numba).
    from printmed.cli.design import with_mesh
    from printmed.intake import read_prescription
    from printmed.manufacture import make_batch

    rx = read_prescription(args.prescription)
    if args.mesh is not None:
        rx = with_mesh(rx, args.mesh)
    lot = catalog.formulation(rx.formulation)
    profile = catalog.printer_profile(args.printer)
    with stage_progress() as report:
        batch = make_batch(rx, lot, profile, progress=report, sequence=args.sequence)
    write_atomically(args.output, batch.gcode.encode())
    if args.json:
        print_json({"gcode": str(args.output), **batch.to_dict()})
        return 0
    worst = max(batch.tablets, key=lambda t: abs(t.deviation))
    print_pairs(
        [
            ("prescription", rx.id),
            *_dose_rows(batch),
            ("printer", f"{profile.id} ({profile.process})"),
            ("lot", f"{lot.lot} ({lot.id})"),
            # offline: the fixtures folder, not the approved master file (`batches new` uses it)
            ("master data", f"{catalog.fixtures_dir()}: {catalog.FIXTURES_SOURCE}"),
            (
                "dose gate",
                f"passed: worst tablet {worst.index} at {worst.deviation:+.4%} "
                f"({worst.gcode_mg:.4f} mg for {worst.target_mg:.4f} mg)",
            ),
            (
                "prime line",
                f"{batch.plate.prime_volume_mm3:.2f} mm³ at the bed's edge, on no tablet "
                f"(the profile allows up to {profile.max_prime_volume_mm3:g} mm³)"
                if batch.plate.prime_volume_mm3
                else "none (the profile states no prime)",
            ),
            ("print time", f"{batch.plate.print_time_s / 60:.1f} min (estimate)"),
            ("sha256", batch.sha256),
            ("gcode", str(args.output)),
        ]
    )
    return 0


def _dose_rows(batch: GatedBatch) -> list[tuple[str, str]]:
    """The dose per unit; for a schedule one row per step, with its tablets on the plate (in
    step order), its days and its worst tablet at the gate."""
    steps = batch.plan.steps
    if not steps:
        return [("dose", f"{batch.design.dose_mg:g} mg per unit, {len(batch.tablets)} units")]
    rows, first = [("schedule", f"{len(steps)} steps, {len(batch.tablets)} units on one plate")], 0
    for step in steps:
        count = step.design.units_total
        tablets = batch.tablets[first : first + count]
        worst = max(tablets, key=lambda t: abs(t.deviation))
        rows.append(
            (
                f"step {step.dose.step}",
                f"{step.design.dose_mg:g} mg per unit, {count} units (tablets {first}–"
                f"{first + count - 1}), days {step.dose.first_day} to {step.dose.last_day}; "
                f"worst tablet {worst.index} at {worst.deviation:+.4%}",
            )
        )
        first += count
    return rows
