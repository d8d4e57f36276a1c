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

import numpy as np
import trimesh

from gcode.cut import FloatArray
from gcode.errors import MeshNotWatertight, MeshRefused, PartTooLarge
from gcode.profile import MachineProfile

MAX_FILE_BYTES = 64 * 1024 * 1024
MIN_VOLUME_MM3 = 1e-3
# a repair may close small holes only: it must not change the volume by more than this
MAX_REPAIR_VOLUME_CHANGE = 0.001


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
        mesh = _read_stl(data)
    elif suffix == ".3mf":
        try:
            loaded = trimesh.load(io.BytesIO(data), file_type="3mf", force="mesh")
        except Exception as exc:  # trimesh raises many kinds on a broken archive
            raise MeshRefused("mesh.file", path.name, f"is not a readable 3MF ({exc})") from None
        mesh = loaded if isinstance(loaded, trimesh.Trimesh) else trimesh.Trimesh()
    else:
        raise MeshRefused("mesh.file", path.name, "is not an .stl or .3mf file")
    return check_mesh(mesh, name=path.name)


def _read_stl(data: bytes) -> trimesh.Trimesh:
    if len(data) >= 84:
        (count,) = struct.unpack_from("<I", data, 80)
        if 84 + 50 * count == len(data):
            records = np.frombuffer(data, dtype=_STL_RECORD, count=count, offset=84)
            triangles = records["vertices"].astype(np.float64)
            return _from_triangles(triangles)
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


def _read_ascii_stl(data: bytes) -> trimesh.Trimesh:
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
    return _from_triangles(np.array(numbers, dtype=np.float64).reshape(-1, 3, 3))


def _from_triangles(triangles: FloatArray) -> trimesh.Trimesh:
    if not np.isfinite(triangles).all():
        bad = triangles[~np.isfinite(triangles)][0]
        raise MeshRefused("mesh.vertices", float(bad), "is not a finite coordinate")
    return trimesh.Trimesh(**trimesh.triangles.to_kwargs(triangles), process=True)


def check_mesh(mesh: trimesh.Trimesh, name: str = "mesh") -> PartMesh:
    """Check, repair if safe, wind outward, place on z = 0 centred in XY."""
    if len(mesh.faces) == 0:
        raise MeshRefused(f"{name}.triangles", 0, "is not a solid")
    if not np.isfinite(mesh.vertices).all():
        raise MeshRefused(f"{name}.vertices", "nan", "is not a finite coordinate")
    mesh = mesh.copy()
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) < 4:
        raise MeshRefused(
            f"{name}.triangles", len(mesh.faces), "non-degenerate triangles is not a solid"
        )
    repaired = False
    if not mesh.is_watertight:
        before = len(mesh.faces)
        trimesh.repair.fill_holes(mesh)
        if not mesh.is_watertight:
            open_edges = len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
            raise MeshNotWatertight(
                f"{name}.open_edges", open_edges, "remain after repair: the mesh has holes"
            )
        repaired = len(mesh.faces) != before
    if not mesh.is_winding_consistent:
        raise MeshNotWatertight(f"{name}.winding", "inconsistent", "cannot be made outward")
    volume_before = abs(float(mesh.volume))
    trimesh.repair.fix_normals(mesh)
    volume = float(mesh.volume)
    if volume < 0:
        mesh.invert()
        volume = -volume
    if volume < MIN_VOLUME_MM3:
        raise MeshRefused(f"{name}.volume_mm3", volume, "is zero: the mesh encloses no material")
    if repaired and abs(volume - volume_before) > MAX_REPAIR_VOLUME_CHANGE * volume:
        raise MeshNotWatertight(f"{name}.volume_mm3", volume, "changed too much in repair")
    low, high = mesh.bounds
    centre = 0.5 * (low + high)
    mesh.apply_translation((-centre[0], -centre[1], -low[2]))
    extents = tuple(float(v) for v in high - low)
    return PartMesh(
        name,
        np.asarray(mesh.triangles, dtype=np.float64),
        volume,
        (extents[0], extents[1], extents[2]),
        repaired,
    )


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
