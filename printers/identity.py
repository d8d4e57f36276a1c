"""Who a printer must be, and whether the one on the line is it: machine type and firmware.

A profile's expected identity is compared with what the connected printer reports (Marlin's
M115 `MACHINE_TYPE` and `FIRMWARE_NAME`; OctoPrint's printer profile model and the firmware
name OctoPrint read from M115).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PrinterIdentity:
    """machine_type: exactly what the printer reports; firmware: how its firmware name begins."""

    machine_type: str
    firmware: str

    @classmethod
    def reported_in(cls, fields: Mapping[str, str]) -> PrinterIdentity:
        """What a connected printer says it is, from its firmware fields (`FirmwareInfo.fields`:
        `MACHINE_TYPE`, and the whole `FIRMWARE_NAME`)."""
        return cls(str(fields.get("MACHINE_TYPE", "")), str(fields.get("FIRMWARE_NAME", "")))

    def differences(self, reported: PrinterIdentity) -> list[str]:
        """What `reported` gets wrong of this expected identity; empty when it is this printer."""
        found = []
        if reported.machine_type != self.machine_type:
            found.append(f"machine type {reported.machine_type!r} is not {self.machine_type!r}")
        if not self.firmware or not reported.firmware.startswith(self.firmware):
            found.append(f"firmware {reported.firmware!r} does not begin with {self.firmware!r}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
