"""Every table: users, batches, stored G-code, print progress, audit entries, signatures, signers'
keys, orders received, idempotent answers, staff sessions, sign-in attempts and API clients.

Times are ISO-8601 UTC text so that a hashed value reads back byte for byte on every database.
Audit entries, signatures and G-code programs are append-only (triggers in the migrations);
entries and signatures also carry Ed25519 signatures by keys the database does not hold.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[str] = mapped_column(String(40))
    locked_at: Mapped[str | None] = mapped_column(String(40), default=None)
    locked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # printmed.store.models.Site; the control-site role (approves master-file changes, sees
    # every site's batches) is held beside the pharmacy role
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", name="fk_users_site_id"), index=True, default=1, server_default="1"
    )
    control_site: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Batch(Base):
    """A batch in the making; every change of a column here is also an audit entry.

    The table keeps its first name, `jobs`, so stores made before the rename need no migration.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_number: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    printer: Mapped[str] = mapped_column(String(64), index=True)
    profile_id: Mapped[str] = mapped_column(String(64))
    prescription_json: Mapped[str] = mapped_column(Text)
    formulation_json: Mapped[str] = mapped_column(Text)
    dose_json: Mapped[str | None] = mapped_column(Text)
    design_json: Mapped[str | None] = mapped_column(Text)
    gate_json: Mapped[str | None] = mapped_column(Text)
    gcode_sha256: Mapped[str | None] = mapped_column(ForeignKey("gcode_programs.sha256"))
    parameters_json: Mapped[str | None] = mapped_column(Text)
    firmware_json: Mapped[str | None] = mapped_column(Text)
    stream_report_json: Mapped[str | None] = mapped_column(Text)
    weights_json: Mapped[str | None] = mapped_column(Text)
    qc_json: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
    # The physical printer's serial, recorded at the claim (`printer` then names that printer).
    printer_serial: Mapped[str | None] = mapped_column(String(64), default=None)
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", name="fk_jobs_site_id"), index=True, default=1, server_default="1"
    )
    # the master-file versions the batch was made with: {kind: {key, version, id, sha256}}
    master_pins_json: Mapped[str | None] = mapped_column(Text, default=None)


class StoredGcode(Base):
    """A G-code text, stored once under its SHA-256."""

    __tablename__ = "gcode_programs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    lines: Mapped[int] = mapped_column(Integer)


class PrintProgress(Base):
    """Telemetry of the print in progress, rewritten as lines are acknowledged.

    It survives a crash of the service: recovery reads the last acknowledged line from here.
    """

    __tablename__ = "print_progress"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    lines_total: Mapped[int] = mapped_column(Integer, default=0)
    lines_sent: Mapped[int] = mapped_column(Integer, default=0)
    lines_acknowledged: Mapped[int] = mapped_column(Integer, default=0)
    last_acknowledged_line: Mapped[int] = mapped_column(Integer, default=0)
    temperatures_json: Mapped[str] = mapped_column(Text, default="[]")
    updated_at: Mapped[str] = mapped_column(String(40))


class AuditEntry(Base):
    """One change: who, what (entity, action, old and new values), when and why.

    entry_hash = SHA-256 over the canonical JSON of every other column, prev_hash included.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_entity_id", "entity", "entity_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    batch_number: Mapped[str | None] = mapped_column(String(32), index=True)
    old_json: Mapped[str] = mapped_column(Text)
    new_json: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Ed25519 by the service key `key_id` over entry_hash (printmed.keys); NULL only on entries
    # written before migration 0004, which a signed checkpoint must then cover.
    key_id: Mapped[str | None] = mapped_column(String(16), default=None)
    service_signature: Mapped[str | None] = mapped_column(String(128), default=None)


class Signature(Base):
    """An e-signature: who (printed name), when, meaning, and the hash of what was signed."""

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_number: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[str] = mapped_column(String(40))
    through_seq: Mapped[int] = mapped_column(Integer)
    record_hash: Mapped[str] = mapped_column(String(64))
    signature_hash: Mapped[str] = mapped_column(String(64))
    # Ed25519 over signature_hash by the signer's key `user_key_id` (a `user_keys` row); NULL
    # only on signatures made before migration 0004.
    user_key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    digital_signature: Mapped[str | None] = mapped_column(String(128), default=None)


class UserKey(Base):
    """A signer's Ed25519 key pair: the private key sealed under their password (scrypt n, r, p;
    AES-GCM), the public key certified by the service key `service_key_id`. Rows are kept when
    retired (password reset), so every signature ever made stays verifiable."""

    __tablename__ = "user_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    sealed_private_key: Mapped[str] = mapped_column(Text)
    kdf_salt: Mapped[str] = mapped_column(String(64))
    kdf_n: Mapped[int] = mapped_column(Integer)
    kdf_r: Mapped[int] = mapped_column(Integer)
    kdf_p: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(40))
    retired_at: Mapped[str | None] = mapped_column(String(40), default=None)
    service_key_id: Mapped[str] = mapped_column(String(16))
    certificate: Mapped[str] = mapped_column(String(128))


class Order(Base):
    """One accepted prescription: `id` is also the FHIR MedicationRequest and Task id.

    source: "native" or "fhir"; resource_json: the stored MedicationRequest (FHIR orders).
    """

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    prescription_id: Mapped[str] = mapped_column(String(128), index=True)
    resource_json: Mapped[str | None] = mapped_column(Text)
    batch_number: Mapped[str] = mapped_column(ForeignKey("jobs.batch_number"), unique=True)
    received_from: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[str] = mapped_column(String(40))


class IdempotentAnswer(Base):
    """The first answer to a creating POST, replayed for a retry with the same key and body."""

    __tablename__ = "idempotent_answers"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


class StaffSession(Base):
    """A signed-in staff member: `kind` is "cookie" (pages) or "bearer" (API use).

    Times are ISO-8601 UTC text; the session ends `session_idle_minutes` after last_seen_at.
    """

    __tablename__ = "staff_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[str] = mapped_column(String(40))
    last_seen_at: Mapped[str] = mapped_column(String(40))
    ended_at: Mapped[str | None] = mapped_column(String(40))


class SignInAttempt(Base):
    """One staff sign-in attempt on the pages, the API or the token endpoint, and its outcome.

    outcome: "accepted", "wrong_password", "unknown_user", "inactive", "throttled" or "locked".
    """

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_username_at", "username", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    username: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(24))


class ApiClient(Base):
    """A prescribing system allowed the OAuth2 client-credentials grant, with its scopes."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", name="fk_api_clients_site_id"),
        index=True,
        default=1,
        server_default="1",
    )


