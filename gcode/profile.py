"""Machine profiles: what a slicer must know of a printer (build volume, nozzle, process, limits).

Loaded from fixtures/printers/<id>.json; FDM feeds filament, SSE drives a syringe plunger.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gcode.errors import ProfileInvalid, refusal

MAX_SSE_TEMP_C = 80.0
PROFILES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "printers"


class MachineProfile(BaseModel):
    """One printer: geometry in mm, temperatures in °C, speeds in mm/s."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    process: Literal["fdm", "sse"]
    firmware: Literal["marlin"] = "marlin"
    build_volume_mm: tuple[float, float, float]
    nozzle_mm: float = Field(gt=0.05, le=3.0)
    line_width_mm: float = Field(gt=0.05, le=4.0)
    layer_height_mm: float = Field(gt=0.01, le=2.0)
    first_layer_height_mm: float = Field(gt=0.01, le=2.0)
    filament_diameter_mm: float | None = Field(default=None, gt=0.5, le=3.5)
    plunger_diameter_mm: float | None = Field(default=None, gt=1.0, le=60.0)
    max_nozzle_temp_c: float = Field(gt=0, le=450)
    max_bed_temp_c: float = Field(ge=0, le=150)
    print_speed_mm_s: float = Field(gt=0, le=500)
    first_layer_speed_mm_s: float = Field(gt=0, le=500)
    travel_speed_mm_s: float = Field(gt=0, le=1000)
    retraction_mm: float = Field(ge=0, le=20)
    retraction_speed_mm_s: float = Field(gt=0, le=200)
    z_hop_mm: float = Field(ge=0, le=20)
    relative_e: bool
    part_spacing_mm: float = Field(ge=0.5, le=100)
    gantry_clearance_mm: float = Field(default=0.0, ge=0, le=500)
    max_file_mb: float = Field(default=64.0, gt=0, le=2048)
    # The prime (purge line at the bed's front edge, laid before the first tablet). A profile
    # that states none primes nothing and its gate allows no prime: how much a nozzle oozes
    # or a syringe needs to build pressure is the printer's, and extruding on an unknown bed
    # edge is not a safe guess.
    prime_volume_mm3: float = Field(default=0.0, ge=0, le=500)
    prime_pressure_mm3: float = Field(default=0.0, ge=0, le=500)
    prime_width_mm: float | None = Field(default=None, gt=0.05, le=4.0)
    max_prime_volume_mm3: float = Field(default=0.0, ge=0, le=1000)
    start_gcode: tuple[str, ...]
    end_gcode: tuple[str, ...]

    @model_validator(mode="after")
    def _process_fields(self) -> MachineProfile:
        if any(not (0 < v <= 2000) for v in self.build_volume_mm):
            raise ValueError(f"build_volume_mm {list(self.build_volume_mm)} must be in (0, 2000]")
        if self.process == "fdm" and self.filament_diameter_mm is None:
            raise ValueError("an FDM printer needs filament_diameter_mm")
        if self.process == "sse":
            if self.plunger_diameter_mm is None:
                raise ValueError("an SSE printer needs plunger_diameter_mm")
            if self.max_nozzle_temp_c > MAX_SSE_TEMP_C:
                raise ValueError(
                    f"max_nozzle_temp_c {self.max_nozzle_temp_c:g} is above the SSE limit "
                    f"of {MAX_SSE_TEMP_C:g} °C"
                )
        if self.line_width_mm < self.nozzle_mm * 0.8:
            raise ValueError(f"line_width_mm {self.line_width_mm:g} is narrower than the nozzle")
        self._check_prime()
        return self

    def _check_prime(self) -> None:
        prime = self.prime_volume_mm3 + self.prime_pressure_mm3
        if prime > self.max_prime_volume_mm3:
            raise ValueError(
                f"prime_volume_mm3 + prime_pressure_mm3 ({prime:g}) is above "
                f"max_prime_volume_mm3 {self.max_prime_volume_mm3:g}"
            )
        if self.prime_pressure_mm3 > 0 and self.prime_volume_mm3 == 0:
            raise ValueError("prime_pressure_mm3 needs a prime line (prime_volume_mm3 above 0)")
        room = self.build_volume_mm[0] - 2 * self.part_spacing_mm
        if self.primes and self.prime_line_mm + self.prime_line_width_mm > room:
            raise ValueError(
                f"the prime line is {self.prime_line_mm:.1f} mm long and "
                f"{self.prime_line_width_mm:g} mm wide; the bed has {room:.1f} mm "
                "between its margins (lower prime_volume_mm3 or widen prime_width_mm)"
            )
        if self.prime_volume_mm3 > 0 and self.prime_band_mm > self.build_volume_mm[1] / 2:
            raise ValueError(f"the prime band of {self.prime_band_mm:g} mm is half the bed")

    @property
    def primes(self) -> bool:
        """Whether plates on this printer start with a prime line."""
        return self.prime_volume_mm3 > 0

    @property
    def prime_line_width_mm(self) -> float:
        return self.prime_width_mm or self.line_width_mm

    @property
    def prime_line_mm(self) -> float:
        """Length (mm) of the prime line: its volume over its cross-section (width × first
        layer height); 0 for none."""
        return self.prime_volume_mm3 / (self.prime_line_width_mm * self.first_layer_height_mm)

    @property
    def prime_band_mm(self) -> float:
        """Depth (mm) kept free of tablets at the bed's front edge for the prime line, beyond
        the edge margin: the line's width and the part spacing after it (0 without a prime)."""
        return self.prime_line_width_mm + self.part_spacing_mm if self.primes else 0.0

    def mm3_per_e(self, filament_diameter_mm: float | None = None) -> float:
        """Volume (mm³) that one unit of E deposits: filament or plunger cross-section area.

        FDM uses the lot's measured filament diameter when given, else the profile's.
        """
        if self.process == "sse":
            diameter = self.plunger_diameter_mm
        else:
            diameter = filament_diameter_mm or self.filament_diameter_mm
        assert diameter is not None  # guaranteed by the validator
        return math.pi * diameter * diameter / 4.0


def parse_profile(data: Any, source: str = "printer") -> MachineProfile:
    """Validate a profile's decoded JSON; a refusal names the source and the field."""
    try:
        return MachineProfile.model_validate(data)
    except ValidationError as exc:
        raise refusal(ProfileInvalid, exc, source) from None


def load_profile(name_or_path: str | Path, directory: Path = PROFILES_DIR) -> MachineProfile:
    """A profile by id (fixtures/printers/<id>.json) or by path to a JSON file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = directory / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.json"))
        raise ProfileInvalid("printer", str(name_or_path), f"is not a known profile {known}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileInvalid("printer", str(path.name), f"is not valid JSON ({exc})") from None
    return parse_profile(data, source=path.stem)
