"""Who the printer is, from its `M115` answer: firmware name, protocol, and capabilities.

`FirmwareInfo.from_m115(lines)` reads `FIRMWARE_NAME:... PROTOCOL_VERSION:...` and `Cap:X:1`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_FIELD = re.compile(r"([A-Z_]+):(.*?)(?=\s+[A-Z_]+:|$)")


@dataclass(frozen=True)
class FirmwareInfo:
    """Identity and capabilities; `advanced_ok` is whether `ok N P B` was seen on this link."""

    name: str
    fields: dict[str, str] = field(default_factory=dict)
    capabilities: dict[str, bool] = field(default_factory=dict)
    advanced_ok: bool = False
    command_slots: int = 1

    @classmethod
    def from_m115(cls, lines: Iterable[str]) -> FirmwareInfo:
        fields: dict[str, str] = {}
        capabilities: dict[str, bool] = {}
        for line in lines:
            text = line.strip()
            if text.startswith("Cap:"):
                _, name, *value = text.split(":")
                capabilities[name.strip().upper()] = bool(value) and value[0].strip() == "1"
            elif "FIRMWARE_NAME:" in text:
                fields.update((k, v.strip()) for k, v in _FIELD.findall(text))
        return cls(fields.get("FIRMWARE_NAME", "unknown"), fields, capabilities)

    @property
    def machine_type(self) -> str:
        """The machine the firmware says it drives (M115 `MACHINE_TYPE`), "" when not said."""
        return self.fields.get("MACHINE_TYPE", "")

    def has(self, capability: str) -> bool:
        return self.capabilities.get(capability.upper(), False)

    def describe(self) -> str:
        caps = ", ".join(sorted(k for k, v in self.capabilities.items() if v)) or "none"
        window = f"ok N P B, {self.command_slots} slots" if self.advanced_ok else "plain ok"
        return f"{self.name} ({window}; capabilities: {caps})"
