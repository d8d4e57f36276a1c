"""Start-up of the `printmed` command, whole process: `--help`, `dose`, and `make` for 30 tablets.

Each command runs --runs times (median of 5 by default) as a new process through the installed
console script; per run: wall time, CPU (user + system) and peak RSS of that child (os.wait4's
rusage, so one run's peak is not another's). Then `python -X importtime` once per command lists
the top-level imports that cost most, and `printmed make` runs twice more in a child that reads
its Numba dispatchers' counters to say whether the on-disk JIT cache (cache=True) was hit.
With --baseline REV the same commands of that commit (`git archive` into a temporary folder,
put first on PYTHONPATH) run in turn with the working tree's, so both meet the same load.
Prints a table and writes benchmarks/results/startup.json.
Usage: python benchmarks/startup.py [--runs 5] [--baseline HEAD] [--units 30] [--printer ID]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "startup.json"
DEFAULT_RX = ROOT / "fixtures" / "prescriptions" / "propranolol-child.json"
# Goals of issue 12, whole process: wall seconds.
GOALS_S = {"help": 0.3, "dose": 0.5}
HEAVY = ("numba", "trimesh", "matplotlib", "scipy", "sqlalchemy", "fhir.resources")

# Run inside a child after `printmed make`: each Numba function of gcode and its cache counters.
NUMBA_PROBE = """
import contextlib, io, json, sys
from printmed.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
from numba.core.dispatcher import Dispatcher
found = {}
for name, module in sorted(sys.modules.items()):
    if name.split(".")[0] != "gcode":
        continue
    for attr, value in vars(module).items():
        if isinstance(value, Dispatcher) and value.__module__ == name:
            stats = value.stats
            found[f"{name}.{attr}"] = {
                "cache": type(value._cache).__name__,
                "cache_path": stats.cache_path,
                "signatures": len(value.signatures),
                "hits": sum(stats.cache_hits.values()),
                "misses": sum(stats.cache_misses.values()),
            }
print(json.dumps({"exit": code, "functions": found}))
"""


def printmed_command() -> list[str]:
    """The console script the package installs beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("printmed")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "printmed"]


def run_once(argv: list[str], tree: Path = ROOT) -> dict[str, Any]:
    """One whole process: wall s, CPU s (user + system) and peak RSS MiB of that child alone.

    `tree` other than this checkout is put first on PYTHONPATH, ahead of the editable install.
    """
    env = None if tree == ROOT else {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tree)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        message = err.read().decode(errors="replace").strip()
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
        "exit": child.returncode,
        "stderr": message[-300:],
    }


def measure(argv: list[str], runs: int, tree: Path = ROOT) -> dict[str, Any]:
    samples = [run_once(argv, tree) for _ in range(runs)]
    failed = [s for s in samples if s["exit"] != 0]
    figures: dict[str, Any] = {"command": argv, "runs": runs, "failed_runs": len(failed)}
    if failed:
        figures["error"] = failed[0]["stderr"]
    for key in ("wall_s", "cpu_s", "peak_rss_mib"):
        values = [s[key] for s in samples]
        figures[key] = values
        figures[f"{key}_median"] = statistics.median(values)
    return figures


