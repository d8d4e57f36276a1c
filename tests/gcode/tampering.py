"""G-code altered after the writer, as the dose gate must refuse it: one tablet's E scaled.

Imported as tests.gcode.tampering by the gate's tests (the plate, the job service, the API).
"""

from __future__ import annotations

import re

_E_WORD = re.compile(r" E(-?\d+(?:\.\d*)?)")


def scale_tablet_e(text: str, label: int, factor: float) -> str:
    """`text` with every E step inside `M486 S<label>` multiplied by `factor`; the rest of the
    program extrudes as written (absolute E positions shift so that their steps stay)."""
    relative, inside = False, False
    e_read = e_written = 0.0
    lines = []
    for line in text.splitlines():
        code, sep, comment = line.partition(";")
        words = code.split()
        command = words[0] if words else ""
        found = _E_WORD.search(code)
        if command in ("M82", "M83"):
            relative = command == "M83"
        elif command == "M486" and words[1].startswith("S"):
            inside = words[1] == f"S{label}"
        elif command == "G92" and found:
            e_read = e_written = float(found[1])
        elif command in ("G0", "G1") and found:
            value = float(found[1])
            step = value if relative else value - e_read
            e_read = e_read + value if relative else value
            step *= factor if inside else 1.0
            e_written += step
            decimals = len(found[1].partition(".")[2])
            word = f" E{step if relative else e_written:.{decimals}f}"
            line = code[: found.start()] + word + code[found.end() :] + sep + comment
        lines.append(line)
    return "\n".join(lines) + "\n"
