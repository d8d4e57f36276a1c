"""Slicing speed and extrusion accuracy: printmed against CuraEngine, PrusaSlicer and trimesh.

Makes three meshes (a 10 × 4 mm tablet of ~20k triangles, a plate of 100 of them in one STL, a
~1M-triangle torus 20 mm across), slices each at 0.2 and 0.1 mm (0.4 mm nozzle, 2 perimeters,
20 % rectilinear) and reports medians, ratios to CuraEngine, cold start, and each G-code's
extruded volume against the mesh volume. Peers: bash benchmarks/install_peers.sh.

    python benchmarks/slicing.py [--repeats 3] [--peer-repeats-plate 1] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILAMENT_MM = 1.75
NOZZLE_MM = 0.4
LINE_MM = 0.4
BED_MM = (250.0, 250.0, 200.0)
MM3_PER_E = np.pi * FILAMENT_MM**2 / 4


def make_meshes(folder: Path) -> dict[str, Path]:
    """The three benchmark meshes as binary STL files in `folder`."""
    import trimesh

    tablet = trimesh.creation.cylinder(radius=5.0, height=4.0, sections=5000)
    tablet.apply_translation((0, 0, 2.0))
    plate = trimesh.util.concatenate(
        [
            tablet.copy().apply_translation((14.0 * (i % 10), 14.0 * (i // 10), 0))
            for i in range(100)
        ]
    )
    torus = trimesh.creation.torus(7.5, 2.5, major_sections=1000, minor_sections=500)
    paths = {}
    for name, mesh in (("tablet", tablet), ("plate", plate), ("torus", torus)):
        paths[name] = folder / f"{name}.stl"
        mesh.export(paths[name])
    return paths


def printmed_slice(mesh_path: Path, layer_mm: float, out: Path, density: float = 0.2) -> None:
    """Load, check, slice, plan flow and write G-code with printmed, as the product does."""
    from gcode.flow import plan_flow
    from gcode.mesh_io import read_mesh_file
    from gcode.profile import load_profile
    from gcode.settings import settings_for
    from gcode.slice import slice_part
    from gcode.write import PlacedTablet, PlateHeader, write_gcode

    profile = load_profile("fdm-pharma-04").model_copy(
        update={"build_volume_mm": BED_MM, "line_width_mm": LINE_MM, "nozzle_mm": NOZZLE_MM}
    )
    settings = settings_for(
        profile,
        layer_height_mm=layer_mm,
        first_layer_height_mm=layer_mm,
        perimeters=2,
        fill_density=density,
        fill_pattern="rectilinear",
    )
    part = read_mesh_file(mesh_path, max_bytes=1 << 30)
    sliced = slice_part(part.triangles, settings)
    flow = plan_flow(sliced, settings.line_width_mm, part.volume_mm3 if density >= 1 else None)
    centre = (BED_MM[0] / 2, BED_MM[1] / 2)
    job = PlateHeader("benchmark", "none", "none", 200.0, 60.0, MM3_PER_E)
    text = write_gcode([PlacedTablet(mesh_path.stem, sliced, centre, flow)], profile, job)
    out.write_text(text)


def printmed_cut_only(mesh: Any, layer_mm: float) -> Callable[[], object]:
    from gcode.cut import cut_mesh

    triangles = np.ascontiguousarray(mesh.triangles, dtype=np.float64)
    z0, z1 = mesh.bounds[:, 2]
    planes = np.arange(z0 + layer_mm / 2, z1, layer_mm)
    return lambda: cut_mesh(triangles, planes)


def trimesh_cut_only(mesh: Any, layer_mm: float) -> Callable[[], object]:
    z0, z1 = mesh.bounds[:, 2]
    heights = np.arange(z0 + layer_mm / 2, z1, layer_mm)
    return lambda: mesh.section_multiplane([0, 0, 0], [0, 0, 1], heights)


def cura_command(
    defs: Path,
    mesh: Path,
    layer_mm: float,
    out: Path,
    density: float,
    line_mm: float = LINE_MM,
    bed_mm: tuple[float, float, float] = BED_MM,
) -> list[str]:
    """CuraEngine 4.13's command line with every derived setting passed (it evaluates none)."""
    line_distance = line_mm / density if density > 0 else 0
    settings = {
        "machine_width": bed_mm[0],
        "machine_depth": bed_mm[1],
        "machine_height": bed_mm[2],
        "machine_nozzle_size": NOZZLE_MM,
        "machine_center_is_zero": "false",
        "center_object": "true",
        "adhesion_type": "none",
        "layer_height": layer_mm,
        "layer_height_0": layer_mm,
        "line_width": line_mm,
        "wall_line_width": line_mm,
        "wall_line_width_0": line_mm,
        "wall_line_width_x": line_mm,
        "skin_line_width": line_mm,
        "infill_line_width": line_mm,
        "initial_layer_line_width_factor": 100,
        "wall_line_count": 2,
        "infill_sparse_density": density * 100,
        "infill_line_distance": line_distance,
        "infill_pattern": "lines",
        "top_layers": 3,
        "bottom_layers": 3,
        "top_bottom_thickness": 3 * layer_mm,
        "top_thickness": 3 * layer_mm,
        "bottom_thickness": 3 * layer_mm,
        "support_enable": "false",
        "retraction_enable": "true",
        "material_diameter": FILAMENT_MM,
        "material_flow": 100,
    }
    command = ["CuraEngine", "slice", "-j", str(defs / "fdmprinter.def.json")]
    for key, value in settings.items():
        command += ["-s", f"{key}={value}"]
    command += [
        "-e0",
        "-s",
        f"material_diameter={FILAMENT_MM}",
        "-s",
        f"machine_nozzle_size={NOZZLE_MM}",
    ]
    command += ["-l", str(mesh), "-o", str(out)]
    return command


