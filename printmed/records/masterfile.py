"""The point-of-care master file under change control: each document (product, lot, printer
profile) is versioned; a change is proposed with a reason, and used only once a second person
holding the control-site role approves it with their password, signed with their own key.

The store's approved versions are what batches are made from (`catalog.master_from_store`) and
pin (`jobs.master_pins_json`); the master file travels to a regulator or another site as one
document signed by the service key (`export`, `import_signed`). Every change is an audit entry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dosing.errors import DosingError
from dosing.formulation import Formulation
from dosing.shapes import MAX_MINITABLETS_PER_DOSE, SHAPES
from gcode.errors import GcodeError
from printmed import audit, catalog, keys
from printmed.auth.rules import Action, NotPermitted, require, require_control_site
from printmed.auth.users import FIRST_ADMIN
from printmed.errors import InputError
from printmed.manufacture.tolerances import TOL
from printmed.records import qc as batch_qc
from printmed.records.batch_record import leaf_changes
from printmed.records.signatures import Signer
from printmed.store import Store
from printmed.store.models import MasterVersion, User, UserKey

KINDS = catalog.KINDS
PROPOSED, APPROVED, REJECTED, SUPERSEDED = "proposed", catalog.APPROVED, "rejected", "superseded"
SOURCES = ("proposed", "imported", "first-start")
APPROVAL_PURPOSE = "master-file-approval"
APPROVAL_MEANING = "reviewed"  # the e-signature meaning the password is asked for
EXPORT_PURPOSE = "master-file-export"
EXPORT_FORMAT = "printmed-master-file/1"
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class MasterChangeRefused(InputError):
    """A proposed version, or a decision on one, that is refused: names the field and value."""


class UnknownDocument(InputError):
    """No such kind, document or version in the master file."""


class SignedDocumentRefused(InputError):
    """A signed master file whose format, signature or content does not check out."""


@dataclass(frozen=True)
class DocumentSummary:
    """One document of the master file: the version in force (None until one is approved),
    the latest version of any status, and how many proposals await a decision."""

    kind: str
    key: str
    in_force: MasterVersion | None
    latest: MasterVersion
    pending: int


@dataclass(frozen=True)
class ImportReport:
    """What an import did: the versions it proposed, and the documents it left as they were."""

    proposed: list[MasterVersion] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposed": [describe(row) for row in self.proposed],
            "unchanged": [{"kind": kind, "key": key} for kind, key in self.unchanged],
        }


# --- content: canonical form, hash, difference ----------------------------------------------


def canonical_json(content: Any) -> str:
    """Sorted keys, no spaces: the one text a document's hash and signature are over."""
    return audit.canonical_json(content)


def content_sha256(content: Any) -> str:
    return audit.sha256_text(canonical_json(content))