def merge(single_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs measured one at a time (interleaved with a baseline's) as one set of figures."""
    merged: dict[str, Any] = {
        "command": single_runs[0]["command"],
        "runs": len(single_runs),
        "failed_runs": sum(r["failed_runs"] for r in single_runs),
    }
    errors = [r["error"] for r in single_runs if "error" in r]
    if errors:
        merged["error"] = errors[0]
    for key in ("wall_s", "cpu_s", "peak_rss_mib"):
        merged[key] = [value for r in single_runs for value in r[key]]
        merged[f"{key}_median"] = statistics.median(merged[key])
    return merged


def import_offenders(argv: list[str], top: int) -> dict[str, Any]:
    """`python -X importtime` of the command: top-level imports by cumulative time, and heavy ones.

    argv is the command after `printmed`; run as `python -X importtime -m printmed ...`.
    """
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "printmed", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line[len("import time:") :].split("|")
        self_us, cumulative_us, name = int(parts[0]), int(parts[1]), parts[2]
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), depth, self_us, cumulative_us))
    names = {name for name, *_ in rows}
    top_level = sorted((r for r in rows if r[1] == 0), key=lambda r: -r[3])
    return {
        "command": ["python", "-X", "importtime", "-m", "printmed", *argv],
        "exit": result.returncode,
        "modules_imported": len(rows),
        "import_s": sum(r[3] for r in rows if r[1] == 0) / 1e6,
        "heavy_imported": sorted(
            h for h in HEAVY if any(n == h or n.startswith(h + ".") for n in names)
        ),
        "top_level": [
            {"module": name, "cumulative_ms": cum / 1000, "self_ms": own / 1000}
            for name, _, own, cum in top_level[:top]
        ],
    }


def numba_cache(make_argv: list[str]) -> dict[str, Any]:
    """Run `printmed make` twice in children and read each Numba function's cache counters.

    The first run may compile and save (a source file changed since the cache was written); the
    second must load every function from the cache, or the cache is not being hit.
    """
    passes: list[dict[str, Any]] = []
    for _ in range(2):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", NUMBA_PROBE, *make_argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0 or not result.stdout.strip():
            passes.append({"wall_s": wall, "error": result.stderr.strip()[-300:]})
            continue
        probe = json.loads(result.stdout.strip().splitlines()[-1])
        functions = probe["functions"]
        passes.append(
            {
                "wall_s": wall,
                "exit": probe["exit"],
                "functions": functions,
                "compiled": sum(1 for f in functions.values() if f["signatures"]),
                "loaded_from_cache": sum(f["hits"] for f in functions.values()),
                "compiled_afresh": sum(f["misses"] for f in functions.values()),
                "without_cache": sorted(
                    n for n, f in functions.items() if f["cache"] != "FunctionCache"
                ),
            }
        )
    second = passes[-1]
    hit = "error" not in second and second["compiled_afresh"] == 0 and second["compiled"] > 0
    return {"passes": passes, "cache_hit_on_second_run": hit}


def command_cases(
    tree: Path, rx: Path, units: int, printer: str, out: Path
) -> dict[str, list[str]]:
    """`--help`, `dose RX` and `make` of RX with `units` tablets, with the fixtures of `tree`."""
    rx_data = json.loads((tree / rx.relative_to(ROOT)).read_text())
    if "units" in rx_data:
        rx_data["units"] = units
    plate_rx = out / f"rx-{units}.json"
    plate_rx.write_text(json.dumps(rx_data))
    make = ["make", str(plate_rx), "--printer", printer, "-o", str(out / "o.gcode")]
    return {"help": ["--help"], "dose": ["dose", str(tree / rx.relative_to(ROOT))], "make": make}