def prusa_command(mesh: Path, layer_mm: float, out: Path, density: float) -> list[str]:
    return [
        "prusa-slicer",
        "--export-gcode",
        "--layer-height",
        str(layer_mm),
        "--first-layer-height",
        str(layer_mm),
        "--nozzle-diameter",
        str(NOZZLE_MM),
        "--extrusion-width",
        str(LINE_MM),
        "--perimeters",
        "2",
        "--fill-density",
        f"{density * 100:g}%",
        "--fill-pattern",
        "rectilinear",
        "--top-solid-layers",
        "3",
        "--bottom-solid-layers",
        "3",
        "--skirts",
        "0",
        "--solid-infill-below-area",
        "0",
        "--filament-diameter",
        str(FILAMENT_MM),
        "--bed-shape",
        f"0x0,{BED_MM[0]:g}x0,{BED_MM[0]:g}x{BED_MM[1]:g},0x{BED_MM[1]:g}",
        "--center",
        f"{BED_MM[0] / 2:g},{BED_MM[1] / 2:g}",
        "--output",
        str(out),
        str(mesh),
    ]


CPU_SECONDS: dict[str, list[float]] = {}


def run_command(command: list[str], label: str = "") -> float:
    """Wall seconds of a child process; its CPU seconds (user + sys) go to CPU_SECONDS[label]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_SECONDS.setdefault(label, []).append(cpu)
    return elapsed


def timed(function: Callable[[], object], repeats: int, label: str = "") -> list[float]:
    """Wall seconds per run; CPU seconds of this process go to CPU_SECONDS[label]."""
    times = []
    for _ in range(repeats):
        cpu = time.process_time()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
        CPU_SECONDS.setdefault(label, []).append(time.process_time() - cpu)
    return times


def take_cpu(row: dict[str, object], label: str) -> None:
    row[f"{label}_cpu_s"] = CPU_SECONDS.pop(label, [])


def gcode_volume_mm3(path: Path) -> float:
    from gcode.analyze import analyze

    reading = analyze(path.read_text(errors="replace"), MM3_PER_E)
    return reading.unlabelled_volume_mm3 + sum(o.volume_mm3 for o in reading.objects.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-repeats-plate", type=int, default=1)
    parser.add_argument("--meshes", default="torus,plate,tablet")
    parser.add_argument("--layers", default="0.2,0.1")
    parser.add_argument("--peers", default="cura,prusa,trimesh")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "slicing.json"
    )
    parser.add_argument("--one", nargs=3, metavar=("MESH", "LAYER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        printmed_slice(Path(args.one[0]), float(args.one[1]), Path(args.one[2]))
        return 0
    defs = Path(os.environ.get("PRINTMED_PEERS_DIR", Path.home() / ".cache" / "printmed-peers"))
    peers = set(args.peers.split(","))
    if "cura" in peers and not (
        shutil.which("CuraEngine") and (defs / "fdmprinter.def.json").is_file()
    ):
        sys.exit("CuraEngine or its definitions are missing: bash benchmarks/install_peers.sh")
    if "prusa" in peers and not shutil.which("prusa-slicer"):
        sys.exit("prusa-slicer is missing: bash benchmarks/install_peers.sh")
    import trimesh

    work = Path(tempfile.mkdtemp(prefix="printmed-bench-"))
    paths = make_meshes(work)
    rows: list[dict[str, object]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.meshes.split(","):
        mesh = trimesh.load(paths[name], force="mesh")
        for layer in (float(v) for v in args.layers.split(",")):
            row: dict[str, object] = {
                "mesh": name,
                "triangles": len(mesh.faces),
                "layer_mm": layer,
                "mesh_volume_mm3": float(mesh.volume),
            }
            out = work / f"printmed-{name}-{layer}.gcode"
            printmed_slice(paths[name], layer, out)  # compile / warm the Numba cache
            run = partial(printmed_slice, paths[name], layer, out)
            row["printmed_s"] = timed(run, args.repeats, "printmed")
            take_cpu(row, "printmed")
            row["printmed_volume_mm3"] = gcode_volume_mm3(out)
            one = [sys.executable, __file__, "--one", str(paths[name]), str(layer), str(out)]
            row["printmed_cold_s"] = [
                run_command(one, "printmed_cold") for _ in range(args.repeats)
            ]
            take_cpu(row, "printmed_cold")
            row["printmed_cut_s"] = timed(printmed_cut_only(mesh, layer), args.repeats)
            if "trimesh" in peers:
                row["trimesh_cut_s"] = timed(trimesh_cut_only(mesh, layer), args.repeats)
            peer_repeats = args.peer_repeats_plate if name == "plate" else args.repeats
            if "cura" in peers:
                cura_out = work / f"cura-{name}-{layer}.gcode"
                command = cura_command(defs, paths[name], layer, cura_out, 0.2)
                row["cura_s"] = [run_command(command, "cura") for _ in range(peer_repeats)]
                take_cpu(row, "cura")
                row["cura_volume_mm3"] = gcode_volume_mm3(cura_out)
            if "prusa" in peers:
                prusa_out = work / f"prusa-{name}-{layer}.gcode"
                command = prusa_command(paths[name], layer, prusa_out, 0.2)
                row["prusa_s"] = [run_command(command, "prusa") for _ in range(peer_repeats)]
                take_cpu(row, "prusa")
                row["prusa_volume_mm3"] = gcode_volume_mm3(prusa_out)
            rows.append(row)
            print(json.dumps(summarise(row)), flush=True)
            args.out.write_text(json.dumps(rows, indent=1))
    if "tablet" in args.meshes:
        rows.append(solid_volumes(paths["tablet"], work, defs, peers))
        args.out.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def solid_volumes(tablet: Path, work: Path, defs: Path, peers: set[str]) -> dict[str, object]:
    """Each slicer's extruded volume for the tablet printed 100 % solid, against the mesh."""
    import trimesh

    mesh_volume = float(trimesh.load(tablet, force="mesh").volume)
    row: dict[str, object] = {
        "mesh": "tablet solid",
        "layer_mm": 0.2,
        "mesh_volume_mm3": mesh_volume,
    }
    out = work / "printmed-solid.gcode"
    printmed_slice(tablet, 0.2, out, density=1.0)
    row["printmed_volume_mm3"] = gcode_volume_mm3(out)
    if "cura" in peers:
        out = work / "cura-solid.gcode"
        run_command(cura_command(defs, tablet, 0.2, out, 1.0))
        row["cura_volume_mm3"] = gcode_volume_mm3(out)
    if "prusa" in peers:
        out = work / "prusa-solid.gcode"
        run_command(prusa_command(tablet, 0.2, out, 1.0))
        row["prusa_volume_mm3"] = gcode_volume_mm3(out)
    return row


