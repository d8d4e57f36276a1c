"""Split one G-code line into its command and words: the independent reader's rule for a line.

Knows nothing of how printmed writes G-code: comments after `;` or in parentheses, an `N`
line number and a `*` checksum are accepted; anything else that is not a letter and a number is
malformed. The reader's array scan (gcode.scan) reads plain lines itself and leaves every line
it is not certain of to this function, so a refusal's reason is always worded here. One word
is text: an `M486` line's `A`, the name of an object, bare to the end of the line as
PrusaSlicer writes it for Marlin (`M486 Aprime`) or quoted as for RepRapFirmware
(`M486 S3 A"cube copy 3"`); a bare name cannot start with a digit, a sign or a point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
_PAREN = re.compile(r"\([^)]*\)")
_BARE_NAME = re.compile(r"^((?:[Nn]\s*\d+\s+)?[Mm]0*486(?:\s[^\"]*?)??)\s[Aa]([^\d\s+\-.\"].*)$")
_QUOTED_NAME = re.compile(r"^((?:[Nn]\s*\d+\s+)?[Mm]0*486(?:\s.*)?)\s[Aa]\s*$")


@dataclass(frozen=True)
class Words:
    """A parsed line: `command` like "G1" or "M486" ("" for none) and its numeric words."""

    command: str
    values: dict[str, float]
    comment: str
    text_argument: str
    object_name: str | None = None  # an M486 line's `A` word


class Malformed(ValueError):
    """A line that is not G-code; the reason names the offending text."""


def split_line(raw: str) -> Words | None:
    """Words of one line; None for a blank or comment-only line; Malformed if unreadable."""
    fast = _split_plain(raw)
    if fast is not None:
        return fast
    code, _, comment = raw.partition(";")
    if "(" in code:
        code = _PAREN.sub(" ", code)
    code = code.strip()
    if not code:
        return None if not comment and not raw.strip() else Words("", {}, comment.strip(), "")
    if "*" in code:
        code = code.split("*", 1)[0].strip()
    text_argument = ""
    object_name = None
    bare = _BARE_NAME.match(code)
    if bare:
        code, object_name = bare.group(1), bare.group(2).rstrip()
    elif '"' in code:
        head, _, rest = code.partition('"')
        text_argument, _, tail = rest.partition('"')
        quoted = _QUOTED_NAME.match(head)
        if quoted:
            head, object_name, text_argument = quoted.group(1), text_argument, ""
        code = f"{head} {tail}"
    pos = 0
    found: list[tuple[str, str]] = []
    for match in _WORD.finditer(code):
        gap = code[pos : match.start()]
        if gap.strip():
            raise Malformed(f"unreadable text {gap.strip()!r}")
        found.append((match.group(1).upper(), match.group(2)))
        pos = match.end()
    if code[pos:].strip():
        raise Malformed(f"unreadable text {code[pos:].strip()!r}")
    if found and found[0][0] == "N":
        found = found[1:]
    if not found or found[0][0] not in "GMT":
        raise Malformed(f"no G, M or T command in {code!r}")
    letter, number = found[0]
    if "." in number and letter != "G":
        raise Malformed(f"command {letter}{number} is not a whole number")
    command = f"{letter}{float(number):g}"
    values: dict[str, float] = {}
    for key, value in found[1:]:
        if key in values:
            raise Malformed(f"word {key} given twice")
        values[key] = float(value)
    return Words(command, values, comment.strip(), text_argument, object_name)


def _split_plain(raw: str) -> Words | None:
    """The common case without comments, checksums or quotes, by str.split; None otherwise."""
    if not raw or any(c in raw for c in ';(*"N'):
        return None
    tokens = raw.split()
    if not tokens or len(tokens[0]) < 2 or tokens[0][0] not in "GM":
        return None
    try:
        head = tokens[0]
        if "." in head and head[0] != "G":
            return None
        values = {}
        for token in tokens[1:]:
            key = token[0].upper()
            if not key.isalpha() or key in values:
                return None
            values[key] = float(token[1:])
        command = f"{head[0]}{float(head[1:]):g}"
    except (ValueError, IndexError):
        return None
    if not all(_is_plain_number(t[1:]) for t in tokens):
        return None
    return Words(command, values, "", "")


def _is_plain_number(text: str) -> bool:
    # float() also takes "nan", "inf" and "1e5", which are not G-code numbers
    return bool(text) and text.lstrip("+-").replace(".", "", 1).isdigit()
