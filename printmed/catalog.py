"""What the pharmacy has on the shelf: the master file (products, lots, printer models) as one
snapshot from the store's approved versions or from fixtures/, and tablet shapes given as meshes.

Master data only: typed `Formulation`, `MachineProfile` and `Product`, validated when read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dosing.errors import FormulationRefused
from dosing.formulation import DrugLimits, Formulation, parse_drug_limits, parse_formulation
from gcode.profile import MachineProfile, parse_profile
from printers.identity import PrinterIdentity
from printmed.errors import InputError

if TYPE_CHECKING:  # meshes load numpy, shapely and trimesh: only when a mesh is asked for
    from sqlalchemy.orm import Session

    from dosing.mesh_design import FloatArray, MeshShape
    from printmed.store import Store
    from printmed.store.models import MasterVersion


def fixtures_dir() -> Path:
    """PRINTMED_FIXTURES, or the fixtures/ folder shipped beside the packages."""
    configured = os.environ.get("PRINTMED_FIXTURES")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "fixtures"


# --- the master file -------------------------------------------------------------------------
# Master data are versioned documents (`master_versions`): a product per drug (its formulary
# limits, allowed shapes, dose range and QC specification), a lot per formulation id (the
# fields of a lot file) and a profile per printer model (the slicer's profile, the identity the
# printer must report, its calibration interval). A `MasterFile` is one snapshot of them, taken
# once and used for a whole batch: from the store's approved versions (pinned by the batch), or
# from a fixtures-style folder, which is a development source that nothing approved.

KINDS = ("product", "lot", "profile")
APPROVED = "approved"
STORE_SOURCE = "store"
FIXTURES_SOURCE = "fixtures (development source, not approved)"
# What a product's QC specification says when its file states none: the limits the code
# applies (records.masterfile refuses a specification that differs from them).
DEFAULT_QC: dict[str, Any] = {
    "gate_tolerance_percent": 1.0,
    "mass_uniformity": "Ph. Eur. 2.9.5",
    "content_uniformity": "Ph. Eur. 2.9.40 (AV L1 <= 15, L2 <= 25)",
    "unit_limit_percent": 15.0,
}
DEFAULT_DOSE_LOW_MG = 0.1
BUILT_IN_SHAPES = ("caplet", "minitablet", "ring", "round")
UPLOADED_SHAPE = "uploaded"  # a product's `shapes` naming this allows meshes the pharmacy uploads


class MasterFileRefused(InputError):
    """A master-file document, or a batch's use of one, that cannot be accepted."""


class MasterVersionSuperseded(InputError):
    """A batch pins a version that is no longer the one in force (superseded, or never
    approved): it is not made, nor queued, with it."""


@dataclass(frozen=True)
class Product:
    """A drug as the master file describes it: formulary limits, the shapes it may be made
    in, the dose range a unit dose may take (mg) and the QC specification."""

    key: str
    limits: DrugLimits
    shapes: tuple[str, ...]
    dose_range_mg: tuple[float, float]
    qc: dict[str, Any]

    def check_prescribed(self, shape: str, dose_mg: float) -> None:
        """Refuse a shape the product does not allow, or a dose outside its range."""
        if shape not in self.shapes:
            raise MasterFileRefused(
                "shape", shape, f"is not allowed for {self.key} ({', '.join(self.shapes)})"
            )
        low, high = self.dose_range_mg
        if not low <= dose_mg <= high:
            raise MasterFileRefused(
                "dose_mg", dose_mg, f"is outside {self.key}'s dose range {low:g}–{high:g} mg"
            )


@dataclass(frozen=True)
class PrinterModel:
    """A printer model as the master file describes it: the slicer's profile, who the printer
    must report being (None: not on file, so it prints nothing), its calibration interval."""

    profile: MachineProfile
    identity: PrinterIdentity | None
    calibration_interval_days: int | None


@dataclass(frozen=True)
class Pin:
    """One master-file version a batch was made with: `id` is its row in master_versions."""

    kind: str
    key: str
    version: int
    id: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "id": self.id, "sha256": self.sha256}


