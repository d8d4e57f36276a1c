"""`verified` comes only from the job service's own gate over the stored G-code text: no caller
supplies gate figures, and a program that does not hold its targets is refused, writing nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from gcode.analyze import analyze
from printmed.audit import entries_for
from printmed.errors import InputError
from printmed.jobs import service
from printmed.jobs.stored_gate import StoredProgramDiffers, gate_program
from printmed.manufacture import DoseGateFailed
from printmed.store import Store
from printmed.store.models import StoredGcode
from tests.gcode.tampering import scale_tablet_e
from tests.records.builders import PROFILE_ID, add_users, draft_job, gated_batch, verify

TAMPERED_TABLET = 1


def _gate(text: str, **changed: object) -> dict:
    gated = gated_batch(2)
    inputs = {
        "formulation": gated.formulation.model_dump(mode="json"),
        "profile_id": PROFILE_ID,
        "dose": gated.dose.to_dict(),
        "design": gated.design.to_dict(),
        "parameters": gated.process_parameters(),
    }
    return gate_program(text, **{**inputs, **changed})  # type: ignore[arg-type]


def _programs(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(StoredGcode)) or 0)


def test_the_recorded_gate_figures_are_the_reading_of_the_stored_gcode(store: Store) -> None:
    users = add_users(store, "tech")
    gated = gated_batch(2)
    batch = draft_job(store, users["tech"], units=2)
    verify(store, batch, users["tech"], gated)
    with store.session() as session:
        job = service.get_batch(session, batch)
        stored = session.get(StoredGcode, job.gcode_sha256)
        assert stored is not None and stored.text == gated.gcode
        # the file's lines as an editor counts them (the text ends with a newline)
        assert stored.text.endswith("\n")
        assert stored.lines == len(stored.text.splitlines()) == stored.text.count("\n")
        gate = service.column_value(job, "gate_json")
        assert job.state == "verified"
        assert gate == _gate(stored.text)
        assert [t["target_mg"] for t in gate["tablets"]] == [12.5, 12.5]
        assert all(abs(t["gcode_mg"] - 12.5) < 0.125 for t in gate["tablets"])


@pytest.mark.parametrize(
    "changes",
    [
        {"gate_json": {"tablets": [{"target_mg": 12.5, "gcode_mg": 12.5}]}},
        {"state": "verified"},
        {"state": "printing"},
        {"firmware_json": {"name": "anything"}},
    ],
    ids=["gate figures", "verified", "printing", "printer identity"],
)
def test_no_caller_records_gate_figures_verified_or_a_claim_through_record_change(
    store: Store, changes: dict
) -> None:
    users = add_users(store, "tech")
    batch = draft_job(store, users["tech"], units=2)
    with (
        pytest.raises(InputError, match="is recorded only by") as refused,
        store.session() as session,
    ):
        job = service.get_batch(session, batch)
        service.record_change(session, job, "tech", "job.forge", changes)
    column = next(iter(changes))
    assert refused.value.field == column
    assert refused.value.value == changes[column]
    with store.session() as session:
        assert service.get_batch(session, batch).state == "draft"
        assert [e.action for e in entries_for(session, batch)] == ["job.create"]


def test_gcode_that_does_not_hold_the_design_dose_is_refused_and_nothing_is_written(
    store: Store,
) -> None:
    users = add_users(store, "tech")
    batch = draft_job(store, users["tech"], units=2)
    gated = gated_batch(2)
    overdosed = scale_tablet_e(gated.gcode, TAMPERED_TABLET, 1.05)
    with pytest.raises(DoseGateFailed) as refused, store.session() as session:
        service.record_verification(
            session,
            service.get_batch(session, batch),
            users["tech"],
            dose=gated.dose.to_dict(),
            design=gated.design.to_dict(),
            gcode_text=overdosed,
            parameters=gated.process_parameters(),
        )
    assert refused.value.field == f"tablet[{TAMPERED_TABLET}]"
    assert refused.value.value == "+5.00%"
    assert _programs(store) == 0
    with store.session() as session:
        assert service.get_batch(session, batch).state == "draft"
        assert [e.action for e in entries_for(session, batch)] == ["job.create"]


def test_targets_of_another_lot_or_dose_are_refused_naming_the_field() -> None:
    gated = gated_batch(2)
    other_lot = {**gated.formulation.model_dump(mode="json"), "lot": "LOT-OTHER"}
    with pytest.raises(StoredProgramDiffers) as refused:
        _gate(gated.gcode, formulation=other_lot)
    assert (refused.value.field, refused.value.value) == ("parameters.lot", "LOT-TEST-001")
    design = {**gated.design.to_dict(), "dose_mg": 15.0, "dose_per_administration_mg": 15.0}
    with pytest.raises(StoredProgramDiffers) as refused:
        _gate(gated.gcode, design=design)
    assert (refused.value.field, refused.value.value) == ("design.dose_per_administration_mg", 15.0)
    more = {**gated.dose.to_dict(), "doses": 3}
    with pytest.raises(StoredProgramDiffers) as refused:
        _gate(gated.gcode, dose=more)
    assert (refused.value.field, refused.value.value) == ("design.units_total", 2)


@given(factor=st.floats(0.95, 1.05).filter(lambda f: not 0.009 < abs(f - 1) < 0.011))
def test_a_tablet_is_accepted_exactly_when_its_gcode_holds_the_dose_to_one_percent(
    factor: float,
) -> None:
    gated = gated_batch(2)
    text = scale_tablet_e(gated.gcode, TAMPERED_TABLET, factor)
    # the program's own time changes with its E (retraction moves): record it as written
    seconds = analyze(text, gated.plate.mm3_per_e).print_time_s
    parameters = {**gated.process_parameters(), "estimated_print_time_s": seconds}
    if abs(factor - 1) <= 0.009:
        gate = _gate(text, parameters=parameters)
        assert gate["tablets"][TAMPERED_TABLET]["deviation"] == pytest.approx(factor - 1, abs=1e-4)
    else:
        with pytest.raises(DoseGateFailed) as refused:
            _gate(text, parameters=parameters)
        assert refused.value.field == f"tablet[{TAMPERED_TABLET}]"
