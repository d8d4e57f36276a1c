"""A G-code program as the host streams it: commands, their file lines, layers and extrusion.

`GcodeProgram.from_text(text)` keeps every command (comments and blanks dropped) in file order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from printers.errors import ProgramRefused
from printers.framing import carries_extrusion, clean, encode_command

_LAYER_COMMENT = re.compile(r";\s*(LAYER:|LAYER_CHANGE|layer\s+\d)", re.IGNORECASE)
_Z_WORD = re.compile(r"(?:^|\s)Z(-?[0-9.]+)")


@dataclass(frozen=True)
class GcodeProgram:
    """Commands to send, with for each (same length): 1-based file line, layer index, extrusion.

    `layers` is the number of layers (layer comments when the slicer writes them, else Z rises).
    """

    name: str
    commands: tuple[str, ...]
    file_lines: tuple[int, ...]
    layer_of: tuple[int, ...]
    extrudes: tuple[bool, ...]

    @property
    def layers(self) -> int:
        return (self.layer_of[-1] + 1) if self.layer_of else 0

    @property
    def extrusion_lines(self) -> int:
        return sum(self.extrudes)

    def __len__(self) -> int:
        return len(self.commands)

    @functools.cached_property
    def encoded(self) -> tuple[tuple[bytes, int], ...]:
        """Each command's ASCII bytes and their XOR, computed once for every link that sends it."""
        return tuple(map(encode_command, self.commands))

    @classmethod
    def from_text(cls, text: str, name: str = "program") -> GcodeProgram:
        raw_lines = text.splitlines()
        has_layer_comments = any(_LAYER_COMMENT.search(r) for r in raw_lines)
        commands: list[str] = []
        file_lines: list[int] = []
        layer_of: list[int] = []
        extrudes: list[bool] = []
        layer, highest_z, seen_layer_mark = 0, float("-inf"), False
        for number, raw in enumerate(raw_lines, start=1):
            if has_layer_comments and _LAYER_COMMENT.search(raw):
                if seen_layer_mark:
                    layer += 1
                seen_layer_mark = True
            command = clean(raw)
            if not command:
                continue
            if not has_layer_comments and command[:2].upper() in ("G0", "G1"):
                z = _Z_WORD.search(command.upper())
                if z and float(z.group(1)) > highest_z:
                    if highest_z != float("-inf"):
                        layer += 1
                    highest_z = float(z.group(1))
            commands.append(command)
            file_lines.append(number)
            layer_of.append(layer)
            extrudes.append(carries_extrusion(command))
        return cls(name, tuple(commands), tuple(file_lines), tuple(layer_of), tuple(extrudes))

    @classmethod
    def from_file(cls, path: str | Path) -> GcodeProgram:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ProgramRefused("file", str(file), f"cannot be read ({exc.strerror})") from exc
        program = cls.from_text(text, name=file.name)
        if not program.commands:
            raise ProgramRefused("file", str(file), "holds no G-code command")
        return program
