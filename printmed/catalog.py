"""What the pharmacy has on the shelf: formulation lots (with their drug's limits from drugs/),
printer profiles and tablet shapes given as meshes from fixtures/ (and meshes it uploaded).

Master data only: typed `Formulation` and `MachineProfile`, validated when read.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dosing.errors import FormulationRefused
from dosing.formulation import DrugLimits, Formulation, parse_drug_limits, parse_formulation
from gcode.profile import MachineProfile, parse_profile
from printers.identity import PrinterIdentity
from printmed.errors import InputError

if TYPE_CHECKING:  # meshes load numpy, shapely and trimesh: only when a mesh is asked for
    from dosing.mesh_design import FloatArray, MeshShape

D = TypeVar("D", bound="_Document")


def fixtures_dir() -> Path:
    """PRINTMED_FIXTURES, or the fixtures/ folder shipped beside the packages."""
    configured = os.environ.get("PRINTMED_FIXTURES")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "fixtures"


class _Document(Protocol):
    @property
    def id(self) -> str: ...


def _read_folder(
    folder: Path, parse: Callable[[Any, str], D], duplicate: Callable[[str, str], Exception]
) -> dict[str, D]:
    """Every `*.json` in `folder`, parsed and validated, by id; an id defined twice is refused."""
    documents: dict[str, D] = {}
    for path in sorted(folder.glob("*.json")):
        document = parse(json.loads(path.read_text()), path.name)
        if document.id in documents:
            raise duplicate(document.id, path.name)
        documents[document.id] = document
    return documents


@cache
def _formulations(folder: Path) -> dict[str, Formulation]:
    """Every lot, with its drug's limits from drugs/ attached (a lot's file never holds them)."""
    lots = _read_folder(
        folder / "materials",
        lambda data, name: parse_formulation(data, source=name),
        lambda lot_id, name: FormulationRefused("id", lot_id, f"is defined twice ({name})"),
    )
    drugs = _drug_limits(folder)
    for lot_id, lot in lots.items():
        if lot.drug_limits is not None:
            raise FormulationRefused(
                f"{lot_id}.drug_limits", lot.drug_limits.drug_name, "belong in drugs/, not a lot"
            )
        found = [limits for limits in drugs if limits.describes(lot.drug_name, lot.drug_code)]
        if len(found) > 1:
            raise FormulationRefused("drug_name", lot.drug_name, "has limits on file twice")
        if found:
            lots[lot_id] = lot.model_copy(update={"drug_limits": found[0]})
    return lots


def _drug_limits(folder: Path) -> list[DrugLimits]:
    """Each drug's formulary maxima (drugs/*.json); a lot whose drug has none is not dosed."""
    return [
        parse_drug_limits(json.loads(path.read_text()), source=path.name)
        for path in sorted((folder / "drugs").glob("*.json"))
    ]


@cache
def _printer_profiles(folder: Path) -> dict[str, MachineProfile]:
    return _read_folder(
        folder / "printers",
        lambda data, name: parse_profile(data, source=name.removesuffix(".json")),
        lambda profile_id, name: InputError("printer", profile_id, f"is defined twice ({name})"),
    )


def formulations() -> dict[str, Formulation]:
    """Every lot on file, by id (expired ones included: callers decide what to offer)."""
    return dict(_formulations(fixtures_dir()))


def formulation(formulation_id: str) -> Formulation:
    lots = formulations()
    if formulation_id not in lots:
        raise FormulationRefused(
            "formulation", formulation_id, f"is unknown (on file: {', '.join(sorted(lots))})"
        )
    return lots[formulation_id]


def usable_formulations(on: dt.date | None = None) -> list[Formulation]:
    """Lots that may be printed today: in date and with an assay."""
    day = on or dt.date.today()
    return [
        lot
        for lot in formulations().values()
        if lot.assay_percent is not None and lot.expiry >= day
    ]


