"""What a Marlin-family printer says, one line at a time, as typed replies.

`parse(line)` never raises: anything it does not know is `Other`, kept for the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ADVANCED_OK = re.compile(r"^ok\s+N(\d+)\s+P(\d+)\s+B(\d+)")
_RESEND = re.compile(r"^(?:Resend|rs)\s*:?\s*N?(\d+)", re.IGNORECASE)
_TEMP = re.compile(r"\b(T\d?|B|C):\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(-?\d+(?:\.\d+)?))?")
_FATAL = ("halted", "kill", "thermal runaway", "maxtemp", "mintemp", "heating failed")


@dataclass(frozen=True)
class Temperatures:
    """Heater readings in °C: `{"T0": (actual_c, target_c), "B": (...)}`; target 0 means off."""

    readings_c: tuple[tuple[str, float, float], ...]

    def get(self, heater: str) -> tuple[float, float] | None:
        for name, actual_c, target_c in self.readings_c:
            if name == heater:
                return actual_c, target_c
        return None

    @property
    def nozzle_c(self) -> float | None:
        reading = self.get("T0") or self.get("T")
        return reading[0] if reading else None

    @property
    def bed_c(self) -> float | None:
        reading = self.get("B")
        return reading[0] if reading else None

    def describe(self) -> str:
        return " ".join(f"{n}:{a:.0f}/{t:.0f}°C" for n, a, t in self.readings_c)


@dataclass(frozen=True)
class Ok:
    """`ok`, with ADVANCED_OK's line number and free planner/command slots when offered."""

    line_number: int | None
    planner_free: int | None
    buffer_free: int | None
    temperatures: Temperatures | None


@dataclass(frozen=True)
class Resend:
    """`Resend: n` / `rs n`: the printer holds every line before n and wants n again."""

    line_number: int


@dataclass(frozen=True)
class Busy:
    """`echo:busy: processing` (or `paused for user`): alive, still working on a command."""

    text: str


@dataclass(frozen=True)
class TemperatureReport:
    """An autoreport (`M155`) or the heating progress of M109/M190, without `ok`."""

    temperatures: Temperatures


@dataclass(frozen=True)
class Action:
    """A host action command (`//action:pause`, `//action:cancel`, ...)."""

    name: str


@dataclass(frozen=True)
class Start:
    """The boot banner `start`: the printer has (re)started and forgotten everything."""


@dataclass(frozen=True)
class ErrorReply:
    """An `Error:` line; `fatal` when the firmware has halted (kill, thermal runaway)."""

    text: str
    fatal: bool


@dataclass(frozen=True)
class Other:
    """Any other text (M115 output, echo lines, `wait`), kept for the caller that asked."""

    text: str


Reply = Ok | Resend | Busy | TemperatureReport | Action | Start | ErrorReply | Other


def parse_temperatures(text: str) -> Temperatures | None:
    """The heater readings in a line like `T:200.0 /200.0 B:60.0 /60.0 @:64`, or None."""
    readings: list[tuple[str, float, float]] = []
    for name, actual, target in _TEMP.findall(text):
        heater = "T0" if name == "T" else name
        if any(heater == seen for seen, _, _ in readings):
            continue
        readings.append((heater, float(actual), float(target) if target else 0.0))
    return Temperatures(tuple(readings)) if readings else None


def parse(line: str) -> Reply:
    """One reply line (without its newline) as a typed reply."""
    text = line.strip()
    lower = text.lower()
    if lower == "start":
        return Start()
    if lower.startswith("ok"):
        if len(text) > 2 and not text[2].isspace():
            return Other(text)
        advanced = _ADVANCED_OK.match(text)
        rest = text[advanced.end() :] if advanced else text[2:]
        temps = parse_temperatures(rest) if "T:" in rest else None
        if advanced:
            n, p, b = (int(g) for g in advanced.groups())
            return Ok(n, p, b, temps)
        return Ok(None, None, None, temps)
    resend = _RESEND.match(text)
    if resend:
        return Resend(int(resend.group(1)))
    if lower.startswith("error"):
        return ErrorReply(text, any(word in lower for word in _FATAL))
    if lower.startswith("!!"):
        return ErrorReply(text, True)
    if lower.startswith("//action:"):
        return Action(text[len("//action:") :].strip().split(" ", 1)[0].lower())
    if "busy" in lower and (lower.startswith("echo:busy") or lower.startswith("busy")):
        return Busy(text)
    if "T:" in text and text.lstrip().startswith(("T:", "T0:", "B:")):
        temps = parse_temperatures(text)
        if temps:
            return TemperatureReport(temps)
    return Other(text)
