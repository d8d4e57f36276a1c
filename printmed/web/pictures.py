"""Pictures of a batch for the review page: the tablet as designed (the slicer's preview), and
one layer of tablet 1's toolpaths as the stored G-code draws them (closed loops = perimeters,
open runs = fill, dashed = travel); PNGs made on request and kept in a small cache.

The layer picture comes from the independent reader (gcode.analyze), so it shows what will be
printed; the tablet is re-planned from the recorded prescription and must match its volume.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from matplotlib.figure import Figure

from dosing.prescription import parse_prescription
from gcode.analyze import analyze
from gcode.mesh_io import check_mesh
from printmed.auth import store_of
from printmed.cli.preview import render_tablet_png
from printmed.store.models import GcodeProgram
from printmed.tablet import plan_tablet
from printmed.web.batch_view import BatchView, load_batch
from printmed.web.session import PageRoute, PageUser

router = APIRouter(route_class=PageRoute, include_in_schema=False)

JOIN_TOLERANCE_MM = 1e-3
VOLUME_MATCH = 1e-6  # relative: the re-planned tablet must be the recorded one
CACHE_ENTRIES = 64
DPI = 120
INK = "#17212b"
PERIMETER = "#0b5563"
FILL = "#e08a00"
TRAVEL = "#b7c0c9"

# (x0, y0, x1, y1) of one extruding move, mm
Segment = tuple[float, float, float, float]


class PictureCache:
    """PNG bytes by key, the least recently used dropped; rendering serialised by a lock."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self.images: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, ...], make: Callable[[], bytes]) -> bytes:
        with self.lock:
            if key in self.images:
                self.images.move_to_end(key)
                return self.images[key]
            image = make()
            self.images[key] = image
            if len(self.images) > self.entries:
                self.images.popitem(last=False)
            return image


_cache = PictureCache()
# tablet 0's layers of the last few G-code programs read (used under the cache's lock)
_layers: OrderedDict[str, list[tuple[float, list[Segment]]]] = OrderedDict()
LAYER_READINGS = 4


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def tablet_png(b: BatchView) -> bytes:
    """The designed tablet in 3D (the slicer's preview), re-planned from the record."""
    rx = parse_prescription(b.rx)
    made_on = dt.datetime.fromisoformat(b.created_at).date()
    design = plan_tablet(rx, b.profile_id, on=made_on).design
    recorded = float(b.design["volume_mm3"])
    if abs(design.volume_mm3 - recorded) > VOLUME_MATCH * recorded:
        return _message_png(
            f"the tablet cannot be redrawn: {design.volume_mm3:.3f} mm³ is not "
            f"the recorded {recorded:.3f} mm³"
        )
    part = check_mesh(design.mesh, name=f"{design.shape} tablet")
    with tempfile.TemporaryDirectory(prefix="printmed-tablet-") as folder:
        path = Path(folder) / "tablet.png"
        render_tablet_png(part, path)
        return path.read_bytes()


def tablet_layers(text: str, mm3_per_e: float) -> list[tuple[float, list[Segment]]]:
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


def layer_png(segments: list[Segment], title: str) -> bytes:
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
    return _png(figure)


def _message_png(text: str) -> bytes:
    figure = Figure(figsize=(4.8, 1.2))
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9, color="#a2261d")
    return _png(figure)


def _image(content: bytes) -> Response:
    return Response(
        content, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get("/batches/{batch_number}/tablet.png")
def tablet_picture(request: Request, batch_number: str, user: PageUser) -> Response:
    with store_of(request).session() as session:
        b = load_batch(session, batch_number)
    key = ("tablet", batch_number, str(b.gcode_sha256))
    return _image(_cache.get(key, lambda: tablet_png(b)))


@router.get("/batches/{batch_number}/layers/{layer}.png")
def layer_picture(request: Request, batch_number: str, layer: int, user: PageUser) -> Response:
    with store_of(request).session() as session:
        b = load_batch(session, batch_number)
        program = session.get(GcodeProgram, b.gcode_sha256) if b.gcode_sha256 else None
        text = program.text if program is not None else ""
    if not text:
        return Response("this batch has no G-code yet", status_code=404, media_type="text/plain")

    def make() -> bytes:
        sha = str(b.gcode_sha256)
        if sha not in _layers:
            _layers[sha] = tablet_layers(text, float(b.parameters["mm3_per_e"]))
            if len(_layers) > LAYER_READINGS:
                _layers.popitem(last=False)
        layers = _layers[sha]
        if not 1 <= layer <= len(layers):
            return _message_png(f"layer {layer} is not one of the {len(layers)} layers")
        z, segments = layers[layer - 1]
        return layer_png(segments, f"layer {layer} of {len(layers)} · z {z:.2f} mm")

    return _image(_cache.get(("layer", str(b.gcode_sha256), str(layer)), make))