def summarise(row: dict[str, object]) -> dict[str, object]:
    return {
        k: (round(statistics.median(v), 3) if isinstance(v, list) else v) for k, v in row.items()
    }


def table(rows: list[dict[str, object]]) -> str:
    """Markdown: medians of wall and CPU seconds, ratios to printmed, volumes against the mesh."""
    lines = [
        "| mesh | layer mm | printmed warm s (CPU) | printmed cold s (CPU) | CuraEngine s (CPU) "
        "| PrusaSlicer s (CPU) | printmed cut s | trimesh cut s | Cura / printmed wall (CPU) "
        "| volume / mesh: printmed, Cura, Prusa |",
        "|" + "---|" * 10,
    ]
    for row in rows:
        s = summarise(row)

        def cell(key: str, s: dict[str, object] = s) -> str:
            if key not in s:
                return "–"
            cpu = s.get(key.removesuffix("_s") + "_cpu_s")
            return f"{s[key]:.2f}" + (f" ({cpu:.2f})" if cpu is not None else "")

        def ratio(s: dict[str, object] = s) -> str:
            if "cura_s" not in s or "printmed_s" not in s:
                return "–"
            wall = _f(s["cura_s"]) / _f(s["printmed_s"])
            if "cura_cpu_s" in s and "printmed_cpu_s" in s:
                return f"{wall:.1f}× ({_f(s['cura_cpu_s']) / _f(s['printmed_cpu_s']):.1f}×)"
            return f"{wall:.1f}×"

        def volume(key: str, s: dict[str, object] = s) -> str:
            return f"{_f(s[key]) / _f(s['mesh_volume_mm3']):.3f}" if key in s else "–"

        lines.append(
            f"| {s['mesh']} | {s['layer_mm']} | {cell('printmed_s')} | {cell('printmed_cold_s')} "
            f"| {cell('cura_s')} | {cell('prusa_s')} | {cell('printmed_cut_s')} "
            f"| {cell('trimesh_cut_s')} | {ratio()} | {volume('printmed_volume_mm3')}, "
            f"{volume('cura_volume_mm3')}, {volume('prusa_volume_mm3')} |"
        )
    return "\n".join(lines)


def _f(value: object) -> float:
    return float(value)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
