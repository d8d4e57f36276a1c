"""`printmed preview RX.json|part.stl --printer P -o DIR`: PNGs of the tablet and of its layers.

The tablet as a shaded solid, and chosen layers' toolpaths: perimeters, fill and travel in
different colours (matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from gcode.cut import FloatArray
from gcode.mesh_io import PartMesh, check_mesh, read_mesh_file
from gcode.settings import settings_for
from gcode.slice import slice_part
from gcode.toolpaths import Layer
from gcode.write import ordered_paths
from printmed import catalog
from printmed.errors import InputError
from printmed.tablet import plan_tablet

COLOURS = {"perimeter": "#1f5fbf", "fill": "#e07b00", "travel": "#9a9a9a"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preview", help="PNGs of a tablet and its layers' toolpaths")
    parser.add_argument("source", type=Path, help="prescription (JSON/FHIR) or mesh (.stl/.3mf)")
    parser.add_argument("--printer", required=True, help="printer profile id")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument(
        "--layers", default="0,mid,-1", help="layer numbers, 'mid' or negative from the top"
    )
    parser.set_defaults(run=run)


def render_tablet_png(part: PartMesh, path: Path) -> None:
    """A shaded 3D view of the part's triangles."""
    figure = plt.figure(figsize=(4, 4), dpi=120)
    axes = figure.add_subplot(projection="3d")
    triangles = part.triangles
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    light = np.clip(
        (normals / np.where(lengths > 0, lengths, 1)) @ np.array([0.3, -0.4, 0.85]), 0, 1
    )
    colours = plt.cm.Blues(0.35 + 0.55 * light)
    axes.add_collection3d(Poly3DCollection(triangles, facecolors=colours, linewidths=0))
    half = max(part.extents_mm) / 2
    axes.set(xlim=(-half, half), ylim=(-half, half), zlim=(0, 2 * half))
    axes.set_box_aspect((1, 1, 1))
    axes.set_axis_off()
    axes.set_title(f"{part.name}: {part.volume_mm3:.1f} mm³", fontsize=9)
    figure.savefig(path)
    plt.close(figure)


def render_layer_png(layer: Layer, index: int, path: Path) -> None:
    """One layer's toolpaths in print order: perimeter, fill and travel lines."""
    segments: dict[str, list[FloatArray]] = {"perimeter": [], "fill": [], "travel": []}
    x = y = 0.0
    first = True
    origin = np.zeros(2)
    for source, points in zip(layer.paths, ordered_paths(layer.paths, x, y, origin), strict=True):
        if not first:
            segments["travel"].append(np.array([[x, y], points[0]]))
        segments[source.kind].append(points)
        x, y = float(points[-1, 0]), float(points[-1, 1])
        first = False
    figure, axes = plt.subplots(figsize=(5, 5), dpi=120)
    for kind, lines in segments.items():
        style = "dashed" if kind == "travel" else "solid"
        width = 0.6 if kind == "travel" else 1.2
        axes.add_collection(
            LineCollection(
                lines, colors=COLOURS[kind], linewidths=width, linestyles=style, label=kind
            )
        )
    axes.autoscale()
    axes.set_aspect("equal")
    axes.set_xlabel("x (mm)")
    axes.set_ylabel("y (mm)")
    axes.set_title(
        f"layer {index}: z {layer.z_mm:.2f} mm, area {layer.area_mm2:.2f} mm²", fontsize=9
    )
    axes.legend(loc="upper right", fontsize=7)
    figure.savefig(path)
    plt.close(figure)


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
    profile = catalog.printer_profile(args.printer)
    if args.source.suffix.lower() in (".stl", ".3mf"):
        part = read_mesh_file(args.source, max_bytes=int(profile.max_file_mb * 1024 * 1024))
    else:
        rx = catalog.read_prescription(args.source)
        plan = plan_tablet(rx, profile.id)
        part = check_mesh(plan.design.mesh, name=f"{rx.id} tablet")
    if not args.output.is_dir():
        args.output.mkdir(parents=True, exist_ok=True)
    sliced = slice_part(part.triangles, settings_for(profile))
    written = [args.output / "tablet.png"]
    render_tablet_png(part, written[0])
    for number in _layer_numbers(args.layers, len(sliced.layers)):
        target = args.output / f"layer-{number:03d}.png"
        render_layer_png(sliced.layers[number], number, target)
        written.append(target)
    for path in written:
        print(path)
    return 0
