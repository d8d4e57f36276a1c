"""What crosses the wire for a batch record: its fields, QC of unit weights, signatures, audit
trail, corrections, deviations, integrity, and the print's progress.

Built from what the records service returns (`load_record`, `verify_records`, `qc_of`) or from
the rows; values recorded free-form (a trail entry's old and new values) stay as stored.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from dosing.uniformity import AcceptanceValue, MassUniformity
from printmed.api.wire import DoseGateView
from printmed.jobs.states import BatchState


class QcFigures(BaseModel):
    """QC of unit weights of one strength: estimated content per unit, 2.9.5 and 2.9.40."""

    units_weighed: int
    units_in_batch: int
    dose_mg: float | None = Field(description="the dose one unit holds (None: per step)")
    drug_fraction: float = Field(description="mg of drug per mg printed: loading × assay")
    target_unit_mass_mg: float | None = Field(description="None for a schedule: per step")
    weights_mg: list[float]
    contents_mg: list[float]
    contents_percent: list[float] = Field(description="each unit's, in % of its own dose")
    mass_uniformity: MassUniformity | None = Field(description="None for a schedule: per step")
    acceptance_value: AcceptanceValue | None = Field(description="None for a schedule: per step")
    reduced_sample: bool = Field(description="fewer than 10 units: for the pharmacist to judge")
    unit_limits: dict[str, Any] | None = Field(
        None, description="fewer than 10 units: every unit within 85–115 % of its dose"
    )
    passed: bool


class StepQcView(QcFigures):
    """One schedule step's units (first_unit..last_unit in plate order) against its dose."""

    step: int
    first_unit: int
    last_unit: int


class QcView(QcFigures):
    """QC of unit weights; a schedule's is assessed step by step and passes if every step does."""

    steps: list[StepQcView] | None = None


class RecordedWeights(BaseModel):
    weights_mg: list[float]
    source: str = Field(description="manual or the balance's name")


class RecordedFields(BaseModel):
    """Every recorded column of the batch, JSON columns decoded (named as in the table)."""

    batch_number: str
    state: BatchState
    printer: str
    profile_id: str
    prescription_json: dict[str, Any]
    formulation_json: dict[str, Any] = Field(description="the lot as recorded")
    dose_json: dict[str, Any] | None
    design_json: dict[str, Any] | None
    gate_json: DoseGateView | None
    gcode_sha256: str | None
    parameters_json: dict[str, Any] | None = Field(description="process parameters")
    firmware_json: dict[str, Any] | None = Field(description="the printer's identity")
    stream_report_json: dict[str, Any] | None = Field(description="what the printer acknowledged")
    weights_json: RecordedWeights | None
    qc_json: QcView | None
    claimed_by: str | None
    created_by: str
    created_at: str


class RecordedProgress(BaseModel):
    """How far the print went: lines of G-code sent and acknowledged by the printer."""

    model_config = ConfigDict(from_attributes=True)

    lines_total: int
    lines_sent: int
    lines_acknowledged: int
    last_acknowledged_line: int
    updated_at: str


# One temperature sample: seconds into the print, then per heater [actual °C, target °C].
TemperatureSample = tuple[float, dict[str, tuple[float, float]]]


class PrintProgressView(RecordedProgress):
    """Telemetry of the print: lines acknowledged by the printer, temperatures sampled."""

    temperatures: list[TemperatureSample] = Field(
        validation_alias=AliasChoices("temperatures", "temperatures_json"),
        description="[elapsed_s, {heater: [actual_c, target_c]}] samples",
    )

    @field_validator("temperatures", mode="before")
    @classmethod
    def _decoded(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class RecordedSignature(BaseModel):
    """An e-signature: who signed, meaning what, and the hash of the record as it stood."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    printed_name: str
    meaning: str
    signed_at: str
    through_seq: int = Field(description="the last trail entry the signature covers")
    record_hash: str
    signature_hash: str


class SignatureView(RecordedSignature):
    batch_number: str


class TrailEntryView(BaseModel):
    """One audit entry, its old and new values decoded."""

    seq: int
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str
    batch_number: str | None
    old: Any = Field(description="the values before, as recorded")
    new: Any = Field(description="the values after, as recorded")
    reason: str
    entry_hash: str


class CorrectionView(BaseModel):
    """A value entered again after it was first recorded: who, when, why and what changed."""

    seq: int
    at: str
    actor: str
    old: Any
    new: Any
    reason: str
    changed: str = Field(description="the changed leaves, `path: old → new`")


class DeviationView(BaseModel):
    """What went differently from the master file, recorded with a reason."""

    seq: int
    at: str
    actor: str
    description: str
    state: str = Field(description="the batch's state when it was recorded")
    reason: str


class ChainView(BaseModel):
    """The audit chain walked: intact, or the first broken entry and why."""

    intact: bool
    entries: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None


class IntegrityView(BaseModel):
    """Whether the record is whole: the chain, and this batch's rows against the trail."""

    intact: bool
    chain: ChainView
    problems: list[str]


class BatchRecordView(BaseModel):
    """The batch record: fields, corrections, deviations, QC, signatures, trail, integrity."""

    batch_number: str
    fields: RecordedFields
    gcode_lines: int | None
    progress: RecordedProgress | None
    signatures: list[RecordedSignature]
    trail: list[TrailEntryView]
    corrections: dict[str, list[CorrectionView]] = Field(
        description="per column, the values after the first"
    )
    deviations: list[DeviationView]
    integrity: IntegrityView