def choose_formulation(drug_name: str, drug_code: str | None) -> str:
    """The one usable lot of a drug, for orders that name none; refused if none or several."""
    matches = []
    for lot in usable_formulations():
        try:
            lot.check_carries(drug_name, drug_code)
        except FormulationRefused:
            continue
        matches.append(lot.id)
    if len(matches) != 1:
        found = ", ".join(matches) or "none"
        raise FormulationRefused(
            "formulation", "(not given)", f"must be named: usable lots of {drug_name}: {found}"
        )
    return matches[0]


def printer_profiles() -> dict[str, MachineProfile]:
    """Every printer profile on file, by id, validated (gcode.profile refuses a malformed one).

    Like the lots, read once per fixtures folder for the life of the process.
    """
    return dict(_printer_profiles(fixtures_dir()))


def printer_profile(profile_id: str) -> MachineProfile:
    """The named printer profile; an unknown id is refused naming the ones on file."""
    profiles = printer_profiles()
    if profile_id not in profiles:
        raise InputError(
            "printer", profile_id, f"is unknown (on file: {', '.join(sorted(profiles))})"
        )
    return profiles[profile_id]


@cache
def _printer_identities(folder: Path) -> dict[str, PrinterIdentity]:
    identities = {}
    for path in sorted((folder / "printers" / "identity").glob("*.json")):
        data = json.loads(path.read_text())
        if sorted(data) != ["firmware", "machine_type"] or not all(
            isinstance(v, str) and v.strip() for v in data.values()
        ):
            raise InputError("identity", path.name, "must give machine_type and firmware as text")
        identities[path.stem] = PrinterIdentity(data["machine_type"], data["firmware"])
    return identities


def printer_identities() -> dict[str, PrinterIdentity]:
    """Every printer identity on file, by profile id."""
    return dict(_printer_identities(fixtures_dir()))


def printer_identity(profile_id: str) -> PrinterIdentity:
    """Who printer `profile_id` must report being (fixtures/printers/identity/<id>.json, kept
    beside the profile because the slicer's profile schema has no place for it)."""
    identities = printer_identities()
    if profile_id not in identities:
        raise InputError("printer", profile_id, "has no identity on file to check it against")
    return identities[profile_id]


# Tablet shapes given as meshes: the bundled set (fixtures/meshes/shapes.json, made by
# scripts/make_shapes.py) and meshes uploaded by the pharmacy, kept as files named by SHA-256.
MESH_SUFFIXES = (".stl", ".3mf")


@dataclass(frozen=True)
class BundledShape:
    """One entry of fixtures/meshes/shapes.json: the file, its picture and its size range."""

    name: str
    label: str
    file: Path
    picture: Path
    size_range_mm: tuple[float, float]


@cache
def _bundled_shapes(folder: Path) -> dict[str, BundledShape]:
    index = folder / "meshes" / "shapes.json"
    if not index.is_file():
        return {}
    shapes = {}
    for entry in json.loads(index.read_text())["shapes"]:
        low, high = (float(v) for v in entry["size_range_mm"])
        if not 0 < low < high:
            raise InputError("shapes.json.size_range_mm", entry["size_range_mm"], "is not a range")
        shapes[entry["name"]] = BundledShape(
            entry["name"],
            entry["label"],
            folder / "meshes" / entry["file"],
            folder / "meshes" / entry["picture"],
            (low, high),
        )
    return shapes


def bundled_shapes() -> dict[str, BundledShape]:
    """The bundled child-friendly shapes, by name."""
    return dict(_bundled_shapes(fixtures_dir()))


_uploads: list[Path] = []


def use_data_dir(data_dir: Path) -> None:
    """Keep and find uploaded meshes under `data_dir` (the service's settings, not the
    environment's): create_app calls this once."""
    _uploads[:] = [data_dir / "meshes"]


def uploaded_meshes_dir() -> Path:
    """Where uploaded meshes are kept: <data folder>/meshes/<sha256>.stl|.3mf."""
    if _uploads:
        return _uploads[0]
    from printmed.settings import load_settings

    return load_settings().data_dir / "meshes"


