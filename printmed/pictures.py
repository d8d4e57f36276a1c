"""Pictures of tablets and toolpaths as PNG bytes, for the pages and `printmed preview` alike.

The designed tablet as a shaded solid; a sliced layer's planned toolpaths; and a layer as the
stored G-code draws it, read by the independent reader (gcode.analyze), so it shows what will be
printed. matplotlib's object API (no pyplot state): safe in the service's threads.
"""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from gcode.analyze import analyze
from gcode.cut import FloatArray
from gcode.mesh_io import PartMesh
from gcode.toolpaths import Layer
from gcode.write import ordered_paths

DPI = 120
JOIN_TOLERANCE_MM = 1e-3
INK = "#17212b"
PERIMETER = "#0b5563"
FILL = "#e08a00"
TRAVEL = "#b7c0c9"
COLOURS = {"perimeter": "#1f5fbf", "fill": "#e07b00", "travel": "#9a9a9a"}

# (x0, y0, x1, y1) of one extruding move, mm
Segment = tuple[float, float, float, float]


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def tablet_png(part: PartMesh) -> bytes:
    """A shaded 3D view of the part's triangles (480 × 480 px)."""
    figure = Figure(figsize=(4, 4))
    axes = figure.add_subplot(projection="3d")
    triangles = part.triangles
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    light = np.clip(
        (normals / np.where(lengths > 0, lengths, 1)) @ np.array([0.3, -0.4, 0.85]), 0, 1
    )
    colours = matplotlib.colormaps["Blues"](0.35 + 0.55 * light)
    axes.add_collection3d(Poly3DCollection(triangles, facecolors=colours, linewidths=0))
    half = max(part.extents_mm) / 2
    axes.set(xlim=(-half, half), ylim=(-half, half), zlim=(0, 2 * half))
    axes.set_box_aspect((1, 1, 1))
    axes.set_axis_off()
    axes.set_title(f"{part.name}: {part.volume_mm3:.1f} mm³", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def sliced_layer_png(layer: Layer, index: int) -> bytes:
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
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
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
    # below the drawing, so that it hides no part of the tablet
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=7, frameon=False)
    figure.subplots_adjust(bottom=0.16)
    return png(figure)


def gcode_layers(text: str, mm3_per_e: float) -> list[tuple[float, list[Segment]]]:
    """Tablet 0's extruding moves grouped by layer height (z, mm), lowest first."""
    reading = analyze(text, mm3_per_e, keep_segments=True)
    layers: dict[float, list[Segment]] = {}
    for label, x0, y0, x1, y1, z, _ in reading.segments:
        if label == 0:
            layers.setdefault(round(z, 4), []).append((x0, y0, x1, y1))
    return sorted(layers.items())


def runs_of(segments: list[Segment]) -> list[list[Segment]]:
    """Consecutive moves that join end to start, in print order."""
    runs: list[list[Segment]] = []
    for segment in segments:
        if runs and math.dist(runs[-1][-1][2:], segment[:2]) <= JOIN_TOLERANCE_MM:
            runs[-1].append(segment)
        else:
            runs.append([segment])
    return runs


def gcode_layer_png(segments: list[Segment], title: str) -> bytes:
    """One layer's toolpaths (384 × 384 px): perimeters, fill and the travel between them."""
    figure = Figure(figsize=(3.2, 3.2))
    axes = figure.add_subplot()
    runs = runs_of(segments)
    for previous, run in zip([None, *runs[:-1]], runs, strict=True):
        closed = len(run) > 2 and math.dist(run[0][:2], run[-1][2:]) <= JOIN_TOLERANCE_MM
        xs = [run[0][0], *(s[2] for s in run)]
        ys = [run[0][1], *(s[3] for s in run)]
        axes.plot(
            xs,
            ys,
            color=PERIMETER if closed else FILL,
            linewidth=1.6 if closed else 1.0,
            solid_capstyle="round",
        )
        if previous is not None:
            axes.plot(
                [previous[-1][2], run[0][0]],
                [previous[-1][3], run[0][1]],
                color=TRAVEL,
                linewidth=0.6,
                linestyle=(0, (2, 2)),
            )
    axes.set_aspect("equal")
    axes.margins(0.08)
    axes.set_title(title, fontsize=9, color=INK)
    axes.tick_params(labelsize=7, colors=INK)
    for spine in axes.spines.values():
        spine.set_color("#d5dbe1")
    axes.plot([], [], color=PERIMETER, label="perimeter")
    axes.plot([], [], color=FILL, label="fill")
    axes.plot([], [], color=TRAVEL, linestyle=(0, (2, 2)), label="travel")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3, fontsize=7, frameon=False)
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.16, top=0.91)
    return png(figure)


def message_png(text: str) -> bytes:
    figure = Figure(figsize=(4.8, 1.2))
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9, color="#a2261d")
    return png(figure)