def export_tree(rev: str, folder: Path) -> Path:
    """The files of commit `rev`, read-only from git (`git archive`), unpacked into `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True, timeout=120
    ).stdout
    folder.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (median)")
    parser.add_argument("--prescription", type=Path, default=DEFAULT_RX)
    parser.add_argument("--units", type=int, default=30, help="tablets for `printmed make`")
    parser.add_argument("--printer", default="fdm-pharma-04", help="printer profile for make")
    parser.add_argument("--top", type=int, default=8, help="import offenders listed per command")
    parser.add_argument("--baseline", metavar="REV", help="also time this commit, run for run")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="printmed-startup-"))
    try:
        # The bundled prescription with --units tablets: the plate the figures use.
        plate = (options.prescription.resolve(), options.units, options.printer)
        cases = command_cases(ROOT, *plate, work)
        trees = {"now": ROOT}
        if options.baseline:
            (work / "baseline-out").mkdir()
            trees["baseline"] = export_tree(options.baseline, work / "baseline")
            baseline_cases = command_cases(trees["baseline"], *plate, work / "baseline-out")
        base = printmed_command()
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        load_before = os.getloadavg()
        timings: dict[str, Any] = {}
        baseline: dict[str, Any] = {}
        for name, argv in cases.items():
            # One warm-up run each, so the first measured run does not pay for a cold page cache;
            # with a baseline, one run of each in turn, so a burst of load falls on both.
            run_once([*base, *argv])
            if not options.baseline:
                timings[name] = measure([*base, *argv], options.runs)
                continue
            run_once([*base, *baseline_cases[name]], trees["baseline"])
            rounds = [
                (
                    measure([*base, *argv], 1),
                    measure([*base, *baseline_cases[name]], 1, trees["baseline"]),
                )
                for _ in range(options.runs)
            ]
            timings[name] = merge([now for now, _ in rounds])
            baseline[name] = merge([then for _, then in rounds])
        imports = {name: import_offenders(argv, options.top) for name, argv in cases.items()}
        cache = numba_cache(cases["make"])
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report = {
        "started_utc": started,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "units_for_make": options.units,
        "goals_wall_s": GOALS_S,
        "timings": timings,
        "baseline": {"rev": options.baseline, "timings": baseline} if options.baseline else None,
        "imports": imports,
        "numba_cache": cache,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    print(
        f"load average before/after: {report['machine']['load_average_before']} / "
        f"{report['machine']['load_average_after']} on {report['machine']['cpus']} CPUs"
    )
    print("| command | wall s (median) | CPU s (median) | peak RSS MiB | goal | failed runs |")
    print("|---|---|---|---|---|---|")
    for name, t in report["timings"].items():
        goal = report["goals_wall_s"].get(name)
        # On a loaded machine the wall time waits for other processes; CPU time does not.
        verdict = (
            ""
            if goal is None
            else f"< {goal} s: wall {'met' if t['wall_s_median'] < goal else 'NOT met'}, "
            f"CPU {'met' if t['cpu_s_median'] < goal else 'NOT met'}"
        )
        print(
            f"| printmed {name} | {t['wall_s_median']:.3f} | {t['cpu_s_median']:.3f} | "
            f"{t['peak_rss_mib_median']:.0f} | {verdict} | {t['failed_runs']} |"
        )
        if t["failed_runs"]:
            print(f"|  error: {t.get('error', '')} |")
        then = (report["baseline"] or {}).get("timings", {}).get(name)
        if then is not None:
            ratio = then["cpu_s_median"] / t["cpu_s_median"]
            print(
                f"| printmed {name} at {report['baseline']['rev']} | {then['wall_s_median']:.3f} | "
                f"{then['cpu_s_median']:.3f} | {then['peak_rss_mib_median']:.0f} | "
                f"now {ratio:.1f}× less CPU | {then['failed_runs']} |"
            )
    for name, imp in report["imports"].items():
        heavy = ", ".join(imp["heavy_imported"]) or "none"
        print(
            f"\nprintmed {name}: {imp['modules_imported']} modules, {imp['import_s']:.3f} s "
            f"importing; heavy: {heavy}"
        )
        for row in imp["top_level"]:
            print(f"  {row['cumulative_ms']:8.1f} ms  {row['module']}")
    cache = report["numba_cache"]
    for number, one in enumerate(cache["passes"], 1):
        if "error" in one:
            print(f"\nnumba, make run {number}: failed: {one['error']}")
            continue
        print(
            f"\nnumba, make run {number} ({one['wall_s']:.2f} s): {one['compiled']} used, "
            f"{one['loaded_from_cache']} loaded from the cache, {one['compiled_afresh']} compiled "
            f"afresh, without cache=True: {one['without_cache'] or 'none'}"
        )
    print(f"on-disk JIT cache hit on the second run: {cache['cache_hit_on_second_run']}")


if __name__ == "__main__":
    sys.exit(main())