def _text_field(data: Mapping[str, Any], field: str, where: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise MasterFileRefused(f"{where}.{field}", value, "must be text")
    return value


def parse_product(content: Any, key: str) -> Product:
    """A product document: the drug's limits (as drugs/*.json), `shapes`, `dose_range_mg`
    [low, high] and `qc`; refusals name the field."""
    if not isinstance(content, dict):
        raise MasterFileRefused("product", key, "must be a JSON object")
    extra = {"shapes", "dose_range_mg", "qc"}
    limits = parse_drug_limits(
        {k: v for k, v in content.items() if k not in extra}, source=f"product.{key}"
    )
    if limits.drug_name.strip().lower() != key:
        raise MasterFileRefused("product.drug_name", limits.drug_name, f"is not {key!r}")
    shapes = content.get("shapes")
    if not isinstance(shapes, list) or not shapes or not all(isinstance(s, str) for s in shapes):
        raise MasterFileRefused("product.shapes", shapes, "must list at least one shape")
    dose_range = content.get("dose_range_mg")
    if (
        not isinstance(dose_range, list)
        or len(dose_range) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in dose_range)
        or not 0 < dose_range[0] <= dose_range[1] <= limits.max_mg_per_dose
    ):
        raise MasterFileRefused(
            "product.dose_range_mg",
            dose_range,
            f"must be [low, high] mg with 0 < low <= high <= max_mg_per_dose "
            f"({limits.max_mg_per_dose:g})",
        )
    qc = content.get("qc")
    if not isinstance(qc, dict):
        raise MasterFileRefused("product.qc", qc, "must be a JSON object")
    return Product(
        key, limits, tuple(shapes), (float(dose_range[0]), float(dose_range[1])), dict(qc)
    )


def parse_lot(content: Any, key: str) -> Formulation:
    """A lot document: the fields of a lot file (validated by `parse_formulation`), id = key."""
    lot = parse_formulation(content, source="lot")
    if lot.id != key:
        raise MasterFileRefused("lot.id", lot.id, f"is not the document's key {key!r}")
    if lot.drug_limits is not None:
        raise FormulationRefused(
            f"{key}.drug_limits", lot.drug_limits.drug_name, "belong in the product, not a lot"
        )
    return lot


