"""Meshes from files (STL binary and ASCII, 3MF) checked before slicing, or from trimesh.

Refuses, with the field and value: a file over the size limit, a triangle count larger than the
file holds, NaN or infinite coordinates, no triangles, zero volume, and holes that trimesh
cannot close safely. A part is placed on z = 0, centred on the XY origin.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gcode.cut import FloatArray
from gcode.errors import MeshNotWatertight, MeshRefused, PartTooLarge
from gcode.profile import MachineProfile
from gcode.weld import signed_volume_mm3, topology

if TYPE_CHECKING:
    import trimesh

MAX_FILE_BYTES = 64 * 1024 * 1024
MIN_VOLUME_MM3 = 1e-3
# a repair may close small holes only: few triangles added, the volume nearly unchanged
MAX_REPAIR_FACES = 0.01
MAX_REPAIR_VOLUME_CHANGE = 0.01


@dataclass(frozen=True)
class PartMesh:
    """A checked part: (n, 3, 3) float mm triangles wound outward, on z = 0, centred in XY."""

    name: str
    triangles: FloatArray
    volume_mm3: float
    extents_mm: tuple[float, float, float]
    repaired: bool


def read_mesh_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> PartMesh:
    """A part from an .stl (binary or ASCII) or .3mf file, checked (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise MeshRefused("mesh.file", str(path), "does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise MeshRefused("mesh.file_bytes", size, f"is over the limit of {max_bytes} bytes")
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".stl":
        triangles = _read_stl(data)
        del data  # a large file's bytes need not outlive its triangles
        return check_triangles(triangles, name=path.name)
    if suffix == ".3mf":
        import trimesh  # only for 3MF and repair: it takes seconds to import

        try:
            loaded = trimesh.load(io.BytesIO(data), file_type="3mf", force="mesh")
        except Exception as exc:  # trimesh raises many kinds on a broken archive
            raise MeshRefused("mesh.file", path.name, f"is not a readable 3MF ({exc})") from None
        if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
            raise MeshRefused(f"{path.name}.triangles", 0, "is not a solid")
        return check_triangles(_finite(np.asarray(loaded.triangles, dtype=np.float64)), path.name)
    raise MeshRefused("mesh.file", path.name, "is not an .stl or .3mf file")


def _read_stl(data: bytes) -> FloatArray:
    if len(data) >= 84:
        (count,) = struct.unpack_from("<I", data, 80)
        if 84 + 50 * count == len(data):
            records = np.frombuffer(data, dtype=_STL_RECORD, count=count, offset=84)
            return _finite(records["vertices"].astype(np.float64))
    if data.lstrip()[:5].lower() == b"solid":
        return _read_ascii_stl(data)
    if len(data) < 84:
        raise MeshRefused("mesh.file_bytes", len(data), "is too short for an STL")
    (count,) = struct.unpack_from("<I", data, 80)
    if 84 + 50 * count > len(data):
        raise MeshRefused(
            "mesh.triangle_count",
            count,
            f"is larger than the file holds ({(len(data) - 84) // 50} triangles)",
        )
    raise MeshRefused("mesh.file_bytes", len(data), f"does not match {count} triangles")


_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])


