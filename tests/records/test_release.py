"""Release: pharmacist only, passing QC, intact record, four eyes; each refusal changes nothing.

The pharmacist's password is checked through the sign-in defence (`admit_signer`) in a
transaction of its own, and `release` takes the signer it gives.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from dosing.prescription import parse_prescription
from printmed import catalog
from printmed.auth.users import AuthenticationFailed, NotPermitted, get_user
from printmed.jobs import service
from printmed.manufacture import make_batch
from printmed.records.batch_record import load_record
from printmed.records.errors import QcNotPassed, RecordNotIntact
from printmed.records.integrity import verify_records
from printmed.records.pharmacy import pharmacy_of
from printmed.records.record_pdf import batch_record_pdf
from printmed.records.release import release
from printmed.records.signatures import admit_signer, authenticate_signer, sign
from printmed.records.weighing import record_weights
from printmed.settings import SignInPolicy, load_settings
from printmed.store import Store
from printmed.store.models import Signature
from tests.records.builders import (
    PASSWORD,
    PRESCRIPTION,
    PROFILE_ID,
    add_users,
    formulation_lot,
    good_weights,
    printed_job,
    verify,
)

BENCH = "10.1.0.7"  # the pharmacist's PC


def _release(store: Store, batch: str, username: str, password: str = PASSWORD) -> Signature:
    """Release as the release page does: the password through the sign-in defence, then the
    release in the next transaction."""
    signer = admit_signer(
        store, SignInPolicy(), username, password, "released", address=BENCH, channel="page"
    )
    with store.session() as session:
        return release(session, batch, signer)


def _weighed(
    store: Store, weigher: str, weights: list[float] | None = None, others: tuple[str, ...] = ()
) -> str:
    """A batch printed by tech and weighed by `weigher`; `others` are the further users needed."""
    users = add_users(store, *dict.fromkeys(("tech", "pharm", weigher, *others)))
    batch = printed_job(store, users["tech"])
    with store.session() as session:
        record_weights(
            session, service.get_batch(session, batch), users[weigher], weights or good_weights()
        )
    return batch


def _state(store: Store, batch: str) -> str:
    with store.session() as session:
        return service.get_batch(session, batch).state


def test_pharmacist_who_made_nothing_releases_a_passing_batch(store: Store) -> None:
    batch = _weighed(store, "tech2")
    signature = _release(store, batch, "pharm")
    assert (signature.meaning, signature.printed_name) == ("released", "Paula Pharmacist")
    with store.session() as session:
        record = load_record(session, batch)
    assert record.field("state") == "released"
    assert record.trail[-1]["action"] == "record.release"
    assert record.integrity.intact


def test_pharmacist_who_weighed_the_batch_is_refused_by_four_eyes(store: Store) -> None:
    batch = _weighed(store, "pharm", others=("pharm2",))
    with pytest.raises(NotPermitted, match="four eyes"):
        _release(store, batch, "pharm")
    assert _state(store, batch) == "weighed"
    _release(store, batch, "pharm2")
    assert _state(store, batch) == "released"


def test_pharmacist_who_signed_as_performer_is_refused(store: Store) -> None:
    batch = _weighed(store, "tech2")
    with store.session() as session:
        signer = authenticate_signer(session, "pharm", PASSWORD, "performed")
        sign(session, service.get_batch(session, batch), signer, "performed")
    with pytest.raises(NotPermitted, match="four eyes"):
        _release(store, batch, "pharm")


def test_technician_cannot_release(store: Store) -> None:
    batch = _weighed(store, "tech", others=("tech2",))
    with pytest.raises(NotPermitted, match="role technician is not pharmacist"):
        _release(store, batch, "tech2")


def test_admin_cannot_release_or_sign(store: Store) -> None:
    batch = _weighed(store, "tech", others=("boss",))
    with pytest.raises(NotPermitted, match="role admin"):
        _release(store, batch, "boss")


def test_wrong_password_is_refused_and_nothing_changes(store: Store) -> None:
    batch = _weighed(store, "tech")
    with pytest.raises(AuthenticationFailed):
        _release(store, batch, "pharm", "not the password")
    assert _state(store, batch) == "weighed"


def test_release_refused_on_failing_qc(store: Store) -> None:
    weights = good_weights()
    weights[0] = 160.0  # 28 % heavy
    batch = _weighed(store, "tech", weights)
    with pytest.raises(QcNotPassed, match="qc: 'failed'"):
        _release(store, batch, "pharm")
    assert _state(store, batch) == "weighed"


def test_release_refused_before_weighing(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = printed_job(store, users["tech"])
    with pytest.raises(QcNotPassed, match="is not weighed"):
        _release(store, batch, "pharm")


def test_release_refused_on_a_broken_chain(store: Store) -> None:
    batch = _weighed(store, "tech")
    with store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        connection.execute(text("UPDATE audit_entries SET reason = 'x' WHERE seq = 8"))
    with pytest.raises(RecordNotIntact, match="entry 8"):
        _release(store, batch, "pharm")
    assert _state(store, batch) == "weighed"


def test_corrected_weights_show_as_a_change_with_its_reason(store: Store) -> None:
    batch = _weighed(store, "tech")
    corrected = good_weights()
    corrected[2] = 126.1
    with store.session() as session:
        tech = get_user(session, "tech")
        with pytest.raises(ValueError, match="reason"):
            record_weights(session, service.get_batch(session, batch), tech, corrected)
        record_weights(
            session,
            service.get_batch(session, batch),
            tech,
            corrected,
            reason="unit 3 re-weighed: balance not settled",
        )
    with store.session() as session:
        record = load_record(session, batch)
    change = record.corrections["weights_json"][0]
    assert change["old"]["weights_mg"] == good_weights()
    assert change["new"]["weights_mg"] == corrected
    assert change["reason"] == "unit 3 re-weighed: balance not settled"
    assert change["changed"] == "weights_mg[2]: 125 → 126.1"
    assert set(record.corrections) == {"weights_json", "qc_json"}


def test_signature_moved_to_another_batch_is_found(store: Store) -> None:
    first = _weighed(store, "tech", others=("tech2",))
    with store.session() as session:
        signer = authenticate_signer(session, "tech2", PASSWORD, "checked")
        signature_id = sign(session, service.get_batch(session, first), signer, "checked").id
    with store.session() as session:
        tech = get_user(session, "tech")
    second = printed_job(store, tech)
    with store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER signatures_no_update"))
        connection.execute(
            text("UPDATE signatures SET batch_number = :b WHERE id = :i"),
            {"b": second, "i": signature_id},
        )
    with store.session() as session:
        problems = verify_records(session, second).problems
    assert problems == [
        # the second batch's own signature is its screening
        f"{second}: 2 signatures but 1 signature entries in the audit trail",
        f"{second}: signature {signature_id} is not in the trail",
        f"{second}: signature {signature_id} was altered",
    ]


def test_value_changes_name_each_changed_leaf() -> None:
    from printmed.records.batch_record import summarise_changes, value_changes

    old = {"weights_mg": [1.0, 2.0], "source": "manual", "extra": {"a": 1}}
    new = {"weights_mg": [1.0, 2.5], "source": "balance", "extra": {"a": 1}}
    assert value_changes(old, new) == ["source: 'manual' → 'balance'", "weights_mg[1]: 2 → 2.5"]
    assert summarise_changes([1, 2, 3], [4, 5, 6], most=2) == "[0]: 1 → 4; [1]: 2 → 5 (+1 more)"


def test_a_signature_whose_trail_entry_was_removed_is_found(store: Store) -> None:
    """The tail of the chain cut off: the checkpoint outside the database names the missing
    entry, and the batch's rows name the signature without its entry."""
    batch = _weighed(store, "tech", others=("tech2",))
    with store.session() as session:
        signer = authenticate_signer(session, "tech2", PASSWORD, "checked")
        signature_id = sign(session, service.get_batch(session, batch), signer, "checked").id
    with store.engine.begin() as connection:
        # The last entry (the signature's) removed: the hashes alone cannot see a cut tail.
        connection.execute(text("DROP TRIGGER audit_entries_no_delete"))
        connection.execute(
            text("DELETE FROM audit_entries WHERE seq = (SELECT max(seq) FROM audit_entries)")
        )
    with store.session() as session:
        report = verify_records(session, batch)
    cut = report.chain.entries + 1
    assert report.chain.first_broken_seq == cut
    assert report.chain.problem == (
        f"entry {cut} is missing: the chain ends at {cut - 1} but a checkpoint outside the "
        f"database names entry {cut}"
    )
    assert report.problems == [
        f"{batch}: 2 signatures but 1 signature entries in the audit trail",
        f"{batch}: signature {signature_id} is not in the trail",
    ]


