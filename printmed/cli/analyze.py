"""`printmed analyze out.gcode --printer P`: what each labelled tablet in a G-code file extrudes.

The volume of one unit of E comes from the printer profile (and the lot's filament), never
from the file's own header.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gcode.analyze import analyze
from printmed import catalog
from printmed.cli.make import stage_progress
from printmed.cli.output import print_json
from printmed.errors import InputError

MAX_GCODE_BYTES = 512 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="read G-code back: volume per tablet")
    parser.add_argument("gcode", type=Path, help="G-code file")
    parser.add_argument("--printer", required=True, help="printer profile id (sets mm³ per E)")
    parser.add_argument(
        "--formulation", help="lot id: its filament diameter (FDM) and drug content (mg per tablet)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.gcode
    if not path.is_file():
        raise InputError("gcode", str(path), "does not exist or is not a file")
    if path.stat().st_size > MAX_GCODE_BYTES:
        raise InputError("gcode", str(path), f"is larger than {MAX_GCODE_BYTES} bytes")
    profile = catalog.printer_profile(args.printer)
    lot = catalog.formulation(args.formulation) if args.formulation else None
    filament = lot.filament_diameter_mm if lot is not None else None
    mm3_per_e = profile.mm3_per_e(filament)
    text = path.read_text(encoding="utf-8", errors="replace")
    with stage_progress() as report:
        reading = analyze(text, mm3_per_e, progress=lambda d, t: report("read", d, t))
    content = lot.drug_mg_per_mm3 if lot is not None else None
    data = reading.to_dict()
    objects = [figures.to_dict() for _, figures in sorted(reading.objects.items())]
    primes = set(reading.prime_labels)  # a prime line is material used, no tablet's dose
    for item in objects:
        label = item["label"]
        if label in reading.object_names:
            item["name"] = reading.object_names[label]
        if content is not None and label not in primes:
            item["gcode_mg"] = float(item["volume_mm3"]) * content  # type: ignore[arg-type]
    data["objects"] = objects
    if args.json:
        print_json({"gcode": str(path), "printer": profile.id, **data})
        return 0
    print(
        f"{path}: {reading.lines} lines, {len(reading.objects)} labelled objects "
        f"(declared {reading.declared_objects}), print time ~{reading.print_time_s / 60:.1f} min"
    )
    print(f"mm3 per unit of E: {mm3_per_e:.6f} (from {profile.id})")
    for item in objects:
        dose = f", {item['gcode_mg']:.4f} mg" if "gcode_mg" in item else ""
        named = f" ({item['name']})" if "name" in item else ""
        print(
            f"  object {item['label']}{named}: {item['volume_mm3']:.4f} mm3{dose}, "
            f"{item['layers']} layers, max nozzle {item['max_nozzle_temp_c']:g} C"
        )
    print(
        f"unlabelled volume: {reading.unlabelled_volume_mm3:.6f} mm3; "
        f"retractions {reading.retractions}; G92 resets {reading.g92_resets}"
    )
    for problem in reading.malformed + reading.unsupported:
        print(f"  line {problem.line}: {problem.reason}: {problem.text.strip()}")
    return 0