def _read_ascii_stl(data: bytes) -> FloatArray:
    text = data.decode("ascii", errors="replace")
    numbers: list[float] = []
    try:
        for line in text.splitlines():
            words = line.split()
            if words and words[0] == "vertex":
                if len(words) != 4:
                    raise ValueError(line.strip())
                numbers.extend(float(w) for w in words[1:])
    except ValueError as exc:
        raise MeshRefused("mesh.vertex", str(exc)[:60], "is not three numbers") from None
    if len(numbers) % 9:
        raise MeshRefused("mesh.vertices", len(numbers) // 3, "is not a multiple of 3")
    return _finite(np.array(numbers, dtype=np.float64).reshape(-1, 3, 3))


def _finite(triangles: FloatArray) -> FloatArray:
    if not np.isfinite(triangles).all():
        bad = triangles[~np.isfinite(triangles)][0]
        raise MeshRefused("mesh.vertices", float(bad), "is not a finite coordinate")
    return triangles


def check_mesh(mesh: trimesh.Trimesh, name: str = "mesh") -> PartMesh:
    """A trimesh (a design's) checked like a file's triangles."""
    if len(mesh.faces) == 0:
        raise MeshRefused(f"{name}.triangles", 0, "is not a solid")
    return check_triangles(_finite(np.asarray(mesh.triangles, dtype=np.float64)), name)


def check_triangles(triangles: FloatArray, name: str = "mesh") -> PartMesh:
    """Check (n, 3, 3) float mm triangles; repair small holes if safe; wind outward; place.

    Closed meshes take the fast path (exact weld and edge count in Numba); only a mesh with
    defects goes through trimesh's repair.
    """
    if triangles.shape[0] == 0:
        raise MeshRefused(f"{name}.triangles", 0, "is not a solid")
    shape = topology(triangles)
    if shape.faces.shape[0] < 4:
        raise MeshRefused(
            f"{name}.triangles", shape.faces.shape[0], "non-degenerate triangles is not a solid"
        )
    repaired = False
    if shape.degenerate_faces:
        triangles = triangles[_nondegenerate(triangles)]
    if not shape.closed:
        triangles = _repair(triangles, name)
        repaired = True
    volume = signed_volume_mm3(triangles)
    if volume < 0:
        triangles = triangles[:, ::-1, :]
        volume = -volume
    if volume < MIN_VOLUME_MM3:
        raise MeshRefused(f"{name}.volume_mm3", volume, "is zero: the mesh encloses no material")
    points = triangles.reshape(-1, 3)
    # column by column: a reduction over axis 0 of an (m, 3) array runs ten times slower
    low = np.array([points[:, k].min() for k in range(3)])
    high = np.array([points[:, k].max() for k in range(3)])
    centre = 0.5 * (low + high)
    placed = triangles - np.array([centre[0], centre[1], low[2]])
    extents = high - low
    return PartMesh(
        name,
        np.ascontiguousarray(placed),
        volume,
        (float(extents[0]), float(extents[1]), float(extents[2])),
        repaired,
    )


def _nondegenerate(triangles: FloatArray) -> npt.NDArray[np.bool_]:
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return ~((a == b).all(axis=1) | (b == c).all(axis=1) | (a == c).all(axis=1))


def _repair(triangles: FloatArray, name: str) -> FloatArray:
    """Close small holes with trimesh; refuse what it cannot close or would change much."""
    import trimesh

    mesh = trimesh.Trimesh(**trimesh.triangles.to_kwargs(triangles), process=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    before_faces, before_volume = len(mesh.faces), abs(float(mesh.volume))
    if not mesh.is_watertight:
        trimesh.repair.fill_holes(mesh)
    if not mesh.is_watertight:
        open_edges = len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
        raise MeshNotWatertight(
            f"{name}.open_edges", open_edges, "remain after repair: the mesh has holes"
        )
    if not mesh.is_winding_consistent:
        raise MeshNotWatertight(f"{name}.winding", "inconsistent", "cannot be made outward")
    added = len(mesh.faces) - before_faces
    change = abs(abs(float(mesh.volume)) - before_volume) / max(before_volume, MIN_VOLUME_MM3)
    if added > MAX_REPAIR_FACES * before_faces or change > MAX_REPAIR_VOLUME_CHANGE:
        raise MeshNotWatertight(
            f"{name}.holes",
            f"{added} triangles, {change:.1%} of volume",
            "are too large to close safely",
        )
    return np.asarray(mesh.triangles, dtype=np.float64)


def check_fits(part: PartMesh, profile: MachineProfile) -> None:
    """Refuse a part larger than the printer's build volume (x, y, z)."""
    for axis, (size, limit) in enumerate(
        zip(part.extents_mm, profile.build_volume_mm, strict=True)
    ):
        if size > limit:
            raise PartTooLarge(
                f"{part.name}.size_mm[{'xyz'[axis]}]",
                round(size, 3),
                f"is larger than {profile.id}'s build volume ({limit:g} mm)",
            )
