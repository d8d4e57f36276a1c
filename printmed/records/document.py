"""A PDF page set up for records and labels: a Unicode font when the system has one.

DejaVu Sans (Debian's fonts-dejavu-core) prints µ, ², ≤ and names in any script; without it
the PDF falls back to Helvetica and characters outside Latin-1 become '?'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/local/share/fonts"))


def _font_file(name: str) -> Path | None:
    for folder in FONT_DIRS:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


class Document(FPDF):
    """An FPDF with `font(size, bold)` and `text(...)` that survive any character."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        regular, bold = _font_file("DejaVuSans.ttf"), _font_file("DejaVuSans-Bold.ttf")
        self.unicode = regular is not None and bold is not None
        if self.unicode:
            self.add_font("Body", "", str(regular))
            self.add_font("Body", "B", str(bold))
        self.set_creator("printmed")

    def font(self, size_pt: float, bold: bool = False) -> None:
        self.set_font("Body" if self.unicode else "Helvetica", "B" if bold else "", size_pt)

    def safe(self, value: Any) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")