def _mesh_triangles(data: bytes, suffix: str, field: str) -> FloatArray:
    """The triangles of an STL or 3MF file as written (no repair, no placing), mm."""
    import numpy as np
    import trimesh

    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=suffix.lstrip("."), force="mesh")
    except Exception as exc:  # trimesh raises many kinds on a broken file
        raise InputError(field, suffix, f"is not a readable mesh ({exc})") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise InputError(field, suffix, "holds no triangles")
    return np.asarray(loaded.triangles, dtype=np.float64)


def mesh_shape(name: str | None = None, sha256: str | None = None) -> MeshShape:
    """A bundled shape by name, or an uploaded mesh by its SHA-256; refused naming the field."""
    from dosing.mesh_design import UPLOAD_SIZE_RANGE_MM, MeshShape, file_sha256

    if name is not None:
        shapes = bundled_shapes()
        if name not in shapes:
            raise InputError("mesh.name", name, f"is not a bundled shape ({', '.join(shapes)})")
        shape = shapes[name]
        data = shape.file.read_bytes()
        triangles = _mesh_triangles(data, shape.file.suffix, "mesh.name")
        return MeshShape(shape.name, file_sha256(data), triangles, shape.size_range_mm)
    if sha256 is None or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InputError("mesh.sha256", sha256, "is not the SHA-256 of an uploaded mesh")
    for suffix in MESH_SUFFIXES:
        path = uploaded_meshes_dir() / f"{sha256}{suffix}"
        if path.is_file():
            data = path.read_bytes()
            if file_sha256(data) != sha256:
                raise InputError("mesh.sha256", sha256, "does not match the stored file's bytes")
            triangles = _mesh_triangles(data, suffix, "mesh.sha256")
            return MeshShape(f"upload-{sha256[:12]}", sha256, triangles, UPLOAD_SIZE_RANGE_MM)
    raise InputError("mesh.sha256", sha256, "is not an uploaded mesh (POST /api/v1/meshes first)")


def store_uploaded_mesh(data: bytes, filename: str, max_bytes: int | None = None) -> MeshShape:
    """Check an uploaded STL or 3MF as the slicer would and as a tablet must be; keep it.

    Refused (nothing kept), the field under `mesh.`: not .stl/.3mf, over `max_bytes` (at most
    the slicer's limit), a triangle count larger than the file holds, NaN or infinite
    coordinates, degenerate or no triangles, not watertight and not safely repairable.
    """
    import tempfile

    from dosing.mesh_design import closed_mesh, file_sha256
    from gcode.errors import GcodeError
    from gcode.mesh_io import MAX_FILE_BYTES, read_mesh_file

    limit = min(MAX_FILE_BYTES, max_bytes or MAX_FILE_BYTES)
    suffix = Path(filename).suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputError("mesh.file", filename, "is not an .stl or .3mf file")
    if len(data) > limit:
        raise InputError("mesh.file_bytes", len(data), f"is over the limit of {limit} bytes")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            read_mesh_file(path)  # the slicer's own refusals, with their field and value
        except GcodeError as exc:
            field = exc.field.replace(path.name, "mesh").replace("mesh.mesh.", "mesh.")
            raise InputError(field, exc.value, exc.reason) from None
    sha256 = file_sha256(data)
    closed_mesh(_mesh_triangles(data, suffix, "mesh.file"), "mesh.file")
    folder = uploaded_meshes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha256}{suffix}"
    if not target.exists():
        partial = target.with_suffix(suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)
    return mesh_shape(sha256=sha256)


def mesh_choice(value: str) -> dict[str, str]:
    """`--mesh` on the command line: a bundled shape's name, or an STL/3MF file, checked and
    kept as an upload is (by SHA-256 under the data folder); as the prescription's `mesh`."""
    if value in bundled_shapes():
        return {"name": value}
    path = Path(value)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(
            "--mesh",
            value,
            f"is neither a bundled shape ({', '.join(bundled_shapes())}) nor an .stl or .3mf file",
        )
    if not path.is_file():
        raise InputError("--mesh", value, "does not exist")
    return {"sha256": store_uploaded_mesh(path.read_bytes(), path.name).sha256}
