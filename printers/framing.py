"""Marlin line framing: `N<n> <command>*<xor>` out, comment stripping, and what a line does.

Pure functions on text; the checksum is the XOR of every byte before the `*`. A program's
commands are encoded once (`encode_command`), so framing a line costs only its number.
"""

from __future__ import annotations

import re

_MOVE = re.compile(r"^G[0-3](?:\s|$|[A-Z])")
_E_WORD = re.compile(r"(?:^|\s)E-?[0-9.]")
_CODE = re.compile(r"([GMTgmt])(\d+)")

# Commands that legitimately hold the `ok` for a long time, and the most they may take (s).
LONG_COMMAND_LIMIT_S: dict[str, float] = {
    "M109": 1800.0,
    "M190": 1800.0,
    "M191": 1800.0,
    "M303": 1800.0,
    "G28": 300.0,
    "G29": 900.0,
    "M400": 600.0,
    "M600": 3600.0,
}


def checksum(text: bytes) -> int:
    """XOR of the bytes, as Marlin computes it over `N<n> <command>`."""
    value = 0
    for byte in text:
        value ^= byte
    return value


def encode_command(command: str) -> tuple[bytes, int]:
    """The command's ASCII bytes and their XOR: the part of a frame that is the same for
    every line number it may be sent as."""
    body = command.encode("ascii", errors="replace")
    return body, checksum(body)


def frame_encoded(line_number: int, body: bytes, body_xor: int) -> bytes:
    """The frame of an `encode_command` result as line `line_number`, newline included."""
    head = b"N%d " % line_number
    return b"%s%s*%d\n" % (head, body, checksum(head) ^ body_xor)


def frame(line_number: int, command: str) -> bytes:
    """The bytes to send for `command` as line `line_number`, newline included."""
    return frame_encoded(line_number, *encode_command(command))


def clean(raw: str) -> str:
    """The command in a G-code file line: comment, checksum and surrounding blanks removed."""
    text = raw.split(";", 1)[0].strip()
    if text.startswith("N") and "*" in text:
        # a line that was already framed: keep only its command
        text = text.split("*", 1)[0].split(None, 1)[-1] if " " in text else ""
    return text.replace("*", "").strip()


def code_of(command: str) -> str:
    """The G/M/T code of a command, upper-case (`g1 x2` → `G1`), or '' when there is none."""
    match = _CODE.match(command)
    return f"{match.group(1).upper()}{int(match.group(2))}" if match else ""


def carries_extrusion(command: str) -> bool:
    """True for a G0–G3 move with an E word: a line whose loss or doubling changes the dose."""
    upper = command.upper()
    return bool(_MOVE.match(upper)) and bool(_E_WORD.search(upper[2:]))


def dwell_s(command: str) -> float:
    """The seconds a G4 dwell holds the `ok` (P in ms, S in s); 0 for anything else."""
    upper = command.upper()
    if code_of(upper) != "G4":
        return 0.0
    match = re.search(r"([PS])(\d+(?:\.\d*)?)", upper[2:])
    if not match:
        return 0.0
    value = float(match.group(2))
    return value / 1000.0 if match.group(1) == "P" else value
