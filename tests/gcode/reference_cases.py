"""Plates whose G-code the pure-Python writer and reader of commit 3930256 recorded (SHA-256 of
the text, every figure of the reading), so the array writer and reader are held to them.

`reference/*.json` was made by `python -m tests.gcode.reference_cases` before the rewrite; the
inputs' digest is recorded beside each case, so a slicer change is told apart from a writer one.
Re-recorded once for the prime line (issue 14), with the same command: the bundled plates
gained their prime object (`without_prime` of each is the text recorded before, byte for byte,
tests/test_make_same_output.py), every reading two keys (`object_names`, `prime_volume_mm3`);
every tablet's figures, the seeded solids' and toolpaths' G-code are as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path as FilePath

import numpy as np

from gcode.flow import PartFlow
from gcode.plate import plan_prime
from gcode.profile import MachineProfile, load_profile
from gcode.slice import SlicedPart
from gcode.toolpaths import Layer, Path
from gcode.write import PlacedTablet, PlateHeader, Sequence, write_gcode

REFERENCE = FilePath(__file__).resolve().parent / "reference"
FIXTURES = FilePath(__file__).resolve().parents[2] / "fixtures"
ON = dt.date(2026, 11, 25)  # dosing reads ages against a date: fixed, so the plates are too


def tablets_digest(tablets: list[PlacedTablet]) -> str:
    """SHA-256 of everything the writer is given about the tablets (names, offsets, flows,
    layers, paths), so a changed slicer shows as changed input, not as a changed writer."""
    digest = hashlib.sha256()
    for t in tablets:
        digest.update(repr((t.name, t.offset_xy_mm, t.target_mg, t.part.height_mm)).encode())
        digest.update(np.ascontiguousarray(t.flow.mm3_per_mm, dtype=np.float64).tobytes())
        digest.update(repr((t.flow.correction, t.flow.target_volume_mm3)).encode())
        for layer in t.part.layers:
            digest.update(repr((layer.z_mm, layer.thickness_mm, len(layer.paths))).encode())
            for p in layer.paths:
                digest.update(repr((p.kind, p.closed, p.points.shape)).encode())
                digest.update(np.ascontiguousarray(p.points, dtype=np.float64).tobytes())
    return digest.hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def without_prime(text: str) -> str:
    """`text` with the prime line's lines taken out: its header note, its object (`M486 S<n>`
    to `M486 S-1`) and the E reset after it, and the object count back to the tablets' — the
    text the writer wrote before it primed. Refuses a text whose prime is not so laid."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("; prime (object "):
            i += 1
            continue
        if line.startswith("M486 T") and lines[i + 2 : i + 3] == ["M486 Aprime"]:
            count = int(line.removeprefix("M486 T"))
            assert lines[i + 1] == f"M486 S{count - 1}", lines[i + 1]
            end = lines.index("G92 E0", i)
            assert lines[end - 1] == "M486 S-1", lines[end - 1]
            out.append(f"M486 T{count - 1}")
            i = end + 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


# ------------------------------------------------------------------ the bundled prescriptions


def bundled_plates() -> Iterator[tuple[str, list[PlacedTablet], MachineProfile, PlateHeader]]:
    """Every bundled prescription on every bundled printer of its lot's process, as
    `printmed make` plates it (one plate of the whole supply), writer inputs only."""
    from printmed import catalog
    from printmed.intake import read_prescription
    from printmed.manufacture.batch import design_for
    from printmed.manufacture.plate import PlateItem

    for rx_path in sorted((FIXTURES / "prescriptions").glob("*.json")):
        if rx_path.name.startswith("Observation"):
            continue
        rx = read_prescription(rx_path)
        if rx.schedule is not None:
            # The references were recorded from the old code, which had no schedules: there is
            # no old output to compare a taper's plate with (its G-code and gate are tested in
            # tests/api/test_taper.py instead).
            continue
        lot = catalog.formulation(rx.formulation)
        for profile_path in sorted((FIXTURES / "printers").glob("*.json")):
            profile = catalog.printer_profile(profile_path.stem)
            if profile.process != lot.process:
                continue
            plan = design_for(rx, lot, profile, on=ON)
            items = [PlateItem(plan.design, plan.design.dose_mg)] * plan.design.units_total
            captured = writer_inputs(items, lot, profile)
            yield f"{rx_path.stem} on {profile.id}", *captured


def writer_inputs(items, lot, profile):  # type: ignore[no-untyped-def]
    """What make_plate hands the writer for `items` of `lot` on `profile`: (tablets, profile,
    header), caught on their way in (also used by benchmarks/gcode_io.py)."""
    import printmed.manufacture.plate as plate_module

    seen: dict[str, object] = {}
    real = plate_module.write_gcode

    def keep(tablets, profile, header, sequence="layers", progress=None, prime=None):  # type: ignore[no-untyped-def]
        seen.update(tablets=tablets, profile=profile, header=header)
        return real(tablets, profile, header, sequence=sequence, prime=prime)

    plate_module.write_gcode = keep
    try:
        plate_module.make_plate(items, lot, profile, job_id="reference")
    finally:
        plate_module.write_gcode = real
    return seen["tablets"], seen["profile"], seen["header"]


# ------------------------------------------------------ random toolpaths (no slicer involved)


def _open(points: np.ndarray) -> Path:
    return Path("fill", points, False)


def random_toolpath_plate(seed: int) -> tuple[list[PlacedTablet], str, Sequence]:
    """1 to 3 tablets of 1 to 3 layers of paths whose steps are often below the file's
    resolution (as `test_resolution`'s strategy draws them), from a seeded generator."""
    rng = np.random.default_rng(seed)
    process = "fdm" if rng.random() < 0.5 else "sse"
    sequence: Sequence = "layers" if rng.random() < 0.5 else "parts"
    tablets = []
    for i in range(int(rng.integers(1, 4))):
        layers = []
        per_mm = []
        for k in range(int(rng.integers(1, 4))):
            paths = []
            for j in range(int(rng.integers(1, 5))):
                n = int(rng.integers(1, 9))
                band = rng.integers(0, 3, n)
                steps = np.where(
                    band == 0,
                    rng.uniform(0.0, 0.003, n),
                    np.where(band == 1, rng.uniform(0.003, 0.05, n), rng.uniform(0.05, 1.0, n)),
                )
                angles = rng.uniform(0.0, 2 * np.pi, n)
                start = np.array([20.0 * j, 20.0 * k]) + rng.uniform(0.0, 0.5, 2)
                moves = steps[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
                points = np.vstack([start, start + np.cumsum(moves, axis=0)])
                paths.append(Path("perimeter", points, bool(rng.random() < 0.5)))
            count = len(paths)
            paths.append(_open(np.array([[20.0 * count, 20.0 * k], [20.0 * count + 2, 20.0 * k]])))
            order = rng.permutation(len(paths))
            layers.append(Layer(0.4 * (k + 1), 0.2, 1.0, True, [paths[o] for o in order]))
            per_mm.append(float(rng.uniform(0.03, 0.5)))
        flows = np.array(per_mm)
        volume = sum(
            f * sum(p.length_mm() for p in lay.paths) for f, lay in zip(per_mm, layers, strict=True)
        )
        part = SlicedPart(layers, max(lay.z_mm for lay in layers), 0)
        tablets.append(
            PlacedTablet(f"t{i}", part, (120.0 * i, 0.0), PartFlow(flows, 1.0, volume, volume))
        )
    return tablets, process, sequence


def write_random_toolpath_plate(seed: int, profiles: dict[str, MachineProfile]) -> str:
    tablets, process, sequence = random_toolpath_plate(seed)
    profile = profiles[process]
    if sequence == "parts":
        profile = profile.model_copy(update={"gantry_clearance_mm": 20.0})
    temp = 60.0 if process == "sse" else 200.0
    header = PlateHeader("random", "LOT-R", "test-lot", temp, 0.0, profile.mm3_per_e())
    return write_gcode(tablets, profile, header, sequence)


def shipped_profiles() -> dict[str, MachineProfile]:
    return {"fdm": load_profile("fdm-pharma-04"), "sse": load_profile("sse-syringe-08")}


RANDOM_TOOLPATH_SEEDS = range(300)
RANDOM_SOLID_SEEDS = range(16)


def random_solid_plate(
    seed: int, profiles: dict[str, MachineProfile]
) -> tuple[list[PlacedTablet], MachineProfile, PlateHeader]:
    """A cylinder, box or ring of seeded size, sliced solid on either shipped printer, as
    `print_solid` (tests/gcode/conftest.py) places it."""
    import trimesh

    from gcode.flow import plan_flow
    from gcode.mesh_io import check_mesh
    from gcode.settings import settings_for
    from gcode.slice import slice_part

    rng = np.random.default_rng(1000 + seed)
    kind = ("cylinder", "box", "ring")[seed % 3]
    profile = profiles["fdm" if seed % 2 == 0 else "sse"]
    height = float(rng.uniform(1.0, 6.0))
    if kind == "cylinder":
        mesh = trimesh.creation.cylinder(float(rng.uniform(1.5, 8.0)), height, sections=96)
    elif kind == "box":
        mesh = trimesh.creation.box((*rng.uniform(2.0, 15.0, 2), height))
    else:
        inner = float(rng.uniform(1.0, 5.0))
        mesh = trimesh.creation.annulus(
            inner, inner + float(rng.uniform(2.0, 5.0)), height, sections=96
        )
    config = settings_for(profile)
    part = check_mesh(mesh, name="part0")
    sliced = slice_part(part.triangles, config)
    flow = plan_flow(sliced, config.line_width_mm, part.volume_mm3, "part0")
    tablets = [PlacedTablet("part0", sliced, (40.0, 50.0), flow, None)]
    temp = 60.0 if profile.process == "sse" else 200.0
    header = PlateHeader("test-job", "LOT-T", "test-lot", temp, 0.0, profile.mm3_per_e())
    return tablets, profile, header


def record() -> None:
    """Write reference/*.json with the code as it is now (run before changing the writer)."""
    from gcode.analyze import analyze

    REFERENCE.mkdir(exist_ok=True)
    bundled = {}
    for name, tablets, profile, header in bundled_plates():
        text = write_gcode(tablets, profile, header, prime=plan_prime(profile))
        bundled[name] = {
            "input_sha256": tablets_digest(tablets),
            "gcode_sha256": sha256(text),
            "mm3_per_e": header.mm3_per_e,
            "reading": analyze(text, header.mm3_per_e).to_dict(),
        }
        print(name, bundled[name]["gcode_sha256"][:12], file=sys.stderr)
    (REFERENCE / "bundled.json").write_text(json.dumps(bundled, indent=1) + "\n")
    profiles = shipped_profiles()
    solids = {}
    for seed in RANDOM_SOLID_SEEDS:
        tablets, profile, header = random_solid_plate(seed, profiles)
        text = write_gcode(tablets, profile, header)
        solids[str(seed)] = {
            "input_sha256": tablets_digest(tablets),
            "gcode_sha256": sha256(text),
            "mm3_per_e": header.mm3_per_e,
            "reading": analyze(text, header.mm3_per_e).to_dict(),
        }
    (REFERENCE / "random_solids.json").write_text(json.dumps(solids, indent=1) + "\n")
    randoms = {
        str(s): sha256(write_random_toolpath_plate(s, profiles)) for s in RANDOM_TOOLPATH_SEEDS
    }
    (REFERENCE / "random_toolpaths.json").write_text(json.dumps(randoms, indent=1) + "\n")


if __name__ == "__main__":
    record()
