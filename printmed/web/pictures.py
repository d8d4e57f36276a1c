"""Pictures of a batch for the review page: the tablet as designed, and one layer of tablet 1's
toolpaths as the stored G-code draws them (printmed.pictures renders both); PNGs made on
request and kept in a small cache.

The layer picture comes from the independent reader (gcode.analyze), so it shows what will be
printed; the tablet is re-planned from the recorded prescription and must match its volume and,
for a shape given as a mesh, the SHA-256 of the recorded file.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dosing.prescription import parse_prescription
from gcode.mesh_io import check_triangles
from printmed import pictures
from printmed.auth import store_of
from printmed.manufacture import plan_tablet
from printmed.store.models import StoredGcode
from printmed.web.batch_view import BatchView, load_batch
from printmed.web.session import MayRead, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

VOLUME_MATCH = 1e-6  # relative: the re-planned tablet must be the recorded one
CACHE_ENTRIES = 64


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
_layers: OrderedDict[str, list[tuple[float, list[pictures.Segment]]]] = OrderedDict()
LAYER_READINGS = 4


def tablet_png(b: BatchView) -> bytes:
    """The designed tablet in 3D (the slicer's preview), re-planned from the record."""
    rx = parse_prescription(b.rx)
    made_on = dt.datetime.fromisoformat(b.created_at).date()
    design = plan_tablet(rx, b.profile_id, on=made_on).design
    recorded = float(b.design["volume_mm3"])
    if abs(design.volume_mm3 - recorded) > VOLUME_MATCH * recorded:
        return pictures.message_png(
            f"the tablet cannot be redrawn: {design.volume_mm3:.3f} mm³ is not "
            f"the recorded {recorded:.3f} mm³"
        )
    # a mesh scaled to the same volume could be another file: the file must be the recorded one
    recorded_file = b.shape_files[0].sha256 if b.shape_files else None
    planned_file = design.source_mesh["sha256"] if design.source_mesh else None
    if planned_file != recorded_file:
        return pictures.message_png(
            f"the tablet cannot be redrawn: its shape file is {str(planned_file)[:12]}…, "
            f"not the recorded {str(recorded_file)[:12]}…"
        )
    return pictures.tablet_png(check_triangles(design.triangles, name=f"{design.shape} tablet"))


def _image(content: bytes) -> Response:
    return Response(
        content, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get("/batches/{batch_number}/tablet.png")
def tablet_picture(request: Request, batch_number: str, user: MayRead) -> Response:
    with store_of(request).session() as session:
        b = load_batch(session, batch_number)
    key = ("tablet", batch_number, str(b.gcode_sha256))
    return _image(_cache.get(key, lambda: tablet_png(b)))


@router.get("/batches/{batch_number}/layers/{layer}.png")
def layer_picture(request: Request, batch_number: str, layer: int, user: MayRead) -> Response:
    with store_of(request).session() as session:
        b = load_batch(session, batch_number)
        program = session.get(StoredGcode, b.gcode_sha256) if b.gcode_sha256 else None
        text = program.text if program is not None else ""
    if not text:
        return Response("this batch has no G-code yet", status_code=404, media_type="text/plain")

    def make() -> bytes:
        sha = str(b.gcode_sha256)
        if sha not in _layers:
            _layers[sha] = pictures.gcode_layers(text, float(b.parameters["mm3_per_e"]))
            if len(_layers) > LAYER_READINGS:
                _layers.popitem(last=False)
        layers = _layers[sha]
        if not 1 <= layer <= len(layers):
            return pictures.message_png(f"layer {layer} is not one of the {len(layers)} layers")
        z, segments = layers[layer - 1]
        return pictures.gcode_layer_png(segments, f"layer {layer} of {len(layers)} · z {z:.2f} mm")

    return _image(_cache.get(("layer", str(b.gcode_sha256), str(layer)), make))
