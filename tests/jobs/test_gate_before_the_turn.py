"""The record's own dose-gate reading is made before the write turn (`stored_gate.gate_text`), and
the record takes it only from the gate, for the batch's own lot, profile and pinned profile, for
the very bytes it keeps; the chain's lock is taken once a transaction and held only for what
needs it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import event, func, select

from printmed import audit, catalog
from printmed.jobs import making, service, stored_gate
from printmed.jobs.stored_gate import GatedProgram, StoredProgramDiffers
from printmed.manufacture import manufacture, profile_for
from printmed.records import masterfile
from printmed.store import Store
from printmed.store.models import AuditEntry, Batch, StoredGcode, User
from tests.records.builders import add_users, draft_job, gated_batch

RX = catalog.fixtures_dir() / "prescriptions" / "propranolol-child.fhir.json"


def _made(store: Store) -> Any:
    """A GatedBatch of the bundled child's propranolol order, from this store's master file."""
    from printmed.intake.fhir_order import prescription_from_fhir

    rx = prescription_from_fhir(json.loads(RX.read_text(encoding="utf-8")))
    with store.read_session() as session:
        master = catalog.master_of(session)
    profile = profile_for(master.formulation(rx.formulation), None, master)
    return manufacture(rx, profile.id, master=master)


def _count(store: Store, model: type) -> int:
    with store.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _drafted_and_gated(store: Store, actor: User) -> tuple[str, GatedProgram]:
    """A draft batch of 2 tablets and the gate's own reading of its program, for that batch."""
    gated = gated_batch(2)
    batch = draft_job(store, actor, units=2)
    with store.read_session() as session:
        job = service.get_batch(session, batch)
        pins = service.column_value(job, "master_pins_json")
        return batch, stored_gate.gate_text(
            gated.gcode,
            formulation=service.column_value(job, "formulation_json"),
            profile_id=job.profile_id,
            profile=service.pinned_profile(session, job),
            profile_pin=pins["profile"] if pins else None,
            dose=gated.dose.to_dict(),
            design=gated.design.to_dict(),
            parameters=gated.process_parameters(),
        )


@pytest.fixture
def first_started(any_store: Store) -> Store:
    with any_store.session() as session:
        masterfile.first_start(session)
    return any_store


def test_a_program_put_together_by_a_caller_is_refused_with_nothing_written(
    first_started: Store,
) -> None:
    store = first_started
    users = add_users(store, "tech")
    batch, real = _drafted_and_gated(store, users["tech"])
    imitation = dataclasses.replace(real)  # every field the same, not made by the gate
    assert not stored_gate.made_here(imitation) and stored_gate.made_here(real)
    with pytest.raises(StoredProgramDiffers) as refused, store.session() as session:
        service.record_gated_program(
            session, service.get_batch(session, batch), users["tech"], imitation
        )
    assert refused.value.field == "gate_json"
    with store.read_session() as session:
        assert service.get_batch(session, batch).state == "draft"
    assert _count(store, StoredGcode) == 0


@pytest.mark.parametrize("changed", ["formulation_json", "profile_id", "profile_pin"])
def test_a_program_gated_for_another_lot_or_profile_is_refused(
    first_started: Store, changed: str
) -> None:
    store = first_started
    users = add_users(store, "tech")
    batch, program = _drafted_and_gated(store, users["tech"])
    lot = json.loads(program.formulation_json)
    lot["id"] = f"{lot['id']}-OTHER"  # another lot
    other: dict[str, Any] = {
        "formulation_json": audit.canonical_json(lot),
        "profile_id": "another-profile",
        "profile_pin": {"key": program.profile_id, "version": 99, "id": 999, "sha256": "0" * 64},
    }
    object.__setattr__(program, changed, other[changed])  # the gate's own object, edited
    with pytest.raises(StoredProgramDiffers), store.session() as session:
        service.record_gated_program(
            session, service.get_batch(session, batch), users["tech"], program
        )
    with store.read_session() as session:
        assert service.get_batch(session, batch).state == "draft"
    assert _count(store, StoredGcode) == 0


def test_a_kept_text_is_read_back_and_must_be_the_one_gated(first_started: Store) -> None:
    """A row already under the program's SHA-256 with other bytes (rewritten in the database) is
    not taken as the program: the read-back names the hash."""
    store = first_started
    users = add_users(store, "tech")
    gated = _made(store)
    program = making.gated_program(gated)
    with store.session() as session:
        session.add(StoredGcode(sha256=program.sha256, text=program.text + "; extra\n", lines=1))
    with pytest.raises(StoredProgramDiffers) as refused, store.session() as session:
        making.record_gated_batch(
            session, users["tech"], gated, printer=gated.profile.id, program=program
        )
    assert refused.value.field == "gcode_sha256"
    assert _count(store, Batch) == 0


def test_an_order_takes_the_chain_lock_once_and_reads_the_head_once(first_started: Store) -> None:
    """Two entries (create, verify) in one transaction: the PostgreSQL advisory lock is asked
    for once, the head read once, the first entry read once; the chain is still whole."""
    store = first_started
    users = add_users(store, "tech")
    gated = _made(store)
    statements: list[str] = []

    def seen(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.session() as session:
            making.record_gated_batch(session, users["tech"], gated, printer=gated.profile.id)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    locks = [s for s in statements if "pg_advisory_xact_lock" in s]
    head = "SELECT audit_entries.seq, audit_entries.entry_hash"
    heads = [s for s in statements if s.startswith(head)]
    firsts = [s for s in statements if "audit_entries.at" in s and s.startswith("SELECT")]
    assert len(locks) == (1 if store.dialect == "postgresql" else 0)
    assert len(heads) == 1
    assert len(firsts) <= 1
    with store.read_session() as session:
        assert audit.verify_chain(session).intact
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        actions = [entry.action for entry in entries[-2:]]
        assert actions == ["job.create", "job.verify"]
        assert entries[-1].prev_hash == entries[-2].entry_hash


def test_the_recorded_gate_figures_are_those_of_the_kept_text(first_started: Store) -> None:
    store = first_started
    users = add_users(store, "tech")
    gated = _made(store)
    with store.session() as session:
        batch = making.record_gated_batch(session, users["tech"], gated, printer=gated.profile.id)
        number = batch.batch_number
    with store.read_session() as session:
        job = service.get_batch(session, number)
        kept = session.get(StoredGcode, job.gcode_sha256)
        assert kept is not None and kept.text == gated.gcode
        assert service.program_to_print(session, job) == gated.gcode
        figures = service.column_value(job, "gate_json")
        assert [t["target_mg"] for t in figures["tablets"]] == [t.target_mg for t in gated.tablets]
        assert isinstance(making.gated_program(gated), GatedProgram)
