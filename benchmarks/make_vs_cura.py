"""End-to-end speed: `printmed make` for 30 tablets against CuraEngine on the same 30 tablets.

In one run, side by side: the whole `printmed make` process (start-up, design, slice, write,
gate, file) and CuraEngine slicing the same 30 tablets (the design's mesh at the plate's
positions, one STL, solid, 0.2 mm layers, the profile's line width); `make_batch` in process for
10, 30 and 100 tablets (cost per tablet, linearity); and the 100-tablet mesh plate of
benchmarks/slicing.py (2M triangles, 20 % fill) sliced in a fresh process, with its peak RSS.
Medians; wall and CPU seconds. Peers: bash benchmarks/install_peers.sh.

    python benchmarks/make_vs_cura.py [--repeats 3] [--out benchmarks/results/make_vs_cura.json]
        [--baseline-tree DIR]   # also measure another checkout, interleaved, e.g. made by
                                # git archive <commit> | tar -x -C DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# the source tree measured: this checkout, or (in a child) the one a baseline run names
TREE = Path(os.environ.get("PRINTMED_BENCH_TREE", ROOT))
sys.path.insert(0, str(TREE))
sys.path.insert(0, str(TREE / "benchmarks"))

PRINTER = "fdm-pharma-04"
RX = ROOT / "fixtures" / "prescriptions" / "propranolol-child.json"
ON = dt.date(2026, 11, 25)
STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])


def prescription_with(units: int, folder: Path) -> Path:
    """The bundled propranolol prescription with `units` tablets, as a file in `folder`."""
    data = json.loads(RX.read_text())
    data["units"] = units
    path = folder / f"rx-{units}.json"
    path.write_text(json.dumps(data))
    return path


def plate_stl(units: int, folder: Path) -> Path:
    """The tablets `printmed make` prints for the prescription, at their plate positions, as one
    binary STL: (units × n) triangles, mm."""
    from dosing.prescription import parse_prescription
    from gcode.mesh_io import check_triangles
    from gcode.plate import arrange
    from printmed.catalog import formulation, printer_profile
    from printmed.manufacture.batch import design_for

    data = json.loads(RX.read_text())
    data["units"] = units
    rx = parse_prescription(data)
    profile = printer_profile(PRINTER)
    plan = design_for(rx, formulation(rx.formulation), profile, on=ON)
    part = check_triangles(plan.design.triangles)
    footprints = [part.extents_mm[:2]] * plan.design.units_total
    offsets = arrange(footprints, profile)
    plate = np.concatenate([part.triangles + np.array([x, y, 0.0]) for x, y in offsets])
    path = folder / f"plate-{units}.stl"
    records = np.zeros(len(plate), dtype=STL_RECORD)  # normals left 0: slicers use the winding
    records["vertices"] = plate
    path.write_bytes(
        b"printmed make_vs_cura".ljust(80) + np.uint32(len(plate)).tobytes() + records.tobytes()
    )
    return path


def run(command: list[str], tree: Path | None = None) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of a child process (importing from `tree` if given)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=_env(tree))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env(tree: Path | None) -> dict[str, str] | None:
    if tree is None:
        return None
    return {**os.environ, "PYTHONPATH": str(tree), "PRINTMED_BENCH_TREE": str(tree)}


def child(mode: str, arguments: list[str], tree: Path) -> dict[str, Any]:
    """Run this script's child `mode` importing from `tree`; its JSON line."""
    command = [sys.executable, __file__, mode, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(tree), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} in {tree} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def make_in_process(units: int, repeats: int) -> dict[str, Any]:
    """`make_batch` for `units` tablets: wall and CPU seconds per run (one warm-up first)."""
    from dosing.prescription import parse_prescription
    from printmed.catalog import formulation, printer_profile
    from printmed.manufacture.batch import make_batch

    data = json.loads(RX.read_text())
    data["units"] = units
    rx = parse_prescription(data)
    lot, profile = formulation(rx.formulation), printer_profile(PRINTER)
    batch = make_batch(rx, lot, profile, on=ON)
    walls, cpus = [], []
    for _ in range(repeats):
        cpu, start = time.process_time(), time.perf_counter()
        make_batch(rx, lot, profile, on=ON)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return {"tablets": len(batch.tablets), "wall_s": walls, "cpu_s": cpus, "sha256": batch.sha256}


