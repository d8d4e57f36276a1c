"""The exported master file as a PDF, for a regulator or another site to read: every approved
version with its content, hash, approval and signature, and the service key that signed it all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fpdf.enums import XPos, YPos

from printmed.records.document import Document


class MasterFilePdf(Document):
    def __init__(self, document: Mapping[str, Any]) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.document = document
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title("Point-of-care master file")

    def footer(self) -> None:
        self.set_y(-12)
        self.font(7)
        fingerprint = self.document["signature"]["fingerprint"]
        self.cell(
            0,
            5,
            self.safe(f"signed by service key {fingerprint[:16]}…; page {self.page_no()}/{{nb}}"),
            align="C",
        )

    def line_of(self, text: str, size: float = 8.5, bold: bool = False) -> None:
        self.font(size, bold)
        self.multi_cell(0, 4.2, self.safe(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _content_lines(content: Any, prefix: str = "") -> list[str]:
    """One `path: value` line per leaf; lists of plain values on one line."""
    if isinstance(content, dict):
        return [
            line
            for key in sorted(content)
            for line in _content_lines(content[key], f"{prefix}.{key}" if prefix else key)
        ]
    if isinstance(content, list) and any(isinstance(v, dict | list) for v in content):
        return [
            line
            for index, value in enumerate(content)
            for line in _content_lines(value, f"{prefix}[{index}]")
        ]
    return [f"{prefix}: {json.dumps(content, ensure_ascii=False)}"]


def master_file_pdf(document: Mapping[str, Any]) -> bytes:
    """A signed master-file document (`masterfile.export`) rendered for reading."""
    pdf = MasterFilePdf(document)
    pdf.alias_nb_pages()
    pdf.add_page()
    signature = document["signature"]
    pdf.line_of("Point-of-care master file", 14, bold=True)
    pdf.line_of(f"Exported {document['exported_at']} ({document['format']})")
    pdf.line_of(
        f"Signed with Ed25519 by service key {signature['key_id']}; public key "
        f"{signature['public_key']}; fingerprint (SHA-256) {signature['fingerprint']}; "
        f"over body SHA-256 {signature['body_sha256']}"
    )
    pdf.line_of(f"Signature {signature['value']}", 7)
    pdf.ln(2)
    for version in document["versions"]:
        pdf.ln(2)
        pdf.line_of(f"{version['kind']} {version['key']} — version {version['version']}", 11, True)
        pdf.line_of(f"content SHA-256 {version['content_sha256']}")
        pdf.line_of(
            f"proposed by {version['proposed_by']} at {version['proposed_at']} "
            f"({version['source']}): {version['reason']}"
        )
        pdf.line_of(
            f"approved by {version['decided_by']} at {version['decided_at']}: "
            f"{version['decision_reason']}"
        )
        if version.get("approval_signature"):
            pdf.line_of(
                f"approval {version['approval_sha256']} signed {version['approval_signature']} "
                f"(key {version.get('approver_public_key')})",
                7,
            )
        for line in _content_lines(version["content"]):
            pdf.line_of(line, 7.5)
    return bytes(pdf.output())