MEASURED_PRESCRIPTION = {
    **PRESCRIPTION,
    "id": "RX-TEST-MEASURED",
    "patient": {
        "id": "TEST-PATIENT-1",
        "weight": {
            "value": 12400,
            "unit": "g",
            "status": "final",
            "subject": "TEST-PATIENT-1",
            "effective": "2026-11-20T08:15:00Z",
            "source": "MedicationRequest.contained[0] (#weight-1)",
        },
        "height_cm": 88,
        "age_years": 2.5,
    },
    "max_single_dose_mg": 12.5,
    "max_daily_dose_mg": 25.0,
}


def test_the_record_pdf_shows_the_prescribed_maxima_and_the_weight_as_recorded(
    store: Store, tmp_path: Path
) -> None:
    users = add_users(store, "tech")
    gated = make_batch(
        parse_prescription(MEASURED_PRESCRIPTION),
        formulation_lot(),
        catalog.printer_profile(PROFILE_ID),
    )
    with store.session() as session:
        batch = service.create_batch(
            session,
            users["tech"],
            prescription=gated.prescription.model_dump(mode="json"),
            formulation=gated.formulation.model_dump(mode="json"),
            printer="sim-1",
            profile_id=PROFILE_ID,
        ).batch_number
    verify(store, batch, users["tech"], gated)
    with store.session() as session:
        record = load_record(session, batch)
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(batch_record_pdf(record, pharmacy_of(load_settings(dict(os.environ)), store)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())  # a long value wraps onto the next line
    assert "Prescribed maxima 12.5 mg a dose; 25 mg a day Body weight as recorded" in flat
    assert (
        "Body weight as recorded 12400 g (= 12.4 kg), measured 2026-11-20T08:15:00Z, status "
        "final, source MedicationRequest.contained[0] (#weight-1) Supply"
    ) in flat
