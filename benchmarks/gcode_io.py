"""Writing and reading back the G-code of a 30-tablet plate: the array writer and reader against
the line-by-line ones they replaced, timed side by side in one process.

The plate is `printmed make`'s: the propranolol-child prescription with enough units for 30
tablets on fdm-pharma-04, sliced once. The writer and the gate's reader are timed apart, each
the median of --runs warm runs after one first call (which loads or compiles the Numba cache; its
time is reported apart). The line-by-line writer and reader are loaded from git (--before, the
commit before the rewrite) and must give the same text and the same figures.
Prints a table and writes benchmarks/results/gcode_io.json.
Usage: python benchmarks/gcode_io.py [--runs 7] [--units 30] [--before 3930256]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "gcode_io.json"
RX = ROOT / "fixtures" / "prescriptions" / "propranolol-child.json"
PRINTER = "fdm-pharma-04"
ON = dt.date(2026, 11, 25)  # dosing reads the patient's age against a date
GOAL_S = 0.050  # issue 12: each of writing and reading the 30-tablet plate under 50 ms


def plate_inputs(units: int) -> tuple[list[Any], Any, Any]:
    """The writer's inputs for `printmed make` of RX with `units` tablets: (tablets, profile,
    header), taken from make_plate as it hands them to the writer."""
    from printmed import catalog
    from printmed.intake import read_prescription
    from printmed.manufacture.batch import design_for
    from printmed.manufacture.plate import PlateItem
    from tests.gcode.reference_cases import writer_inputs

    rx = read_prescription(RX).model_copy(update={"units": units})
    lot = catalog.formulation(rx.formulation)
    profile = catalog.printer_profile(PRINTER)
    plan = design_for(rx, lot, profile, on=ON)
    items = [PlateItem(plan.design, plan.design.dose_mg)] * plan.design.units_total
    tablets, profile, header = writer_inputs(items, lot, profile)
    return tablets, profile, header


def module_at(commit: str, path: str, name: str) -> types.ModuleType | None:
    """The module at `path` as it was at `commit`, loaded under `name` (None without git)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType(name)
    module.__file__ = f"{commit}:{path}"
    sys.modules[name] = module  # dataclasses look their module up by name
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def timed(function: Callable[[], object], runs: int) -> dict[str, Any]:
    """First call (JIT cache load or compile) apart, then `runs` warm calls: wall seconds."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return {"first_s": first, "runs_s": times, "median_s": statistics.median(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--before", default="3930256", help="commit of the line-by-line code")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from gcode.analyze import analyze
    from gcode.write import write_gcode

    tablets, profile, header = plate_inputs(args.units)
    write = lambda: write_gcode(tablets, profile, header)  # noqa: E731
    text = write()
    read = lambda: analyze(text, header.mm3_per_e)  # noqa: E731
    rows: dict[str, Any] = {
        "write": timed(write, args.runs),
        "read": timed(read, args.runs),
    }
    old_write = module_at(args.before, "gcode/write.py", "gcode_write_before")
    old_read = module_at(args.before, "gcode/analyze.py", "gcode_analyze_before")
    same: dict[str, bool] = {}
    if old_write is not None and old_read is not None:
        before_text = old_write.write_gcode(tablets, profile, header)
        same["text"] = before_text == text
        before_figures = old_read.analyze(text, header.mm3_per_e).to_dict()
        # the reader reports more since (object names, the prime's volume): what the old one
        # reported must be the same to the last digit
        figures_now = read().to_dict()
        same["figures"] = all(
            json.dumps(figures_now.get(key)) == json.dumps(value)
            for key, value in before_figures.items()
        )
        runs = max(3, args.runs // 2)  # the old ones are slow; fewer runs, same medians
        rows["write_before"] = timed(lambda: old_write.write_gcode(tablets, profile, header), runs)
        rows["read_before"] = timed(lambda: old_read.analyze(text, header.mm3_per_e), runs)
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": list(os.getloadavg()),
        "plate": {
            "prescription": RX.name,
            "printer": PRINTER,
            "tablets": len(tablets),
            "lines": len(text.splitlines()),
            "bytes": len(text.encode()),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
        },
        "before_commit": args.before,
        "same_as_before": same,
        "runs": args.runs,
        "timings": rows,
        "goal_s": GOAL_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    return 0


def table(result: dict[str, Any]) -> str:
    plate = result["plate"]
    rows = result["timings"]
    lines = [
        f"{plate['tablets']} tablets, {plate['lines']:,} lines, {plate['bytes']:,} bytes; "
        f"median of {result['runs']} warm runs (first call apart: Numba cache load); "
        f"load average {result['load_average'][0]:.1f}",
        f"{'stage':<8}{'now ms':>10}{'first ms':>10}{'before ms':>11}{'ratio':>8}{'goal':>8}",
    ]
    for stage in ("write", "read"):
        now = rows[stage]["median_s"]
        before = rows.get(f"{stage}_before", {}).get("median_s")
        ratio = f"{now / before:.3f}" if before else "-"
        shown = f"{before * 1e3:.1f}" if before else "-"
        lines.append(
            f"{stage:<8}{now * 1e3:>10.1f}{rows[stage]['first_s'] * 1e3:>10.1f}{shown:>11}"
            f"{ratio:>8}{'met' if now < result['goal_s'] else 'MISSED':>8}"
        )
    same = result["same_as_before"]
    if same:
        lines.append(f"same text as before: {same['text']}; same figures: {same['figures']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