def parse_printer_model(content: Any, key: str) -> PrinterModel:
    """A profile document: {"profile": the slicer's profile (gcode.profile validates it, new
    fields included), "identity": {"machine_type", "firmware"} or null, "equipment":
    {"calibration_interval_days": n} or {}}."""
    if not isinstance(content, dict) or sorted(content) != ["equipment", "identity", "profile"]:
        raise MasterFileRefused(
            "profile", key, "must be an object of profile, identity and equipment"
        )
    profile = parse_profile(content["profile"], source="profile")
    if profile.id != key:
        raise MasterFileRefused("profile.id", profile.id, f"is not the document's key {key!r}")
    identity = content["identity"]
    if identity is not None:
        if not isinstance(identity, dict) or sorted(identity) != ["firmware", "machine_type"]:
            raise MasterFileRefused("identity", identity, "must give machine_type and firmware")
        identity = PrinterIdentity(
            _text_field(identity, "machine_type", "identity"),
            _text_field(identity, "firmware", "identity"),
        )
    equipment = content["equipment"]
    if not isinstance(equipment, dict) or set(equipment) - {"calibration_interval_days"}:
        raise MasterFileRefused("equipment", equipment, "may give calibration_interval_days")
    days = equipment.get("calibration_interval_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 1):
        raise MasterFileRefused(
            "equipment.calibration_interval_days", days, "must be a whole number ≥ 1"
        )
    return PrinterModel(profile, identity, days)


@dataclass(frozen=True)
class MasterFile:
    """One snapshot of the master file: products, lots (their product's limits attached) and
    printer models, with the version each came from (`pins`, empty for a fixtures folder).

    Taken once per batch and passed along, so nothing is re-read while a batch is made."""

    source: str
    products: Mapping[str, Product]
    lots: Mapping[str, Formulation]
    models: Mapping[str, PrinterModel]
    pins: Mapping[tuple[str, str], Pin]

    @property
    def approved(self) -> bool:
        """True when every document is an approved version from the store."""
        return self.source == STORE_SOURCE

    def formulations(self) -> dict[str, Formulation]:
        return dict(self.lots)

    def formulation(self, formulation_id: str) -> Formulation:
        if formulation_id not in self.lots:
            raise FormulationRefused(
                "formulation",
                formulation_id,
                f"is unknown (on file: {', '.join(sorted(self.lots)) or 'none'})",
            )
        return self.lots[formulation_id]

    def usable_formulations(self, on: dt.date | None = None) -> list[Formulation]:
        """Lots that may be printed today: in date and with an assay."""
        day = on or dt.date.today()
        return [
            lot for lot in self.lots.values() if lot.assay_percent is not None and lot.expiry >= day
        ]

    def choose_formulation(self, drug_name: str, drug_code: str | None) -> str:
        """The one usable lot of a drug, for orders that name none; refused if none or several."""
        matches = []
        for lot in self.usable_formulations():
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

    def printer_profiles(self) -> dict[str, MachineProfile]:
        return {key: model.profile for key, model in self.models.items()}

    def printer_profile(self, profile_id: str) -> MachineProfile:
        if profile_id not in self.models:
            raise InputError(
                "printer", profile_id, f"is unknown (on file: {', '.join(sorted(self.models))})"
            )
        return self.models[profile_id].profile

    def printer_identities(self) -> dict[str, PrinterIdentity]:
        return {k: m.identity for k, m in self.models.items() if m.identity is not None}

    def printer_identity(self, profile_id: str) -> PrinterIdentity:
        identity = self.printer_identities().get(profile_id)
        if identity is None:
            raise InputError("printer", profile_id, "has no identity on file to check it against")
        return identity

    def calibration_interval_days(self, profile_id: str) -> int:
        """Days from a passing calibration to the next one, for printers of `profile_id`."""
        model = self.models.get(profile_id)
        if model is None or model.calibration_interval_days is None:
            raise InputError("profile", profile_id, "has no calibration interval on file")
        return model.calibration_interval_days

    def product_of(self, lot: Formulation) -> Product | None:
        """The product whose drug the lot carries (None: the lot is not dosed)."""
        found = [
            p for p in self.products.values() if p.limits.describes(lot.drug_name, lot.drug_code)
        ]
        return found[0] if found else None

    def pins_for(self, formulation_id: str, profile_id: str) -> dict[str, dict[str, Any]]:
        """The versions a batch of the lot on the profile is made with (`jobs.master_pins_json`):
        kind → key, version, id, sha256. Refused unless every one is an approved version."""
        if not self.approved:
            raise MasterFileRefused(
                "master", self.source, "is not the approved master file: no batch is made from it"
            )
        lot = self.formulation(formulation_id)
        product = self.product_of(lot)
        wanted = [("lot", formulation_id), ("profile", profile_id)]
        if product is not None:
            wanted.insert(0, ("product", product.key))
        missing = [f"{kind} {key}" for kind, key in wanted if (kind, key) not in self.pins]
        if missing:
            raise MasterFileRefused("master", ", ".join(missing), "has no approved version")
        return {kind: self.pins[(kind, key)].to_dict() for kind, key in wanted}


def _json_files(folder: Path) -> list[tuple[Path, Any]]:
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(path.name, str(path), f"is not valid JSON ({exc})") from None
    return found


def folder_documents(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The master-file documents a fixtures-style folder holds, by (kind, key): products from
    drugs/*.json (shapes, dose range and QC specification filled in when the file states none),
    lots from materials/*.json, printer models from printers/*.json with printers/identity/ and
    printers/equipment/ beside them. An id defined twice is refused."""
    documents: dict[tuple[str, str], dict[str, Any]] = {}

    def add(kind: str, key: str, content: dict[str, Any], name: str) -> None:
        if (kind, key) in documents:
            duplicate: Exception = (
                FormulationRefused("id", key, f"is defined twice ({name})")
                if kind == "lot"
                else InputError(kind, key, f"is defined twice ({name})")
            )
            raise duplicate
        documents[(kind, key)] = content

    shapes = [*BUILT_IN_SHAPES, *_bundled_shapes(folder), UPLOADED_SHAPE]
    for path, data in _json_files(folder / "drugs"):
        if not isinstance(data, dict) or not isinstance(data.get("drug_name"), str):
            raise FormulationRefused(path.name, None, "must name its drug_name")
        content = {
            "shapes": shapes,
            "dose_range_mg": [DEFAULT_DOSE_LOW_MG, data.get("max_mg_per_dose")],
            "qc": DEFAULT_QC,
            **data,
        }
        add("product", data["drug_name"].strip().lower(), content, path.name)
    for path, data in _json_files(folder / "materials"):
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            parse_formulation(data, source=path.name)  # names what is missing
            raise FormulationRefused(path.name, None, "has no id")
        add("lot", data["id"], data, path.name)
    for path, data in _json_files(folder / "printers"):
        profile = parse_profile(data, source=path.stem)
        identity = folder / "printers" / "identity" / f"{profile.id}.json"
        equipment = folder / "printers" / "equipment" / f"{profile.id}.json"
        content = {
            "profile": data,
            "identity": json.loads(identity.read_text()) if identity.is_file() else None,
            "equipment": json.loads(equipment.read_text()) if equipment.is_file() else {},
        }
        add("profile", profile.id, content, path.name)
    return documents


def master_from_documents(
    documents: Mapping[tuple[str, str], Any],
    source: str,
    pins: Mapping[tuple[str, str], Pin] | None = None,
) -> MasterFile:
    """A snapshot of `documents` (kind, key → content), each parsed and validated; a lot gets
    its product's limits attached (a lot whose drug has no product is kept, and not dosed)."""
    products: dict[str, Product] = {}
    lots: dict[str, Formulation] = {}
    models: dict[str, PrinterModel] = {}
    for (kind, key), content in sorted(documents.items()):
        if kind == "product":
            products[key] = parse_product(content, key)
        elif kind == "lot":
            lots[key] = parse_lot(content, key)
        elif kind == "profile":
            models[key] = parse_printer_model(content, key)
        else:
            raise MasterFileRefused("kind", kind, f"is not one of {', '.join(KINDS)}")
    for lot_id, lot in lots.items():
        found = [p for p in products.values() if p.limits.describes(lot.drug_name, lot.drug_code)]
        if len(found) > 1:
            raise FormulationRefused("drug_name", lot.drug_name, "has limits on file twice")
        if found:
            lots[lot_id] = lot.model_copy(update={"drug_limits": found[0].limits})
    return MasterFile(source, products, lots, models, dict(pins or {}))


@cache
def _fixtures_master(folder: Path) -> MasterFile:
    return master_from_documents(folder_documents(folder), FIXTURES_SOURCE)


def fixtures_master(folder: Path | None = None) -> MasterFile:
    """The master file of a fixtures-style folder (default `fixtures_dir()`), read once per
    folder: the development source of the offline commands; no batch is recorded from it."""
    return _fixtures_master(folder or fixtures_dir())


_store_masters: dict[tuple[tuple[int, str], ...], MasterFile] = {}


def master_from_store(
    session: Session, state: tuple[tuple[int, str], ...] | None = None
) -> MasterFile:
    """The approved versions in the store as one snapshot, each version's content checked
    against its recorded SHA-256 (a row edited in the database is refused, naming it).

    Parsed once per set of approved versions: a later approval makes the next call read anew."""
    from sqlalchemy import select

    from printmed.store.models import MasterVersion

    state = _approved_state(session) if state is None else state
    cached = _store_masters.get(state)
    if cached is not None:
        return cached
    versions = session.scalars(
        select(MasterVersion).where(MasterVersion.status == APPROVED).order_by(MasterVersion.id)
    ).all()
    documents: dict[tuple[str, str], Any] = {}
    pins: dict[tuple[str, str], Pin] = {}
    for row in versions:
        checked_content(row)
        if (row.kind, row.key) in documents:
            raise MasterFileRefused(
                f"{row.kind} {row.key}", row.version, "has two approved versions"
            )
        documents[(row.kind, row.key)] = json.loads(row.content_json)
        pins[(row.kind, row.key)] = Pin(row.kind, row.key, row.version, row.id, row.content_sha256)
    master = master_from_documents(documents, STORE_SOURCE, pins)
    _store_masters.clear()  # one snapshot kept: the set in force
    _store_masters[state] = master
    return master


def _approved_state(session: Session) -> tuple[tuple[int, str], ...]:
    """(id, SHA-256) of every approved version, in order: what names a snapshot."""
    from sqlalchemy import select

    from printmed.store.models import MasterVersion

    rows = session.execute(
        select(MasterVersion.id, MasterVersion.content_sha256)
        .where(MasterVersion.status == APPROVED)
        .order_by(MasterVersion.id)
    ).all()
    return tuple((row_id, sha) for row_id, sha in rows)


def checked_content(row: MasterVersion) -> Any:
    """A version's content, decoded, once it is found to hash to its recorded SHA-256."""
    _check_hash(row)
    return json.loads(row.content_json)


def _check_hash(row: MasterVersion) -> None:
    actual = hashlib.sha256(row.content_json.encode()).hexdigest()
    if actual != row.content_sha256:
        raise MasterFileRefused(
            f"master_versions[{row.id}].content_json",
            f"{row.kind} {row.key} v{row.version}",
            f"hashes to {actual[:16]}…, not the recorded {row.content_sha256[:16]}…",
        )


def pinned_versions(session: Session, pins: Mapping[str, Any]) -> dict[str, MasterVersion]:
    """The master_versions rows a batch pins (kind → row), each checked to be the row pinned
    and to hash to the pinned SHA-256."""
    from sqlalchemy import select

    from printmed.store.models import MasterVersion

    ids = [pin.get("id") for pin in pins.values() if isinstance(pin.get("id"), int)]
    # one query for them all (this runs under the chain's lock as each order is recorded)
    rows = {
        row.id: row
        for row in session.scalars(select(MasterVersion).where(MasterVersion.id.in_(ids)))
    }
    found = {}
    for kind, pin in sorted(pins.items()):
        row = rows.get(pin.get("id"))
        if row is None or (row.kind, row.key, row.version) != (kind, pin["key"], pin["version"]):
            raise MasterFileRefused(
                f"master_pins.{kind}", pin, "names no such version in master_versions"
            )
        _check_hash(row)
        if row.content_sha256 != pin["sha256"]:
            raise MasterFileRefused(
                f"master_pins.{kind}", pin["sha256"], f"is not {kind} {row.key} v{row.version}"
            )
        found[kind] = row
    return found


def pinned_model(session: Session, pins: Mapping[str, Any]) -> PrinterModel:
    """The printer model (profile, identity) of a batch's pinned profile version."""
    row = pinned_versions(session, {"profile": pins["profile"]})["profile"]
    return parse_printer_model(json.loads(row.content_json), row.key)


def check_pins_in_force(session: Session, pins: Mapping[str, Any], batch_number: str) -> None:
    """Refuse (MasterVersionSuperseded, naming the document and what replaced it) a batch whose
    pinned versions are not all still the approved ones: a batch waits with what it was made
    with, and is not printed once the master file has moved on."""
    from sqlalchemy import select

    from printmed.store.models import MasterVersion

    for kind, row in pinned_versions(session, pins).items():
        if row.status == APPROVED:
            continue
        now = session.scalar(
            select(MasterVersion).where(
                MasterVersion.kind == kind,
                MasterVersion.key == row.key,
                MasterVersion.status == APPROVED,
            )
        )
        replaced = (
            f"; version {now.version} is in force since {now.decided_at} ({now.decision_reason})"
            if now is not None
            else ""
        )
        raise MasterVersionSuperseded(
            f"master_pins.{kind}",
            f"{row.key} v{row.version}",
            f"is {row.status}{replaced}: {batch_number} was made with a version no longer in "
            "force and is not queued; enter the prescription again",
        )


def master_of(session: Session) -> MasterFile:
    """The master file of the store `session` reads: its approved versions, or, for a store
    that holds none yet, the fixtures folder (lookups only: `pins_for` refuses to record a
    batch from it)."""
    from sqlalchemy import func, select

    from printmed.store.models import MasterVersion

    state = _approved_state(session)
    if state or session.scalar(select(func.count()).select_from(MasterVersion)):
        return master_from_store(session, state)
    return fixtures_master()


# The process's source of master data: the store's approved versions once a service has said
# which store (`use_store`, at start), else the fixtures folder (offline commands).
_active_store: list[Store] = []


def use_store(store: Store | None) -> None:
    """Read the master file from `store`'s approved versions from now on (None: the fixtures
    folder again); the app's lifespan calls this as it opens its store and again as it ends.
    Code holding a session reads `master_of(session)` instead."""
    _active_store[:] = [] if store is None else [store]


def current() -> MasterFile:
    """The master file in force for this process: the service's store's (`use_store`), or the
    fixtures folder where no store was given (offline commands)."""
    if _active_store:
        with _active_store[0].read_session() as session:
            return master_of(session)
    return fixtures_master()


def formulations() -> dict[str, Formulation]:
    """Every lot on file, by id (expired ones included: callers decide what to offer)."""
    return current().formulations()


def formulation(formulation_id: str) -> Formulation:
    return current().formulation(formulation_id)


def usable_formulations(on: dt.date | None = None) -> list[Formulation]:
    """Lots that may be printed today: in date and with an assay."""
    return current().usable_formulations(on)


def choose_formulation(drug_name: str, drug_code: str | None) -> str:
    """The one usable lot of a drug, for orders that name none; refused if none or several."""
    return current().choose_formulation(drug_name, drug_code)


def printer_profiles() -> dict[str, MachineProfile]:
    """Every printer profile on file, by id, validated (gcode.profile refuses a malformed one)."""
    return current().printer_profiles()


def printer_profile(profile_id: str) -> MachineProfile:
    """The named printer profile; an unknown id is refused naming the ones on file."""
    return current().printer_profile(profile_id)


def printer_identities() -> dict[str, PrinterIdentity]:
    """Every printer identity on file, by profile id."""
    return current().printer_identities()


def printer_identity(profile_id: str) -> PrinterIdentity:
    """Who printer `profile_id` must report being (kept in the profile's master-file document,
    beside the slicer's profile, whose schema has no place for it)."""
    return current().printer_identity(profile_id)


def calibration_interval_days(profile_id: str) -> int:
    """Days from a passing calibration to the next one, for printers of `profile_id`."""
    return current().calibration_interval_days(profile_id)


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
    coordinates, degenerate or no triangles, not watertight and not safely repairable, thinner
    than two lines of the finest printer even at the largest size an upload may have (whether
    it is wide enough at the size a dose needs, on the chosen printer, is judged when ordered).
    """
    import tempfile

    from dosing.mesh_design import (
        UPLOAD_SIZE_RANGE_MM,
        check_printable_at_largest,
        closed_mesh,
        file_sha256,
    )
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
    mesh = closed_mesh(_mesh_triangles(data, suffix, "mesh.file"), "mesh.file")
    finest = min(printer_profiles().values(), key=lambda profile: profile.line_width_mm)
    check_printable_at_largest(
        mesh,
        UPLOAD_SIZE_RANGE_MM[1],
        finest.layer_height_mm,
        finest.line_width_mm,
        "mesh.file",
        filename,
    )
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
