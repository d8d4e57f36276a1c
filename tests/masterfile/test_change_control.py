"""A change to the master file is used only once a second person holding the control-site
role approved it; every batch pins (and keeps) the versions it was made with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from printmed import catalog
from printmed.auth.rules import NotPermitted
from printmed.auth.users import AuthenticationFailed
from printmed.jobs import service
from printmed.records import masterfile, screening
from printmed.records.batch_record import load_record
from printmed.records.pharmacy import Pharmacy
from printmed.records.record_pdf import batch_record_pdf
from printmed.records.signatures import admit_signer, authenticate_signer
from printmed.settings import load_settings
from printmed.store import Store
from printmed.store.models import AuditEntry, Batch, MasterVersion
from tests.masterfile.builders import (
    LOT,
    approve,
    control_site_staff,
    lot_content,
    made_batch,
    pins,
    propose,
)
from tests.records.builders import PASSWORD


def _volume(batch: Batch) -> float:
    return float(json.loads(batch.design_json or "{}")["volume_mm3"])


def test_first_start_makes_version_1_of_every_fixture_approved_by_the_first_admin(
    store: Store,
) -> None:
    with store.read_session() as session:
        rows = masterfile.in_force(session)
    assert {(r.kind, r.key) for r in rows} == set(catalog.folder_documents(catalog.fixtures_dir()))
    assert {(r.version, r.status, r.source, r.proposed_by, r.decided_by) for r in rows} == {
        (1, "approved", "first-start", "admin", "admin")
    }
    with store.session() as session:  # a second start imports nothing
        assert masterfile.first_start(session) == []


def test_a_lot_change_is_used_only_after_approval_and_earlier_batches_keep_their_version(
    store: Store,
) -> None:
    users = control_site_staff(store)
    before = made_batch(store, users["tech"], rx_id="RX-BEFORE")
    assert pins(before)["lot"]["version"] == 1

    proposal = propose(
        store, users["tech"], "lot", LOT, lot_content(store, loading_percent_w_w=12.5)
    )
    unapproved = made_batch(store, users["tech"], rx_id="RX-WHILE-PROPOSED")
    assert pins(unapproved)["lot"]["version"] == 1  # a proposal is never used
    assert _volume(unapproved) == pytest.approx(_volume(before))

    approved = approve(store, proposal)
    assert (approved.version, approved.status, approved.decided_by) == (2, "approved", "pharm")
    after = made_batch(store, users["tech"], rx_id="RX-AFTER")
    assert pins(after)["lot"] == {
        "key": LOT,
        "version": 2,
        "id": proposal,
        "sha256": approved.content_sha256,
    }
    # the same dose in 12.5 % w/w instead of 10 % w/w: 10/12.5 of the volume
    assert _volume(after) == pytest.approx(_volume(before) * 10 / 12.5, rel=1e-9)
    assert json.loads(after.formulation_json)["loading_percent_w_w"] == 12.5

    with store.read_session() as session:
        record = load_record(session, before.batch_number)
        history = masterfile.history(session, "lot", LOT)
    assert record.fields["master_pins_json"]["lot"]["version"] == 1
    assert record.fields["formulation_json"]["loading_percent_w_w"] == 10.0
    assert [(r.version, r.status) for r in history] == [(1, "superseded"), (2, "approved")]
    assert json.loads(history[1].diff_json) == [
        {"path": "loading_percent_w_w", "before": 10.0, "after": 12.5}
    ]


def test_the_author_of_a_change_cannot_approve_it(store: Store) -> None:
    users = control_site_staff(store)
    proposal = propose(store, users["pharm"], "lot", LOT, lot_content(store, assay_percent=97.0))
    with pytest.raises(NotPermitted, match="they proposed it"):
        approve(store, proposal, approver="pharm")
    with store.read_session() as session:
        assert masterfile.get_version(session, proposal).status == "proposed"


def test_a_pharmacist_without_the_control_site_role_cannot_approve(store: Store) -> None:
    users = control_site_staff(store)
    proposal = propose(store, users["tech"], "lot", LOT, lot_content(store, assay_percent=97.0))
    with pytest.raises(NotPermitted, match="control-site role"):
        approve(store, proposal, approver="pharm2")
    with pytest.raises(NotPermitted, match="control-site role"), store.session() as session:
        masterfile.reject(session, proposal, users["pharm2"], "no")


def test_a_wrong_password_at_approval_goes_through_the_sign_in_defence(store: Store) -> None:
    control_site_staff(store)
    with pytest.raises(AuthenticationFailed):
        admit_signer(
            store,
            load_settings().sign_in,
            "pharm",
            "not the password",
            masterfile.APPROVAL_MEANING,
            address="test",
            channel="cli",
        )
    with store.read_session() as session:
        counted = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "master.approve")
        )
    assert counted == 0


def test_a_rejected_change_is_never_used(store: Store) -> None:
    users = control_site_staff(store)
    proposal = propose(store, users["tech"], "lot", LOT, lot_content(store, assay_percent=97.0))
    with store.session() as session:
        row = masterfile.reject(session, proposal, users["pharm"], "assay not on the certificate")
        assert row.status == "rejected"
    with store.read_session() as session:
        assert catalog.master_from_store(session).formulation(LOT).assay_percent == 98.6
    with pytest.raises(masterfile.MasterChangeRefused, match="only a proposal"):
        approve(store, proposal)


def test_a_batch_whose_version_was_superseded_while_it_waited_is_refused_at_queueing(
    store: Store,
) -> None:
    users = control_site_staff(store)
    waiting = made_batch(store, users["tech"], rx_id="RX-WAITING")
    with store.session() as session:
        signer = authenticate_signer(session, "pharm2", PASSWORD, "screened")
        screening.screen(session, waiting.batch_number, signer, "dose checked")
    approve(
        store, propose(store, users["tech"], "lot", LOT, lot_content(store, assay_percent=97.0))
    )
    with pytest.raises(catalog.MasterVersionSuperseded) as refused, store.session() as session:
        service.queue(session, service.get_batch(session, waiting.batch_number), users["tech"])
    assert refused.value.field == "master_pins.lot"
    assert refused.value.value == f"{LOT} v1"
    assert "superseded; version 2 is in force" in refused.value.reason
    with store.read_session() as session:
        assert service.get_batch(session, waiting.batch_number).state == "screened"


def test_records_verify_catches_a_master_version_edited_in_the_database(store: Store) -> None:
    users = control_site_staff(store)
    batch = made_batch(store, users["tech"])
    with store.session() as session:
        assert masterfile.problems(session) == []
        row = session.get(MasterVersion, pins(batch)["lot"]["id"])
        assert row is not None
        row.content_json = row.content_json.replace(
            '"loading_percent_w_w":10.0', '"loading_percent_w_w":11.0'
        )
    from printmed.records.integrity import verify_records

    with store.read_session() as session:
        report = verify_records(session)
    assert not report.intact
    assert any(
        f"{batch.batch_number}: master file lot {LOT} v1: master_versions" in p
        for p in report.problems
    )
    assert any(f"master file lot {LOT} v1: content does not hash" in p for p in report.problems)


def test_a_batch_made_from_the_fixtures_folder_is_not_recorded(store: Store) -> None:
    users = control_site_staff(store)
    from dosing.prescription import parse_prescription
    from printmed.jobs.making import record_gated_batch
    from printmed.manufacture import manufacture
    from tests.records.builders import PRESCRIPTION

    gated = manufacture(
        parse_prescription({**PRESCRIPTION, "units": 2}),
        "fdm-pharma-04",
        master=catalog.fixtures_master(),
    )
    refused = pytest.raises(catalog.MasterFileRefused, match="not the approved master file")
    with refused, store.session() as session:
        record_gated_batch(session, users["tech"], gated, printer="fdm-pharma-04")
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0


def test_on_sqlite_and_postgresql_an_approved_change_is_pinned_and_the_old_one_not_queued(
    started_any_store: Store,
) -> None:
    store = started_any_store
    users = control_site_staff(store)
    waiting = made_batch(store, users["tech"], rx_id="RX-PG-WAITING")
    with store.session() as session:
        signer = authenticate_signer(session, "pharm2", PASSWORD, "screened")
        screening.screen(session, waiting.batch_number, signer, "dose checked")
    content = lot_content(store, loading_percent_w_w=12.5)
    approve(store, propose(store, users["tech"], "lot", LOT, content))
    assert pins(made_batch(store, users["tech"], rx_id="RX-PG-AFTER"))["lot"]["version"] == 2
    with pytest.raises(catalog.MasterVersionSuperseded), store.session() as session:
        service.queue(session, service.get_batch(session, waiting.batch_number), users["tech"])


def test_the_record_pdf_names_the_pinned_versions(store: Store, tmp_path: Path) -> None:
    users = control_site_staff(store)
    batch = made_batch(store, users["tech"])
    with store.read_session() as session:
        record = load_record(session, batch.batch_number)
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(batch_record_pdf(record, Pharmacy("Test pharmacy", "1 Test Street", "unset")))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    lot = pins(batch)["lot"]
    assert "Master file versions" in flat
    assert f"lot {LOT} v1 (id {lot['id']}), SHA-256 {lot['sha256']}" in flat
    assert "profile fdm-pharma-04 v1" in flat and "product propranolol v1" in flat