class RegisteredPrinter(Base):
    """A physical printer in the register (printmed.jobs.register): its profile, serial,
    location, connection, status, calibration due date and the batch its line is cleared for.

    connection: "sim", "usb" (usb_port, usb_baud) or "octoprint" (octoprint_url and the API
    key sealed with AES-GCM under a key derived from the service key, outside the database).
    status: "in_service", "out_of_service" or "calibration_due"; every change is an audit entry.
    """

    __tablename__ = "printers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    location: Mapped[str] = mapped_column(String(200))
    connection: Mapped[str] = mapped_column(String(16))
    usb_port: Mapped[str | None] = mapped_column(String(255), default=None)
    usb_baud: Mapped[int | None] = mapped_column(Integer, default=None)
    octoprint_url: Mapped[str | None] = mapped_column(String(255), default=None)
    octoprint_key_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    calibration_due_on: Mapped[str | None] = mapped_column(String(10), default=None)
    cleared_batch: Mapped[str | None] = mapped_column(String(32), default=None)
    cleared_lot: Mapped[str | None] = mapped_column(String(64), default=None)
    cleared_by: Mapped[str | None] = mapped_column(String(64), default=None)
    cleared_at: Mapped[str | None] = mapped_column(String(40), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", name="fk_printers_site_id"),
        index=True,
        default=1,
        server_default="1",
    )


class PrinterCalibration(Base):
    """One calibration of a registered printer: the checks (what, measured, expected, passed),
    the result ("pass" or "fail"), who and when, and the date the next one is due."""

    __tablename__ = "printer_calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    printer_id: Mapped[int] = mapped_column(ForeignKey("printers.id"), index=True)
    checks_json: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(8))
    performed_by: Mapped[str] = mapped_column(String(64))
    performed_at: Mapped[str] = mapped_column(String(40))
    next_due_on: Mapped[str | None] = mapped_column(String(10), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")


class LotStockEntry(Base):
    """One movement of a material lot's stock (printmed.jobs.stock): a receipt (grams in, by
    whom and why) or a use (grams drawn for a batch when it is queued). Remaining = Σ grams."""

    __tablename__ = "lot_stock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    grams: Mapped[float] = mapped_column(Float)
    batch_number: Mapped[str | None] = mapped_column(String(32), default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", name="fk_lot_stock_site_id"),
        index=True,
        default=1,
        server_default="1",
    )


class LotCalibration(Base):
    """A calibration factor for a lot on a printer (printmed.records.calibration): proposed
    from a fit of weighed mass on programmed volume, then approved (or declined) by a second
    pharmacist. status: "proposed", "approved", "declined" or "superseded"."""

    __tablename__ = "lot_calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    printer: Mapped[str] = mapped_column(String(64))
    profile_id: Mapped[str] = mapped_column(String(64))
    factor_before: Mapped[float] = mapped_column(Float)
    factor: Mapped[float] = mapped_column(Float)
    fit_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[str] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[str | None] = mapped_column(String(40), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    # the approver's Ed25519 signature (their `user_keys` row) over the approval's SHA-256
    approval_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    approval_key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    approval_signature: Mapped[str | None] = mapped_column(String(128), default=None)


class Pharmacy(Base):
    """The pharmacy's name and address as an admin set them (printmed.records.pharmacy): one
    row (id 1); the environment's PRINTMED_PHARMACY_NAME, when set, wins over it."""

    __tablename__ = "pharmacy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(200))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[str] = mapped_column(String(40))


class Site(Base):
    """A place that makes batches to the master file (a hospital pharmacy, a clinic, a mobile
    unit). Site 1 ("main") is made by the migration; `control` marks the control site that
    holds the master file. On SQLite there is one site; several share one PostgreSQL."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    control: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))


class MasterVersion(Base):
    """One version of one master-file document (kind "product", "lot", "profile" or
    "process"; key its id): canonical JSON and its SHA-256, the difference from the version
    before, who proposed or imported it (source "proposed", "imported" or "first-start") and
    why, and the decision of a second person holding the control-site role, signed with their
    Ed25519 key (`user_keys`) over approval_sha256. status: "proposed", "approved", "rejected"
    or "superseded"; only an approved version is ever used to make a batch."""

    __tablename__ = "master_versions"
    __table_args__ = (
        UniqueConstraint("kind", "key", "version", name="uq_master_versions_kind_key_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), index=True)
    content_json: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    diff_json: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[str] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[str | None] = mapped_column(String(40), default=None)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    approval_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    approval_key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    approval_signature: Mapped[str | None] = mapped_column(String(128), default=None)
