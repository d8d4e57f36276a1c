"""`printmed preview RX.json|part.stl --printer P -o DIR [--mesh star]`: PNGs of the tablet and
of its layers.

The tablet as a shaded solid, and chosen layers' toolpaths: perimeters, fill and travel in
different colours (printmed.pictures renders them; no display needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from printmed import catalog
from printmed.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preview", help="PNGs of a tablet and its layers' toolpaths")
    parser.add_argument("source", type=Path, help="prescription (JSON/FHIR) or mesh (.stl/.3mf)")
    parser.add_argument("--printer", required=True, help="printer profile id")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument(
        "--layers", default="0,mid,-1", help="layer numbers, 'mid' or negative from the top"
    )
    parser.add_argument(
        "--mesh",
        metavar="FILE|NAME",
        help="the prescription's tablet from a mesh: a bundled shape (star, heart, …) or a file",
    )
    parser.set_defaults(run=run)


def _layer_numbers(spec: str, count: int) -> list[int]:
    chosen = []
    for word in spec.split(","):
        word = word.strip()
        if word == "mid":
            chosen.append(count // 2)
            continue
        try:
            number = int(word)
        except ValueError:
            raise InputError("--layers", word, "is not a layer number or 'mid'") from None
        if not -count <= number < count:
            raise InputError("--layers", number, f"is outside the part's {count} layers")
        chosen.append(number % count)
    return sorted(set(chosen))


def run(args: argparse.Namespace) -> int:
    # Imported when run, so that `printmed preview --help` does not load the slicer and Matplotlib.
    from gcode.mesh_io import check_triangles, read_mesh_file
    from gcode.settings import settings_for
    from gcode.slice import slice_part
    from printmed import pictures
    from printmed.cli.design import with_mesh
    from printmed.intake import read_prescription
    from printmed.manufacture import plan_tablet

    profile = catalog.printer_profile(args.printer)
    if args.source.suffix.lower() in (".stl", ".3mf"):
        if args.mesh is not None:
            raise InputError("--mesh", args.mesh, "shapes a prescription's tablet, not a mesh file")
        part = read_mesh_file(args.source, max_bytes=int(profile.max_file_mb * 1024 * 1024))
    else:
        rx = read_prescription(args.source)
        if args.mesh is not None:
            rx = with_mesh(rx, args.mesh)
        design = plan_tablet(rx, profile.id).design
        part = check_triangles(design.triangles, name=f"{rx.id} {design.shape}")
    if not args.output.is_dir():
        args.output.mkdir(parents=True, exist_ok=True)
    sliced = slice_part(part.triangles, settings_for(profile))
    written = [args.output / "tablet.png"]
    written[0].write_bytes(pictures.tablet_png(part))
    for number in _layer_numbers(args.layers, len(sliced.layers)):
        target = args.output / f"layer-{number:03d}.png"
        target.write_bytes(pictures.sliced_layer_png(sliced.layers[number], number))
        written.append(target)
    for path in written:
        print(path)
    return 0
