"""A plate that fails the dose gate is refused naming the tablet, and leaves nothing behind:
no batch, no stored G-code, no audit entry."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dosing.prescription import parse_prescription
from gcode.write import write_gcode
from printmed.jobs.making import enter_prescription
from printmed.manufacture import DoseGateFailed, manufacture, plate
from printmed.store import Store
from printmed.store.models import AuditEntry, Batch, PrintProgress, StoredGcode
from tests.gcode.tampering import scale_tablet_e
from tests.records.builders import PRESCRIPTION, add_users

SMALL_BATCH = {**PRESCRIPTION, "units": 2}
OVERDOSED_TABLET = 1
RECORDS = (Batch, StoredGcode, PrintProgress, AuditEntry)


@pytest.fixture
def defective_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stands for a writer defect no real peer can produce: the writer is exact to a unit of E,
    so the gate can only be failed by patching it to over-extrude one tablet by 5 %."""

    def overdosing_write_gcode(*args: object, **kwargs: object) -> str:
        text = write_gcode(*args, **kwargs)  # type: ignore[arg-type]
        return scale_tablet_e(text, OVERDOSED_TABLET, 1.05)

    monkeypatch.setattr(plate, "write_gcode", overdosing_write_gcode)


def _rows(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {
            table.__tablename__: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in RECORDS
        }


@pytest.mark.usefixtures("defective_writer")
def test_manufacture_refuses_a_plate_off_target_naming_the_tablet() -> None:
    with pytest.raises(DoseGateFailed) as refusal:
        manufacture(parse_prescription(SMALL_BATCH), "fdm-pharma-04")
    assert refusal.value.field == f"tablet[{OVERDOSED_TABLET}]"
    assert refusal.value.value.startswith("+5.0")


@pytest.mark.usefixtures("defective_writer")
def test_a_prescription_failing_the_dose_gate_leaves_no_batch_gcode_or_audit_entry(
    store: Store,
) -> None:
    users = add_users(store, "tech")
    before = _rows(store)
    assert before["jobs"] == before["gcode_programs"] == 0
    rx = parse_prescription(SMALL_BATCH)
    with pytest.raises(DoseGateFailed) as refusal, store.session() as session:
        enter_prescription(session, users["tech"], rx, printer="sim-1", profile_id="fdm-pharma-04")
    assert refusal.value.field == f"tablet[{OVERDOSED_TABLET}]"
    assert _rows(store) == before
