"""Formulations: a material lot (drug-loaded filament or paste) with its assay and process window.

Drug content per mm³ is what turns a dose into a volume:
content_mg_mm3 = density_g_cm3 (= mg/mm³) × loading w/w × assay × calibration factor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dosing.errors import MISSING, FormulationRefused

Process = Literal["fdm", "sse"]
MAX_SSE_TEMP_C = 80.0


class DrugLimits(BaseModel):
    """A drug's formulary maxima (master data), mg: per kg per dose and per day, and the adult
    maximum per dose and per day, which no dose passes whatever the weight.

    source: where the figures come from (the fixtures say plainly that theirs are illustrative).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    drug_name: str = Field(min_length=1)
    drug_code: str | None = None
    max_mg_per_kg_per_dose: float = Field(gt=0, le=1_000)
    max_mg_per_kg_per_day: float = Field(gt=0, le=5_000)
    max_mg_per_dose: float = Field(gt=0, le=10_000)
    max_mg_per_day: float = Field(gt=0, le=100_000)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _day_not_below_dose(self) -> DrugLimits:
        if self.max_mg_per_day < self.max_mg_per_dose:
            raise ValueError("max_mg_per_day is below max_mg_per_dose")
        if self.max_mg_per_kg_per_day < self.max_mg_per_kg_per_dose:
            raise ValueError("max_mg_per_kg_per_day is below max_mg_per_kg_per_dose")
        return self

    def describes(self, drug_name: str, drug_code: str | None) -> bool:
        """True when these are the limits of the named drug (by code when both have one)."""
        return same_drug(self.drug_name, self.drug_code, drug_name, drug_code)


def parse_drug_limits(data: Any, source: str = "drug") -> DrugLimits:
    """Validate a drug's limits (already decoded); refusals name the source and the field."""
    return _parsed(DrugLimits, data, source)


M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], data: Any, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"])
        where = f"{source}.{field}" if field else source
        value = MISSING if error["type"] == "missing" else error.get("input")
        raise FormulationRefused(where, value, f"is invalid ({error['msg']})") from None


def same_drug(name: str, code: str | None, other_name: str, other_code: str | None) -> bool:
    """One drug: by code when both have one (a coded order matches on the code), else by name."""
    if code is not None and other_code is not None:
        return code == other_code
    return name.strip().lower() == other_name.strip().lower()


class Formulation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=64)
    description: str = ""
    drug_name: str = Field(min_length=1)
    drug_code: str | None = None
    process: Process
    excipients: str = Field(min_length=1)
    lot: str = Field(min_length=1)
    manufacturer: str = Field(min_length=1)
    expiry: dt.date = Field(strict=False)
    assay_percent: float | None = Field(default=None, gt=50, le=150)
    loading_percent_w_w: float = Field(gt=0, le=100)
    density_g_cm3: float = Field(gt=0.3, le=3.0)
    dose_step_mg: float = Field(gt=0, le=100)
    calibration_factor: float = Field(default=1.0, gt=0.5, lt=1.5)
    # FDM filament
    filament_diameter_mm: float | None = Field(default=None, gt=0.5, le=3.5)
    nozzle_temp_c: tuple[float, float] | None = Field(default=None, strict=False)
    # SSE paste
    syringe_ml: float | None = Field(default=None, gt=0, le=100)
    paste_temp_c: float | None = Field(default=None, ge=15, le=MAX_SSE_TEMP_C)
    bed_temp_c: float = Field(default=0.0, ge=0, le=110)
    # The drug's formulary maxima, attached by the catalog from its drugs/ master data (never
    # written in a lot's file); a lot without them is not dosed.
    drug_limits: DrugLimits | None = None

    @model_validator(mode="after")
    def _process_fields(self) -> Formulation:
        if self.process == "fdm":
            if self.filament_diameter_mm is None:
                raise ValueError("an FDM lot needs filament_diameter_mm")
            if self.nozzle_temp_c is None:
                raise ValueError("an FDM lot needs nozzle_temp_c [min, max]")
            low, high = self.nozzle_temp_c
            if not 60 <= low <= high <= 300:
                raise ValueError(f"nozzle_temp_c {list(self.nozzle_temp_c)} is not a window")
        elif self.paste_temp_c is None:
            raise ValueError("an SSE lot needs paste_temp_c (at most 80 °C)")
        if self.drug_limits is not None and not self.drug_limits.describes(
            self.drug_name, self.drug_code
        ):
            raise ValueError(f"drug_limits are those of {self.drug_limits.drug_name}")
        return self

    def limits(self) -> DrugLimits:
        """The drug's formulary maxima; a lot without them is refused (nothing to hold to)."""
        if self.drug_limits is None:
            raise FormulationRefused(
                f"formulation {self.id}",
                self.drug_name,
                "has no drug limits on file (maximum per dose and per day): add them to the "
                "master data before dosing",
            )
        return self.drug_limits

    @property
    def drug_mg_per_mm3(self) -> float:
        """Drug content of the printed material, mg per mm³ (needs an assay)."""
        if self.assay_percent is None:
            raise FormulationRefused(f"{self.id}.assay_percent", None, "is missing")
        return (
            self.density_g_cm3
            * self.loading_percent_w_w
            / 100.0
            * self.assay_percent
            / 100.0
            * self.calibration_factor
        )

    def check_usable(self, on: dt.date) -> None:
        """Refuse a lot that is expired on `on` or has no assay."""
        if self.assay_percent is None:
            raise FormulationRefused(f"formulation {self.id}", self.lot, "has no assay result")
        if self.expiry < on:
            raise FormulationRefused(
                f"formulation {self.id}", self.lot, f"expired on {self.expiry.isoformat()}"
            )

    def check_carries(self, drug_name: str, drug_code: str | None) -> None:
        """Refuse a lot whose drug is not the prescribed one."""
        if not same_drug(self.drug_name, self.drug_code, drug_name, drug_code):
            raise FormulationRefused(
                "formulation",
                self.id,
                f"carries {self.drug_name} ({self.drug_code}), "
                f"not the prescribed {drug_name} ({drug_code})",
            )


def parse_formulation(data: Any, source: str = "formulation") -> Formulation:
    """Validate a lot's JSON (already decoded); refusals name the source and the field."""
    return _parsed(Formulation, data, source)
