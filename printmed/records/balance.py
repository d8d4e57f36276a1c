"""Unit weights from a serial balance that prints stable readings as `S S     0.12530 g` lines
(MT-SICS and the many balances that copy it); `ST,+0.12530 g` (A&D style) is read too.

Unstable (`S D`) readings are skipped; an error reply (`S I`, `S +`, `S -`, `ES`…) is refused.
"""

from __future__ import annotations

import re
import time

import serial

from printmed.records.errors import BalanceError

_STABLE = re.compile(r"^(?:S\s+S|ST,(?:GS,)?)\s*([+-]?\d+(?:\.\d+)?)\s*(mg|g)\s*$")
_UNSTABLE = re.compile(r"^(?:S\s+D|US,)")
_ERROR = re.compile(r"^(?:S\s+[I+\-]|ES|EL|ET|OL)")
MG_PER = {"g": 1000.0, "mg": 1.0}


def parse_reading(line: str) -> float | None:
    """The mass in mg of a stable reading, None for an unstable one or noise; errors raise."""
    text = line.strip()
    stable = _STABLE.match(text)
    if stable:
        return float(stable.group(1)) * MG_PER[stable.group(2)]
    if _ERROR.match(text):
        raise BalanceError("balance", text, "reported an error (overload, underload or busy)")
    return None


def read_weights(
    port: str,
    count: int,
    *,
    baud: int = 9600,
    unit_timeout_s: float = 120.0,
    request: bool = False,
) -> list[float]:
    """`count` stable readings (mg) from the balance on `port`, one per unit as it is printed.

    Each unit may take up to `unit_timeout_s` (the technician places it and presses Print).
    `request`: ask for each reading with MT-SICS `S` (send stable weight) instead of waiting
    for the balance's Print key (a balance cabled for host requests, the simulated balance).
    """
    try:
        link = serial.serial_for_url(port, baudrate=baud, timeout=0.2)
    except (serial.SerialException, ValueError) as exc:
        raise BalanceError("--balance", port, f"cannot be opened ({exc})") from None
    weights: list[float] = []
    buffer = b""
    deadline = time.monotonic() + unit_timeout_s
    try:
        if request:
            link.write(b"S\r\n")
        while len(weights) < count:
            if time.monotonic() > deadline:
                raise BalanceError(
                    "balance",
                    port,
                    f"sent no stable reading for unit {len(weights) + 1} "
                    f"within {unit_timeout_s:g} s",
                )
            buffer += link.read(256)
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                mass = parse_reading(raw.decode("ascii", "replace"))
                if mass is None:
                    continue
                if mass <= 0:
                    raise BalanceError(f"unit {len(weights) + 1}", mass, "mg is not a mass")
                weights.append(mass)
                deadline = time.monotonic() + unit_timeout_s
                if len(weights) == count:
                    break
                if request:
                    link.write(b"S\r\n")
    finally:
        link.close()
    return weights
