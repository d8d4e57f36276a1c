"""The master file travels as one document signed by the service key: another site checks the
signature, takes the documents as proposals, approves them, and makes the very same G-code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from printmed.records import masterfile
from printmed.store import Store, open_store
from tests.masterfile.builders import (
    LOT,
    approve,
    changed_and_approved,
    control_site_staff,
    lot_content,
    made_batch,
)


def _exported(store: Store) -> masterfile.SignedMasterFile:
    with store.read_session() as session:
        return masterfile.export(session)


def test_a_master_file_exported_and_approved_at_a_fresh_site_makes_the_same_gcode(
    store: Store, tmp_path: Path
) -> None:
    control = control_site_staff(store)
    changed_and_approved(
        store, control["tech"], "lot", LOT, lot_content(store, loading_percent_w_w=12.5)
    )
    signed = _exported(store)
    here = made_batch(store, control["tech"], units=3)

    other = open_store(f"sqlite:///{tmp_path / 'other' / 'printmed.sqlite'}")  # no first start
    try:
        staff = control_site_staff(other)
        with other.session() as session:
            report = masterfile.import_signed(session, signed.text, staff["tech"], "from control")
        assert len(report.proposed) == len(signed.document["versions"]) == 10
        assert {r.source for r in report.proposed} == {"imported"}
        for row in report.proposed:  # each needs approval at this site
            approve(other, row.id)
        there = made_batch(other, staff["tech"], units=3)
    finally:
        other.dispose()
    assert there.gcode_sha256 == here.gcode_sha256
    pinned_here, pinned_there = (json.loads(b.master_pins_json or "") for b in (here, there))
    assert {k: p["sha256"] for k, p in pinned_here.items()} == {
        k: p["sha256"] for k, p in pinned_there.items()
    }


def test_importing_what_is_already_in_force_proposes_nothing(store: Store) -> None:
    users = control_site_staff(store)
    with store.session() as session:
        report = masterfile.import_signed(session, _exported(store).text, users["tech"], "again")
    assert report.proposed == [] and len(report.unchanged) == 10


def test_the_pdf_shows_every_version_and_the_signing_key(store: Store, tmp_path: Path) -> None:
    signed = _exported(store)
    pdf = tmp_path / "master-file.pdf"
    pdf.write_bytes(signed.pdf())
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Point-of-care master file" in text
    assert "lot propranolol-pva-10" in text and "profile fdm-pharma-04" in text
    assert signed.fingerprint[:16] in text.replace("\n", "")


@pytest.mark.parametrize(
    ("tamper", "field"),
    [
        ("content", "versions[0].content_sha256"),
        ("content_and_hash", "signature"),
        ("signature", "signature"),
        ("public_key", "signature.fingerprint"),
        ("format", "format"),
    ],
)
def test_an_altered_signed_master_file_is_refused_naming_what_failed(
    store: Store, tamper: str, field: str
) -> None:
    users = control_site_staff(store)
    document = json.loads(_exported(store).text)
    version = document["versions"][0]
    if tamper.startswith("content"):
        version["content"]["assay_percent"] = 120.0
        if tamper == "content_and_hash":
            version["content_sha256"] = masterfile.content_sha256(version["content"])
    elif tamper == "signature":
        value = document["signature"]["value"]
        document["signature"]["value"] = ("0" if value[0] != "0" else "1") + value[1:]
    elif tamper == "public_key":
        document["signature"]["public_key"] = "00" * 32
    else:
        document["format"] = "something-else/1"
    with pytest.raises(masterfile.SignedDocumentRefused) as refused, store.session() as session:
        masterfile.import_signed(session, json.dumps(document), users["tech"], "tampered")
    assert refused.value.field == field
    with store.read_session() as session:
        assert masterfile.pending(session) == []


def test_an_unexpected_signing_key_is_refused(store: Store) -> None:
    users = control_site_staff(store)
    text = _exported(store).text
    refused = pytest.raises(masterfile.SignedDocumentRefused, match="expected signer")
    with refused, store.session() as session:
        masterfile.import_signed(session, text, users["tech"], "x", expected_fingerprint="ab" * 32)