def mesh_plate_child(mesh: str, layer_mm: float) -> None:
    """In this (fresh) process: read, check, slice, plan and write the mesh plate; print JSON."""
    import slicing

    out = Path(tempfile.mkdtemp(prefix="printmed-plate-")) / "plate.gcode"
    # imports and the Numba cache, on the benchmark's single tablet beside the plate
    slicing.printmed_slice(Path(mesh).with_name("tablet.stl"), 0.2, out.with_suffix(".warm"))
    cpu, start = time.process_time(), time.perf_counter()
    slicing.printmed_slice(Path(mesh), layer_mm, out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_rss_mib()
    import hashlib

    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    shutil.rmtree(out.parent, ignore_errors=True)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": peak, "sha256": digest}))


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: VmHWM, which exec resets (ru_maxrss keeps the
    parent's peak from before exec, here the benchmark's own 2M-triangle trimesh)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--in-process", default="10,30,100")
    parser.add_argument("--plate-layers", default="0.2,0.1")
    parser.add_argument("--skip", default="", help="comma list of: make,cura,batch,plate")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "make_vs_cura.json"
    )
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to measure too")
    parser.add_argument("--plate-child", nargs=2, metavar=("MESH", "LAYER"), help=argparse.SUPPRESS)
    parser.add_argument("--batch-child", nargs=2, metavar=("UNITS", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plate_child:
        mesh_plate_child(args.plate_child[0], float(args.plate_child[1]))
        return 0
    if args.batch_child:
        print(json.dumps(make_in_process(int(args.batch_child[0]), int(args.batch_child[1]))))
        return 0
    trees = {"now": ROOT}
    if args.baseline_tree:
        trees["before"] = args.baseline_tree.resolve()
    skip = set(filter(None, args.skip.split(",")))
    defs = Path(os.environ.get("PRINTMED_PEERS_DIR", Path.home() / ".cache" / "printmed-peers"))
    if "cura" not in skip and not (
        shutil.which("CuraEngine") and (defs / "fdmprinter.def.json").is_file()
    ):
        sys.exit("CuraEngine or its definitions are missing: bash benchmarks/install_peers.sh")
    import slicing

    from printmed.catalog import printer_profile

    profile = printer_profile(PRINTER)
    work = Path(tempfile.mkdtemp(prefix="printmed-make-bench-"))
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(),
        "repeats": args.repeats,
    }
    printmed = str(Path(sys.executable).parent / "printmed")
    rx = prescription_with(args.units, work)
    out = work / "make.gcode"
    if "make" not in skip or "cura" not in skip:
        make_command = [printmed, "make", str(rx), "--printer", PRINTER, "-o", str(out)]
        cura_out = work / "cura.gcode"
        cura_command = slicing.cura_command(
            defs,
            plate_stl(args.units, work),
            profile.layer_height_mm,
            cura_out,
            1.0,
            line_mm=profile.line_width_mm,
            bed_mm=profile.build_volume_mm,
        )
        # warm each (page cache, Numba cache), then alternate so load drifts hit all alike
        runs: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.repeats + 1):
            if "make" not in skip:
                for name, tree in trees.items():
                    runs.setdefault(f"printmed_make_{name}", []).append(run(make_command, tree))
            if "cura" not in skip:
                runs.setdefault("cura", []).append(run(cura_command))
        row: dict[str, Any] = {"tablets": args.units, "layer_mm": profile.layer_height_mm}
        for name, measured in runs.items():
            row[f"{name}_wall_s"] = [w for w, _ in measured[1:]]
            row[f"{name}_cpu_s"] = [c for _, c in measured[1:]]
        if "cura" in runs:
            for name in trees:
                if f"printmed_make_{name}_wall_s" in row:
                    for kind in ("wall", "cpu"):
                        row[f"ratio_{name}_to_cura_{kind}"] = median(
                            row[f"printmed_make_{name}_{kind}_s"]
                        ) / median(row[f"cura_{kind}_s"])
            if "make" not in skip:  # the same tablets: the volumes each file extrudes
                row["printmed_volume_mm3"] = slicing.gcode_volume_mm3(out)
                row["cura_volume_mm3"] = slicing.gcode_volume_mm3(cura_out)
        result["make_vs_cura"] = row
        print(json.dumps(summary(row)), flush=True)
    if "batch" not in skip:
        result["make_batch"] = {}
        for name, tree in trees.items():
            batch_rows = []
            for units in (int(u) for u in args.in_process.split(",")):
                figures = child("--batch-child", [str(units), str(args.repeats)], tree)
                figures["ms_per_tablet"] = 1000 * median(figures["wall_s"]) / figures["tablets"]
                figures["cpu_ms_per_tablet"] = 1000 * median(figures["cpu_s"]) / figures["tablets"]
                batch_rows.append(figures)
                print(json.dumps({"tree": name, **summary(figures)}), flush=True)
            tablets = np.array([float(r["tablets"]) for r in batch_rows])
            fit: dict[str, float] = {}
            for kind in ("wall", "cpu"):
                seconds = np.array([median(r[f"{kind}_s"]) for r in batch_rows])
                slope, intercept = np.polyfit(tablets, seconds, 1)
                fit[f"{kind}_ms_per_tablet"] = 1000 * slope
                fit[f"{kind}_fixed_ms"] = 1000 * intercept
                fit[f"{kind}_max_relative_residual"] = float(
                    np.max(np.abs(seconds - (slope * tablets + intercept)) / seconds)
                )
            result["make_batch"][name] = {"runs": batch_rows, "linear_fit": fit}
            print(json.dumps({"tree": name, **fit}), flush=True)
    if "plate" not in skip:
        meshes = slicing.make_meshes(work)
        result["mesh_plate"] = []
        for layer in (float(v) for v in args.plate_layers.split(",")):
            plate_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    arguments = [str(meshes["plate"]), str(layer)]
                    plate_runs[name].append(child("--plate-child", arguments, tree))
            for name, found in plate_runs.items():
                plate = {
                    "tree": name,
                    "layer_mm": layer,
                    "triangles": 2_000_000,
                    "wall_s": [r["wall_s"] for r in found],
                    "cpu_s": [r["cpu_s"] for r in found],
                    "peak_rss_mib": [r["peak_rss_mib"] for r in found],
                    "sha256": sorted({r["sha256"] for r in found}),
                }
                result["mesh_plate"].append(plate)
                print(json.dumps(summary(plate)), flush=True)
    result["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """Lists of measurements as their medians, rounded."""
    return {
        k: round(median(v), 4) if isinstance(v, list) and v and isinstance(v[0], float) else v
        for k, v in row.items()
    }


if __name__ == "__main__":
    sys.exit(main())
