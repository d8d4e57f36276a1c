"""Reconciliation and the lot's stock: units planned, printed, weighed, rejected and released;
the material a batch draws from its lot at queueing; refusals that name the lot and amounts and
change nothing; a release with unaccounted units refused."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from printmed.auth.users import NotPermitted
from printmed.cli import main
from printmed.errors import InputError
from printmed.jobs import service, stock
from printmed.jobs.states import IllegalTransition
from printmed.records.batch_record import load_record
from printmed.records.pharmacy import pharmacy_of
from printmed.records.reconciliation import Unreconciled, reconcile, reject_units, tablet_closes
from printmed.records.record_pdf import batch_record_pdf
from printmed.records.release import release
from printmed.records.signatures import admit_signer
from printmed.records.weighing import record_weights
from printmed.settings import SignInPolicy, load_settings
from printmed.store import Store, open_store
from printmed.store.models import AuditEntry, LotStockEntry
from tests.records.builders import (
    FIRMWARE,
    FORMULATION,
    PASSWORD,
    add_users,
    good_weights,
    printed_job,
    queued_job,
    screened_job,
)

LOT = FORMULATION["lot"]  # LOT-TEST-001, the test batches' lot (on file once a batch names it)
CATALOG_LOT = "PVA-PRL-2611-A"  # fixtures/materials/propranolol-pva-10.json
# 10 tablets of 12.5 mg at 0.125 mg/mm³: 100 mm³ each, 1.25 mg/mm³ × 1000 mm³ = 1.25 g
BATCH_G = 1.25


def _receive(
    store: Store,
    user,
    grams: float,
    reason: str = "delivery note 4711",
    lot: str = LOT,
) -> None:
    with store.session() as session:
        stock.receive(session, user, lot, grams, reason)


def _ledger(store: Store, lot: str = LOT) -> stock.LotLedger:
    with store.session() as session:
        return stock.ledger(session, lot)


def _entries(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _release(store: Store, batch: str, username: str = "pharm") -> None:
    signer = admit_signer(
        store, SignInPolicy(), username, PASSWORD, "released", address="10.1.0.7", channel="page"
    )
    with store.session() as session:
        release(session, batch, signer)


def test_a_receipt_is_on_the_lot_ledger_with_who_and_why(store: Store) -> None:
    users = add_users(store, "tech")
    _receive(store, users["tech"], 250.0, lot="propranolol-pva-10")  # the formulation's id
    ledger = _ledger(store, CATALOG_LOT)
    assert (ledger.received_g, ledger.used_g, ledger.remaining_g) == (250.0, 0.0, 250.0)
    assert ledger.entries[0]["actor"] == "tech"
    assert ledger.entries[0]["reason"] == "delivery note 4711"
    with store.session() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last is not None and (last.action, last.entity_id) == ("stock.receipt", CATALOG_LOT)


@pytest.mark.parametrize(
    ("grams", "reason", "field"),
    [
        (0.0, "delivery", "grams"),
        (-5.0, "delivery", "grams"),
        (math.nan, "delivery", "grams"),
        (1e9, "delivery", "grams"),
        (10.0, "  ", "reason"),
    ],
)
def test_a_bad_receipt_is_refused_naming_the_field_and_records_nothing(
    store: Store, grams: float, reason: str, field: str
) -> None:
    users = add_users(store, "tech")
    before = _entries(store)
    with pytest.raises(InputError) as refused:
        _receive(store, users["tech"], grams, reason, lot=CATALOG_LOT)
    assert refused.value.field == field
    assert _entries(store) == before and _ledger(store, CATALOG_LOT).entries == ()


def test_a_lot_not_on_file_is_refused_naming_it(store: Store) -> None:
    users = add_users(store, "tech")
    with pytest.raises(InputError, match=r"^lot: 'PVA-PRL-2611-X' is not a lot on file"):
        _receive(store, users["tech"], 10.0, lot="PVA-PRL-2611-X")
    assert _ledger(store, "PVA-PRL-2611-X").entries == ()


def test_an_admin_receives_no_stock(store: Store) -> None:
    users = add_users(store, "boss")
    with pytest.raises(NotPermitted):
        _receive(store, users["boss"], 10.0, lot=CATALOG_LOT)
    assert _ledger(store, CATALOG_LOT).entries == ()


def test_before_any_receipt_a_batch_is_queued_without_drawing_stock(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = queued_job(store, users["tech"])
    with store.session() as session:
        assert service.get_batch(session, batch).state == "queued"
        assert stock.issued_for(session, batch) == 0.0


def test_queueing_draws_the_batch_material_from_its_lot(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = screened_job(store, users["tech"])
    _receive(store, users["tech"], 10.0)
    with store.session() as session:
        service.queue(session, service.get_batch(session, batch), users["tech"])
    ledger = _ledger(store)
    assert ledger.used_g == pytest.approx(BATCH_G, rel=0.01)
    assert ledger.remaining_g == pytest.approx(10.0 - BATCH_G, rel=0.01)
    assert ledger.entries[-1]["batch_number"] == batch
    assert ledger.entries[-1]["kind"] == "use"
    # drawn: every tablet's read-back volume and the prime line's, × the lot's 1.25 mg/mm³
    with store.session() as session:
        gate = service.column_value(service.get_batch(session, batch), "gate_json")
    tablets_mm3 = sum(t["gcode_volume_mm3"] for t in gate["tablets"])
    assert gate["prime_volume_mm3"] == pytest.approx(8.0, abs=1e-4)
    assert ledger.used_g == pytest.approx((tablets_mm3 + gate["prime_volume_mm3"]) * 1.25e-3)


def test_a_batch_rejected_while_queued_gives_its_draw_back_and_only_its_own(
    store: Store,
) -> None:
    users = add_users(store, "tech", "pharm")
    kept, given_back = screened_job(store, users["tech"]), screened_job(store, users["tech"])
    _receive(store, users["tech"], 10.0)
    with store.session() as session:
        for batch in (kept, given_back):
            service.queue(session, service.get_batch(session, batch), users["tech"])
    assert _ledger(store).used_g == pytest.approx(2 * BATCH_G, rel=0.01)
    with store.session() as session:
        job = service.get_batch(session, given_back)
        service.reject(session, job, users["pharm"], "prescription changed on the ward")
    ledger = _ledger(store)
    assert ledger.used_g == pytest.approx(BATCH_G, rel=0.01)
    assert ledger.remaining_g == pytest.approx(10.0 - BATCH_G, rel=0.01)
    assert (ledger.entries[-1]["kind"], ledger.entries[-1]["batch_number"]) == (
        "return",
        given_back,
    )
    with store.session() as session:
        assert stock.issued_for(session, given_back) == pytest.approx(0.0, abs=1e-12)
        assert stock.issued_for(session, kept) == pytest.approx(BATCH_G, rel=0.01)
        # a second rejection is refused by the state machine and gives nothing back twice
        with pytest.raises(IllegalTransition, match="rejected"):
            service.reject(session, service.get_batch(session, given_back), users["pharm"], "x")
    assert _ledger(store).used_g == pytest.approx(BATCH_G, rel=0.01)


def test_a_lot_with_too_little_left_is_refused_at_queueing_and_nothing_changes(
    store: Store,
) -> None:
    users = add_users(store, "tech", "pharm")
    batch = screened_job(store, users["tech"])
    _receive(store, users["tech"], 1.0)
    before = _entries(store)
    with pytest.raises(stock.NotEnoughStock) as refused, store.session() as session:
        service.queue(session, service.get_batch(session, batch), users["tech"])
    message = str(refused.value)
    assert message.startswith(f"lot: '{LOT}' has 1.000 g left; {batch} needs 1.2")
    assert refused.value.needed_g == pytest.approx(BATCH_G, rel=0.01)
    with store.session() as session:
        assert service.get_batch(session, batch).state == "screened"
    assert _entries(store) == before
    assert _ledger(store).used_g == 0.0


def test_a_lot_never_received_is_refused_once_stock_is_tracked(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    with store.session() as session:
        stock.receive(session, users["tech"], CATALOG_LOT, 50.0, "delivery")
    batch = screened_job(store, users["tech"])
    with (
        pytest.raises(stock.NotEnoughStock, match=f"^lot: '{LOT}' has 0.000 g left"),
        store.session() as session,
    ):
        service.queue(session, service.get_batch(session, batch), users["tech"])


def test_a_complete_print_reconciles_every_unit_and_its_material(store: Store) -> None:
    users = add_users(store, "tech", "tech2", "pharm")
    batch = screened_job(store, users["tech"])
    _receive(store, users["tech"], 10.0)
    with store.session() as session:
        service.queue(session, service.get_batch(session, batch), users["tech"])
    _print_completely(store, batch)
    with store.session() as session:
        record_weights(session, service.get_batch(session, batch), users["tech2"], good_weights())
        result = reconcile(session, service.get_batch(session, batch))
    assert (result.planned, result.printed, result.weighed, result.released) == (10, 10, 10, 10)
    assert result.rejected == ()
    assert result.reconciled
    assert len(result.volume_per_tablet_mm3) == 10
    assert all(v == pytest.approx(100.0, rel=0.01) for v in result.volume_per_tablet_mm3)
    # the prime line (8 mm³ on fdm-pharma-04, on no tablet) is material used too
    assert result.prime_volume_mm3 == pytest.approx(8.0, abs=1e-4)
    assert result.prime_mg == pytest.approx(8.0 * 1.25, abs=1e-3)
    total_mm3 = sum(result.volume_per_tablet_mm3) + result.prime_volume_mm3
    assert result.material_mg == pytest.approx(total_mm3 * 1.25, rel=1e-12)
    assert result.material_mg == pytest.approx(1260.0, rel=0.01)
    # 1008 mm³ of 1.75 mm filament: 1008 / (π × 0.875²) = 419.1 mm
    assert result.filament_mm == pytest.approx(total_mm3 / (math.pi * 0.875**2), rel=1e-12)
    assert result.paste_ml is None
    assert result.drawn_g == pytest.approx(result.material_mg / 1000)
    assert result.lot_remaining_g == pytest.approx(10.0 - result.drawn_g)


def test_rejected_units_are_counted_with_their_reasons_and_on_the_record(store: Store) -> None:
    users = add_users(store, "tech", "tech2", "pharm")
    batch = printed_job(store, users["tech"])
    with store.session() as session:
        record_weights(session, service.get_batch(session, batch), users["tech2"], good_weights())
        reject_units(session, service.get_batch(session, batch), users["tech2"], [3, 7], "chipped")
    with store.session() as session:
        record = load_record(session, batch)
    reconciliation = record.reconciliation
    assert reconciliation is not None
    assert (reconciliation["released"], reconciliation["reconciled"]) == (8, True)
    assert [(r["unit"], r["reason"]) for r in reconciliation["rejected"]] == [
        (3, "chipped"),
        (7, "chipped"),
    ]


@pytest.mark.parametrize(
    ("units", "reason", "field"),
    [
        ([11], "lifted", "units"),
        ([0], "lifted", "units"),
        ([], "lifted", "units"),
        ([2, 2], "lifted", "units"),
        ([2], "", "reason"),
    ],
)
def test_a_bad_unit_rejection_is_refused_naming_the_field_and_records_nothing(
    store: Store, units: list[int], reason: str, field: str
) -> None:
    users = add_users(store, "tech")
    batch = printed_job(store, users["tech"])
    before = _entries(store)
    with pytest.raises(InputError) as refused, store.session() as session:
        reject_units(session, service.get_batch(session, batch), users["tech"], units, reason)
    assert refused.value.field == field
    assert _entries(store) == before


def _print_completely(store: Store, batch: str) -> None:
    with store.session() as session:
        job = service.claim_next(session, "sim-1", "w1", FIRMWARE)
        assert job is not None and job.batch_number == batch
        lines = len(service.program_to_print(session, job).splitlines())
        report = {"complete": True, "lines_total": lines, "lines_acknowledged": lines}
        service.finish_print(session, job, "w1", "printed", report)


def _partly_printed(store: Store, tech, finished: int) -> str:
    """A batch whose printer acknowledged the program up to the end of tablet `finished`."""
    batch = queued_job(store, tech)
    with store.session() as session:
        job = service.claim_next(session, "sim-1", "w1", FIRMWARE)
        assert job is not None
        sent = [
            line.split(";", 1)[0].strip()
            for line in service.program_to_print(session, job).splitlines()
            if line.split(";", 1)[0].strip()
        ]
        closes = tablet_closes(sent)  # the prime line's close is no unit's
        assert sent.index("M486 S-1") < closes[0]
        acknowledged = closes[finished - 1] + 1
        service.finish_print(
            session,
            job,
            "w1",
            "printed",
            {"complete": False, "lines_total": len(sent), "lines_acknowledged": acknowledged},
        )
    return batch


def test_a_release_with_units_neither_printed_nor_rejected_is_refused(store: Store) -> None:
    users = add_users(store, "tech", "tech2", "pharm")
    batch = _partly_printed(store, users["tech"], 6)
    with store.session() as session:
        record_weights(session, service.get_batch(session, batch), users["tech2"], good_weights(6))
        assert reconcile(session, service.get_batch(session, batch)).printed == 6
    before = _entries(store)
    with pytest.raises(Unreconciled, match=r"units 7, 8, 9, 10 were planned but not printed"):
        _release(store, batch)
    assert _entries(store) == before + 1  # the password's sign-in entry only
    with store.session() as session:
        assert service.get_batch(session, batch).state == "weighed"
        reject_units(
            session,
            service.get_batch(session, batch),
            users["tech2"],
            [7, 8, 9, 10],
            "print stopped after unit 6 (nozzle clog)",
        )
    _release(store, batch)
    with store.session() as session:
        result = reconcile(session, service.get_batch(session, batch))
        assert service.get_batch(session, batch).state == "released"
    assert (result.planned, result.printed, result.released, len(result.rejected)) == (10, 6, 6, 4)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(receipts=st.lists(st.floats(0.001, 5000.0), min_size=1, max_size=8))
def test_remaining_is_always_received_less_used(tmp_path_factory, receipts: list[float]) -> None:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 's.sqlite'}")
    try:
        users = add_users(store, "tech")
        for grams in receipts:
            _receive(store, users["tech"], grams, lot=CATALOG_LOT)
        ledger = _ledger(store, CATALOG_LOT)
        assert ledger.received_g == pytest.approx(sum(receipts))
        assert ledger.remaining_g == pytest.approx(ledger.received_g - ledger.used_g)
        with store.session() as session:
            count = session.scalar(select(func.count()).select_from(LotStockEntry))
        assert count == len(receipts)
    finally:
        store.dispose()


# ---- the command line: `printmed lots receive|show|list` ----


def _cli(monkeypatch: pytest.MonkeyPatch, data_dir: Path, user: str | None, *argv: str) -> int:
    """Run `printmed` on `data_dir`; as `user` (who types the test password) when given."""
    signing = ("--user", user, "--password-stdin") if user else ()
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main([*argv, *signing, "--data-dir", str(data_dir)])


def test_lots_receive_and_show_on_the_command_line(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_users(store, "tech")  # the store the command opens: PRINTMED_DATA_DIR=tmp_path
    data_dir = tmp_path
    receive = ("lots", "receive", CATALOG_LOT, "--grams", "120.5", "--reason", "DN 4711")
    assert _cli(monkeypatch, data_dir, "tech", *receive) == 0
    assert f"{CATALOG_LOT}: received 120.500 g; remaining 120.500 g" in capsys.readouterr().out
    assert _cli(monkeypatch, data_dir, None, "lots", "show", "propranolol-pva-10", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["lot"], shown["received_g"], shown["remaining_g"]) == (CATALOG_LOT, 120.5, 120.5)
    assert shown["entries"][0]["reason"] == "DN 4711"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--grams", "0", "--reason", "DN"), "grams: 0.0 is not a quantity above 0"),
        (("--grams", "5", "--reason", " "), "reason: ' ' is required"),
    ],
)
def test_a_bad_receipt_on_the_command_line_exits_2_naming_the_field(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    add_users(store, "tech")  # the store the command opens: PRINTMED_DATA_DIR=tmp_path
    data_dir = tmp_path
    assert _cli(monkeypatch, data_dir, "tech", "lots", "receive", CATALOG_LOT, *argv) == 2
    assert f"printmed lots: error: {message}" in capsys.readouterr().err
    assert _cli(monkeypatch, data_dir, None, "lots", "show", CATALOG_LOT, "--json") == 0
    assert json.loads(capsys.readouterr().out)["entries"] == []


def test_the_record_pdf_states_the_reconciliation(store: Store, tmp_path: Path) -> None:
    users = add_users(store, "tech", "tech2")
    batch = printed_job(store, users["tech"])
    with store.session() as session:
        record_weights(session, service.get_batch(session, batch), users["tech2"], good_weights())
        reject_units(session, service.get_batch(session, batch), users["tech2"], [2], "chipped")
        record = load_record(session, batch)
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(batch_record_pdf(record, pharmacy_of(load_settings(dict(os.environ)), store)))
    shown = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(shown.split())
    assert "Reconciliation" in text
    assert "planned 10, printed 10, weighed 10, rejected 1, released 9" in text
    assert "Rejected unit 2 chipped (tech2)" in text
    assert "factor 1.0000: the lot's own (master data)" in text
    assert "Reconciled yes" in text
    assert "prime line 10.0 mg of it" in text  # 8 mm³ × 1.25 mg/mm³
    assert "Prime line (no tablet) 8.0000 mm3 (at most 20)" in text