def difference(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per changed leaf: {"path", "before", "after"}; a first version (no `before`)
    lists every leaf with before None."""
    return [
        {"path": path, "before": old, "after": new}
        for path, old, new in leaf_changes(dict(before or {}), dict(after))
    ]


# --- validation ------------------------------------------------------------------------------


def applied_qc() -> dict[str, Any]:
    """The QC specification the code applies (the gate's tolerance, the uniformity limits): a
    product's `qc` must state exactly these, so the document never claims what is not held."""
    return {
        **catalog.DEFAULT_QC,
        "gate_tolerance_percent": TOL.dose_relative * 100,
        "unit_limit_percent": batch_qc.UNIT_LIMIT_PERCENT,
    }


def _refusal(exc: DosingError | GcodeError | InputError, kind: str) -> MasterChangeRefused:
    """The parser's refusal under the document's kind; a whole-document check that names its
    field first ("Value error, max_nozzle_temp_c 90 is above…") is put on that field."""
    field_name = exc.field if exc.field.startswith(f"{kind}.") else f"{kind}.{exc.field}"
    value = exc.value
    named = re.search(r"Value error, ([a-z_]+) ", exc.reason)
    if named and isinstance(value, dict) and named.group(1) in value:
        field_name, value = f"{field_name}.{named.group(1)}", value[named.group(1)]
        field_name = field_name.replace(f"{kind}.{kind}.", f"{kind}.")
    return MasterChangeRefused(field_name, value, exc.reason)


def _check_key(kind: str, key: str) -> None:
    if kind not in KINDS:
        raise UnknownDocument("kind", kind, f"is not one of {', '.join(KINDS)}")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise UnknownDocument("key", key, "is not 1-64 lower-case letters, digits, '.', '_', '-'")


def shape_dose_range_mg(shape: str, lot: Formulation) -> tuple[float, float] | None:
    """The doses (mg) one dose of a built-in shape can hold of `lot`: smallest unit to the
    largest (times the most mini-tablets a dose may take); None for a mesh shape."""
    kind = SHAPES.get(shape)
    if kind is None or lot.assay_percent is None:
        return None
    (low_mm, high_mm), (low_h, high_h) = kind.size_range_mm, kind.height_range_mm
    units = MAX_MINITABLETS_PER_DOSE if shape == "minitablet" else 1
    content = lot.drug_mg_per_mm3
    return (
        kind.area_coefficient * low_mm**2 * low_h * content,
        kind.area_coefficient * high_mm**2 * high_h * content * units,
    )


def _check_dose_range(product: catalog.Product, lots: list[Formulation]) -> None:
    """A product's dose range must meet the range of at least one allowed built-in shape for
    each of its lots (a range no shape can make is refused naming it)."""
    low, high = product.dose_range_mg
    for lot in lots:
        ranges = [shape_dose_range_mg(shape, lot) for shape in product.shapes]
        built_in = [r for r in ranges if r is not None]
        if built_in and not any(r_low <= high and low <= r_high for r_low, r_high in built_in):
            held = ", ".join(f"{a:.3g}–{b:.3g}" for a, b in built_in)
            raise MasterChangeRefused(
                "product.dose_range_mg",
                [low, high],
                f"mg is outside every allowed shape's range for lot {lot.id} ({held} mg)",
            )


def _check_temperatures(lot: Formulation, profiles: list[catalog.PrinterModel]) -> None:
    """The lot's temperature window within the limits of every printer model of its process."""
    for model in profiles:
        profile = model.profile
        if profile.process != lot.process:
            continue
        bed_c = lot.bed_temp_c
        shown: Any
        if lot.nozzle_temp_c is not None:
            name, shown, hottest = (
                "lot.nozzle_temp_c",
                list(lot.nozzle_temp_c),
                lot.nozzle_temp_c[1],
            )
        else:
            name, shown, hottest = "lot.paste_temp_c", lot.paste_temp_c, lot.paste_temp_c or 0.0
        if hottest > profile.max_nozzle_temp_c:
            raise MasterChangeRefused(
                name,
                shown,
                f"°C is above printer model {profile.id}'s limit of "
                f"{profile.max_nozzle_temp_c:g} °C",
            )
        if bed_c > profile.max_bed_temp_c:
            raise MasterChangeRefused(
                "lot.bed_temp_c",
                bed_c,
                f"°C is above printer model {profile.id}'s bed limit of "
                f"{profile.max_bed_temp_c:g} °C",
            )


def _known_shapes() -> set[str]:
    return {*catalog.BUILT_IN_SHAPES, *catalog.bundled_shapes(), catalog.UPLOADED_SHAPE}


def validate(
    session: Session,
    kind: str,
    key: str,
    content: Any,
    *,
    on: dt.date | None = None,
    check_expiry: bool = True,
) -> None:
    """Refuse (MasterChangeRefused naming the field) a document that would make a product
    unsafe or unusable, judged with the other documents as they are in force: malformed
    content (each kind's typed parser: density ≤ 0, loading or assay out of range, SSE above
    80 °C…), a lot past its expiry, a temperature window above a printer model's limits, a
    dose range no allowed shape can make, a QC specification the code does not apply."""
    _check_key(kind, key)
    if not isinstance(content, dict):
        raise MasterChangeRefused(kind, key, "must be a JSON object")
    documents = {(r.kind, r.key): json.loads(r.content_json) for r in in_force(session)}
    documents[(kind, key)] = content
    try:
        if kind == "lot":
            lot = catalog.parse_lot(content, key)
            if check_expiry and lot.expiry < (on or dt.date.today()):
                raise MasterChangeRefused(
                    "lot.expiry", lot.expiry.isoformat(), "is in the past: an expired lot"
                )
        elif kind == "product":
            product = catalog.parse_product(content, key)
            unknown = sorted(set(product.shapes) - _known_shapes())
            if unknown:
                raise MasterChangeRefused("product.shapes", unknown, "are not shapes on file")
            for name, applied in applied_qc().items():
                stated = product.qc.get(name)
                if stated != applied:
                    raise MasterChangeRefused(
                        f"product.qc.{name}",
                        stated,
                        f"is not what the code applies ({applied!r}): a different "
                        "specification needs a change to the code, not the master file",
                    )
            if set(product.qc) - set(applied_qc()):
                extra = sorted(set(product.qc) - set(applied_qc()))
                raise MasterChangeRefused("product.qc", extra, "are not applied by the code")
        else:
            catalog.parse_printer_model(content, key)
        master = catalog.master_from_documents(documents, "proposal")
    except (DosingError, GcodeError) as exc:
        raise _refusal(exc, kind) from None
    except MasterChangeRefused:
        raise
    except InputError as exc:
        raise _refusal(exc, kind) from None
    models = list(master.models.values())
    for lot in master.lots.values():
        if kind == "lot" and lot.id != key:
            continue
        if kind == "profile" or kind == "lot":
            try:
                _check_temperatures(lot, models)
            except MasterChangeRefused as exc:
                if kind == "profile":  # the model's limit is what changed: name it
                    raise MasterChangeRefused(
                        "profile.max_nozzle_temp_c",
                        master.models[key].profile.max_nozzle_temp_c,
                        f"°C is below lot {lot.id}'s window ({exc.field} {exc.value})",
                    ) from None
                raise
    for product in master.products.values():
        if kind == "product" and product.key != key:
            continue
        lots = [lot for lot in master.lots.values() if master.product_of(lot) is product]
        if kind == "lot":
            lots = [lot for lot in lots if lot.id == key]
            if not lots:
                continue
        if kind in ("product", "lot"):
            _check_dose_range(product, lots)


# --- reading ---------------------------------------------------------------------------------


def get_version(session: Session, version_id: int, *, for_update: bool = False) -> MasterVersion:
    query = select(MasterVersion).where(MasterVersion.id == version_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise UnknownDocument("version", version_id, "is not a master-file version")
    return row


def history(session: Session, kind: str, key: str) -> list[MasterVersion]:
    """Every version of one document, first to last; UnknownDocument if it has none."""
    _check_key(kind, key)
    rows = list(
        session.scalars(
            select(MasterVersion)
            .where(MasterVersion.kind == kind, MasterVersion.key == key)
            .order_by(MasterVersion.version)
        )
    )
    if not rows:
        raise UnknownDocument(kind, key, "is not a document of the master file")
    return rows


def in_force(
    session: Session, kind: str | None = None, key: str | None = None
) -> list[MasterVersion]:
    """The approved (current) versions, by kind then key; of one kind or one document."""
    query = select(MasterVersion).where(MasterVersion.status == APPROVED)
    if kind is not None:
        query = query.where(MasterVersion.kind == kind)
    if key is not None:
        query = query.where(MasterVersion.key == key)
    return list(session.scalars(query.order_by(MasterVersion.kind, MasterVersion.key)))


def pending(session: Session) -> list[MasterVersion]:
    """Every proposal awaiting a decision, oldest first."""
    query = select(MasterVersion).where(MasterVersion.status == PROPOSED)
    return list(session.scalars(query.order_by(MasterVersion.id)))


def documents(session: Session) -> list[DocumentSummary]:
    """Every document of the master file with its version in force, latest and proposals."""
    rows = session.scalars(
        select(MasterVersion).order_by(MasterVersion.kind, MasterVersion.key, MasterVersion.version)
    )
    grouped: dict[tuple[str, str], list[MasterVersion]] = {}
    for row in rows:
        grouped.setdefault((row.kind, row.key), []).append(row)
    return [
        DocumentSummary(
            kind,
            key,
            next((r for r in versions if r.status == APPROVED), None),
            versions[-1],
            sum(1 for r in versions if r.status == PROPOSED),
        )
        for (kind, key), versions in sorted(grouped.items())
    ]


def describe(row: MasterVersion) -> dict[str, Any]:
    """A version as data (JSON-ready): its content and difference decoded."""
    return {
        "id": row.id,
        "kind": row.kind,
        "key": row.key,
        "version": row.version,
        "status": row.status,
        "content": json.loads(row.content_json),
        "content_sha256": row.content_sha256,
        "difference": json.loads(row.diff_json),
        "source": row.source,
        "reason": row.reason,
        "proposed_by": row.proposed_by,
        "proposed_at": row.proposed_at,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
        "decision_reason": row.decision_reason,
        "approval_sha256": row.approval_sha256,
        "approval_key_id": row.approval_key_id,
        "approval_signature": row.approval_signature,
    }


def _latest(session: Session, kind: str, key: str) -> MasterVersion | None:
    return session.scalar(
        select(MasterVersion)
        .where(MasterVersion.kind == kind, MasterVersion.key == key)
        .order_by(MasterVersion.version.desc())
        .limit(1)
    )


def _current(session: Session, kind: str, key: str) -> MasterVersion | None:
    found = in_force(session, kind, key)
    return found[0] if found else None


# --- proposing and deciding ------------------------------------------------------------------


def propose(
    session: Session,
    actor: User,
    kind: str,
    key: str,
    content: Mapping[str, Any],
    reason: str,
    *,
    source: str = "proposed",
) -> MasterVersion:
    """A new version of document kind/key, status "proposed", once `validate` accepts it;
    content identical to the version in force is refused ("content": unchanged). The actor is
    a technician or pharmacist; nothing is used until a second person approves it."""
    require(actor, Action.PROPOSE_MASTER_CHANGE)
    reason = audit.required_reason(reason)
    if source not in SOURCES[:2]:
        raise MasterChangeRefused("source", source, "is not proposed or imported")
    content = dict(content) if isinstance(content, Mapping) else content
    validate(session, kind, key, content)
    return _add_version(session, actor.username, kind, key, content, reason, source)


def _add_version(
    session: Session,
    author: str,
    kind: str,
    key: str,
    content: dict[str, Any],
    reason: str,
    source: str,
    status: str = PROPOSED,
) -> MasterVersion:
    audit.lock_chain(session)  # one writer numbers versions at a time
    text = canonical_json(content)
    current = _current(session, kind, key)
    if current is not None and current.content_json == text:
        raise MasterChangeRefused(
            "content", f"{kind} {key}", f"is unchanged from version {current.version} in force"
        )
    latest = _latest(session, kind, key)
    compared = current or latest
    before = json.loads(compared.content_json) if compared is not None else None
    row = MasterVersion(
        kind=kind,
        key=key,
        version=(latest.version + 1) if latest is not None else 1,
        status=status,
        content_json=text,
        content_sha256=audit.sha256_text(text),
        diff_json=canonical_json(difference(before, content)),
        source=source,
        reason=reason,
        proposed_by=author,
        proposed_at=audit.utc_now(),
        decision_reason="",
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=author,
        action=f"master.{'propose' if status == PROPOSED else source}",
        entity="master",
        entity_id=row.id,
        old=None if current is None else {"version": current.version},
        new={
            "kind": kind,
            "key": key,
            "version": row.version,
            "status": status,
            "source": source,
            "content_sha256": row.content_sha256,
            "difference": json.loads(row.diff_json),
        },
        reason=reason,
    )
    return row


def approval_sha256(row: MasterVersion) -> str:
    """What the approver signs: the version, its content hash, who proposed and decided, when
    and why."""
    return audit.sha256_text(
        canonical_json(
            {
                "id": row.id,
                "kind": row.kind,
                "key": row.key,
                "version": row.version,
                "content_sha256": row.content_sha256,
                "proposed_by": row.proposed_by,
                "decided_by": row.decided_by,
                "decided_at": row.decided_at,
                "decision_reason": row.decision_reason,
            }
        )
    )


def _decide(
    row: MasterVersion, who: str, status: str, reason: str, *, at: str | None = None
) -> None:
    """Record a decision on the version; an approval gets the hash its approver signs."""
    row.status = status
    row.decided_by = who
    row.decided_at = at or audit.utc_now()
    row.decision_reason = reason
    if status == APPROVED:
        row.approval_sha256 = approval_sha256(row)


def _decidable(row: MasterVersion, user: User, verb: str) -> None:
    if row.status != PROPOSED:
        raise MasterChangeRefused("version", row.id, f"is {row.status}; only a proposal is {verb}")
    if user.username == row.proposed_by:
        raise NotPermitted(
            user.username,
            f"{verb[:-1]} master-file version {row.id} ({row.kind} {row.key})",
            "they proposed it (four eyes: a second person decides)",
        )


def approve(session: Session, version_id: int, signer: Signer, reason: str) -> MasterVersion:
    """Approve a proposal with the signer's key (their password checked by `admit_signer`, with
    APPROVAL_MEANING, in a transaction before this one): a pharmacist holding the control-site
    role who did not propose it. The content is validated again against what is in force now;
    the version in force becomes superseded, and batches are made with this one from now on."""
    require_control_site(signer.user, Action.APPROVE_MASTER_CHANGE)
    reason = audit.required_reason(reason)
    row = get_version(session, version_id, for_update=True)
    _decidable(row, signer.user, "approved")
    validate(session, row.kind, row.key, json.loads(row.content_json))
    audit.lock_chain(session)
    current = _current(session, row.kind, row.key)
    if current is not None:
        current.status = SUPERSEDED
    _decide(row, signer.username, APPROVED, reason)
    row.approval_key_id = signer.key.id
    row.approval_signature = signer.signed(APPROVAL_PURPOSE, row.approval_sha256 or "")
    session.flush()
    audit.append(
        session,
        actor=signer.username,
        action="master.approve",
        entity="master",
        entity_id=row.id,
        old={
            "status": PROPOSED,
            "superseded": None
            if current is None
            else {"id": current.id, "version": current.version},
        },
        new={
            "kind": row.kind,
            "key": row.key,
            "version": row.version,
            "status": APPROVED,
            "content_sha256": row.content_sha256,
            "approval_sha256": row.approval_sha256,
            "approval_signature": row.approval_signature,
            "user_key_id": row.approval_key_id,
        },
        reason=reason,
    )
    return row


def reject(session: Session, version_id: int, user: User, reason: str) -> MasterVersion:
    """Reject a proposal with a reason (the same people as approve it); what is in force stays."""
    require_control_site(user, Action.APPROVE_MASTER_CHANGE)
    reason = audit.required_reason(reason)
    row = get_version(session, version_id, for_update=True)
    _decidable(row, user, "rejected")
    _decide(row, user.username, REJECTED, reason)
    session.flush()
    audit.append(
        session,
        actor=user.username,
        action="master.reject",
        entity="master",
        entity_id=row.id,
        old={"status": PROPOSED},
        new={"kind": row.kind, "key": row.key, "version": row.version, "status": REJECTED},
        reason=reason,
    )
    return row


def approval_problem(session: Session, row: MasterVersion) -> str | None:
    """Why an approved or superseded version's approval does not check out (None when it does):
    its signature must verify against the approver's key over the approval as it is now."""
    if row.source == "first-start" and row.approval_signature is None:
        return None  # the fixtures taken in at first start: no person's password existed yet
    if row.approval_signature is None or row.approval_key_id is None:
        return "carries no approval signature"
    if approval_sha256(row) != row.approval_sha256:
        return "was altered after its approval"
    key = session.get(UserKey, row.approval_key_id)
    if key is None or key.username != row.decided_by:
        return f"names signing key {row.approval_key_id}, not {row.decided_by}'s"
    if not keys.verifies(
        keys.public_from_hex(key.public_key),
        APPROVAL_PURPOSE,
        row.approval_sha256 or "",
        row.approval_signature,
    ):
        return f"approval does not verify against {row.decided_by}'s key {key.id}"
    return None


def problems(session: Session) -> list[str]:
    """What is wrong with the stored master file (empty when whole): a version whose content
    no longer hashes to its recorded SHA-256, or whose approval does not verify."""
    found = []
    for row in session.scalars(select(MasterVersion).order_by(MasterVersion.id)):
        name = f"master file {row.kind} {row.key} v{row.version}"
        if audit.sha256_text(row.content_json) != row.content_sha256:
            found.append(f"{name}: content does not hash to {row.content_sha256}")
        if row.status in (APPROVED, SUPERSEDED):
            problem = approval_problem(session, row)
            if problem is not None:
                found.append(f"{name}: {problem}")
    return found


# --- first start and imports -----------------------------------------------------------------


def first_start(session: Session, folder: Path | None = None) -> list[MasterVersion]:
    """On a store with no master file: `folder` (default `catalog.fixtures_dir()`) as version 1
    of every document, approved, recorded as imported by the first admin at first start;
    [] when the store already has one (afterwards the folder is only an import source)."""
    if session.scalar(select(func.count()).select_from(MasterVersion)):
        return []
    audit.lock_chain(session)
    if session.scalar(select(func.count()).select_from(MasterVersion)):
        return []  # another process started first
    bundled = folder is None
    folder = folder or catalog.fixtures_dir()
    source = "the bundled fixtures/" if bundled else f"folder {folder.name}/"
    reason = f"first start: {source} imported as version 1"
    made = []
    for (kind, key), content in sorted(catalog.folder_documents(folder).items()):
        validate(session, kind, key, content, check_expiry=False)
        row = _add_version(
            session, FIRST_ADMIN, kind, key, content, reason, "first-start", status=APPROVED
        )
        _decide(row, FIRST_ADMIN, APPROVED, reason, at=row.proposed_at)
        made.append(row)
    session.flush()
    return made


def start(store: Store) -> None:
    """Run by the service and the store-opening commands as they open the store: the first
    start's import (`first_start`), in a transaction of its own."""
    with store.session() as session:
        first_start(session)


def _same_as_here(session: Session, kind: str, key: str, text: str) -> bool:
    """True when the document in force, or a proposal awaiting a decision, already says this."""
    rows = session.scalars(
        select(MasterVersion.content_json).where(
            MasterVersion.kind == kind,
            MasterVersion.key == key,
            MasterVersion.status.in_((APPROVED, PROPOSED)),
        )
    )
    return text in set(rows)


def _propose_all(
    session: Session,
    actor: User,
    documents: Mapping[tuple[str, str], Any],
    reason: str,
) -> ImportReport:
    require(actor, Action.PROPOSE_MASTER_CHANGE)
    reason = audit.required_reason(reason)
    report = ImportReport()
    for (kind, key), content in sorted(documents.items()):
        if _same_as_here(session, kind, key, canonical_json(content)):
            report.unchanged.append((kind, key))
            continue
        report.proposed.append(
            propose(session, actor, kind, key, content, reason, source="imported")
        )
    return report


def import_folder(session: Session, folder: Path, actor: User, reason: str) -> ImportReport:
    """Propose a new version of every document in a fixtures-style folder (drugs/, materials/,
    printers/ with identity/ and equipment/) that differs from this store's; documents already
    in force (or already proposed) as they are there are left. Proposals need approval."""
    if not folder.is_dir():
        raise MasterChangeRefused("folder", str(folder), "is not a folder")
    try:
        found = catalog.folder_documents(folder)
    except (DosingError, GcodeError, InputError) as exc:
        raise MasterChangeRefused(f"folder.{exc.field}", exc.value, exc.reason) from None
    if not found:
        raise MasterChangeRefused("folder", str(folder), "holds no master-file documents")
    return _propose_all(session, actor, found, reason)


@dataclass(frozen=True)
class SignedMasterFile:
    """An exported master file: `document` (JSON-ready), its canonical `text`, and `pdf()`."""

    document: dict[str, Any]

    @property
    def text(self) -> str:
        return canonical_json(self.document)

    @property
    def fingerprint(self) -> str:
        return str(self.document["signature"]["fingerprint"])

    def pdf(self) -> bytes:
        return export_pdf(self.document)


def _body_sha256(document: Mapping[str, Any]) -> str:
    return content_sha256({k: v for k, v in document.items() if k != "signature"})


def export(session: Session, key_dir: Path | None = None) -> SignedMasterFile:
    """Every approved version (with its approver's public key) as one document, signed by the
    service key over the SHA-256 of its canonical JSON; the public key and its fingerprint are
    in the document, for a regulator or another site to check it."""
    versions = []
    for row in in_force(session):
        described = describe(row)
        key = session.get(UserKey, row.approval_key_id) if row.approval_key_id else None
        described["approver_public_key"] = key.public_key if key is not None else None
        versions.append(described)
    if not versions:
        raise MasterChangeRefused("master", "(empty)", "has no approved version to export")
    body = {"format": EXPORT_FORMAT, "exported_at": audit.utc_now(), "versions": versions}
    service = keys.service_key(key_dir)
    public = keys.raw_public(service.private.public_key())
    digest = content_sha256(body)
    signature = {
        "algorithm": "Ed25519",
        "purpose": EXPORT_PURPOSE,
        "key_id": service.key_id,
        "public_key": public.hex(),
        "fingerprint": audit.sha256_text(public.hex()),
        "body_sha256": digest,
        "value": service.sign(EXPORT_PURPOSE, digest),
    }
    return SignedMasterFile({**body, "signature": signature})


def export_pdf(document: Mapping[str, Any]) -> bytes:
    """The exported master file as a PDF for the reader: each version, its content, approval."""
    from printmed.records.masterfile_pdf import master_file_pdf

    return master_file_pdf(document)


def check_signed(text: str | bytes, expected_fingerprint: str | None = None) -> dict[str, Any]:
    """The document of an exported master file once its format, each version's content hash and
    its signature (against the key it carries, and that key's fingerprint when one is expected)
    check out; SignedDocumentRefused naming what failed otherwise (a version whose content was
    altered by name, before the signature that would fail for it too)."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SignedDocumentRefused("document", "(unreadable)", f"is not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        shown = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise SignedDocumentRefused("format", shown, f"is not {EXPORT_FORMAT}")
    signature = document.get("signature")
    if not isinstance(signature, dict) or not all(
        isinstance(signature.get(k), str) for k in ("public_key", "fingerprint", "value")
    ):
        raise SignedDocumentRefused("signature", signature, "is missing or incomplete")
    public_hex = signature["public_key"]
    if audit.sha256_text(public_hex) != signature["fingerprint"]:
        raise SignedDocumentRefused(
            "signature.fingerprint", signature["fingerprint"], "is not that of the public key"
        )
    if expected_fingerprint is not None and signature["fingerprint"] != expected_fingerprint:
        raise SignedDocumentRefused(
            "signature.fingerprint",
            signature["fingerprint"],
            f"is not the expected signer's key {expected_fingerprint}",
        )
    versions = document.get("versions")
    if not isinstance(versions, list) or not versions:
        raise SignedDocumentRefused("versions", versions, "is not a list of versions")
    for index, version in enumerate(versions):
        if not isinstance(version, dict) or content_sha256(version.get("content")) != version.get(
            "content_sha256"
        ):
            raise SignedDocumentRefused(
                f"versions[{index}].content_sha256",
                version.get("content_sha256") if isinstance(version, dict) else None,
                "is not the hash of the version's content",
            )
    digest = _body_sha256(document)
    try:
        public = keys.public_from_hex(public_hex)
        valid = keys.verifies(public, EXPORT_PURPOSE, digest, signature["value"])
    except ValueError:
        valid = False
    if not valid:
        raise SignedDocumentRefused(
            "signature", signature["value"][:16] + "…", "does not verify: the document was altered"
        )
    return document


def import_signed(
    session: Session,
    text: str | bytes,
    actor: User,
    reason: str,
    *,
    expected_fingerprint: str | None = None,
) -> ImportReport:
    """Check an exported master file (`check_signed`), then propose each of its documents that
    differs from this site's, source "imported": a master file from elsewhere is used here only
    once a second person holding the control-site role here has approved each change."""
    document = check_signed(text, expected_fingerprint)
    found: dict[tuple[str, str], Any] = {}
    for index, version in enumerate(document["versions"]):
        kind, key = version.get("kind"), version.get("key")
        if not isinstance(kind, str) or not isinstance(key, str) or (kind, key) in found:
            raise SignedDocumentRefused(f"versions[{index}]", [kind, key], "is not one document")
        found[(kind, key)] = version["content"]
    fingerprint = document["signature"]["fingerprint"]
    reason = audit.required_reason(reason)
    return _propose_all(
        session,
        actor,
        found,
        f"{reason} (signed master file exported {document.get('exported_at')}, "
        f"key {fingerprint[:16]})",
    )
