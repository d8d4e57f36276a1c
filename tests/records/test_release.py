"""Release: pharmacist only, passing QC, intact record, four eyes; each refusal changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from printmed.auth.users import AuthenticationFailed, NotPermitted, get_user
from printmed.jobs import service
from printmed.records.batch_record import load_record
from printmed.records.errors import QcNotPassed, RecordNotIntact
from printmed.records.integrity import verify_records
from printmed.records.release import release
from printmed.records.signatures import authenticate_signer, sign
from printmed.records.weighing import record_weights
from printmed.store import Store
from tests.records.builders import PASSWORD, add_users, good_weights, printed_job


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
    with store.session() as session:
        signature = release(session, batch, "pharm", PASSWORD)
        assert (signature.meaning, signature.printed_name) == ("released", "Paula Pharmacist")
    with store.session() as session:
        record = load_record(session, batch)
    assert record.field("state") == "released"
    assert record.trail[-1]["action"] == "record.release"
    assert record.integrity.intact


def test_pharmacist_who_weighed_the_batch_is_refused_by_four_eyes(store: Store) -> None:
    batch = _weighed(store, "pharm", others=("pharm2",))
    with pytest.raises(NotPermitted, match="four eyes"), store.session() as session:
        release(session, batch, "pharm", PASSWORD)
    assert _state(store, batch) == "weighed"
    with store.session() as session:
        release(session, batch, "pharm2", PASSWORD)
    assert _state(store, batch) == "released"


def test_pharmacist_who_signed_as_performer_is_refused(store: Store) -> None:
    batch = _weighed(store, "tech2")
    with store.session() as session:
        signer = authenticate_signer(session, "pharm", PASSWORD, "performed")
        sign(session, service.get_batch(session, batch), signer, "performed")
    with pytest.raises(NotPermitted, match="four eyes"), store.session() as session:
        release(session, batch, "pharm", PASSWORD)


def test_technician_cannot_release(store: Store) -> None:
    batch = _weighed(store, "tech", others=("tech2",))
    with (
        pytest.raises(NotPermitted, match="role technician is not pharmacist"),
        store.session() as session,
    ):
        release(session, batch, "tech2", PASSWORD)


def test_admin_cannot_release_or_sign(store: Store) -> None:
    batch = _weighed(store, "tech", others=("boss",))
    with pytest.raises(NotPermitted, match="role admin"), store.session() as session:
        release(session, batch, "boss", PASSWORD)


def test_wrong_password_is_refused_and_nothing_changes(store: Store) -> None:
    batch = _weighed(store, "tech")
    with pytest.raises(AuthenticationFailed), store.session() as session:
        release(session, batch, "pharm", "not the password")
    assert _state(store, batch) == "weighed"


def test_release_refused_on_failing_qc(store: Store) -> None:
    weights = good_weights()
    weights[0] = 160.0  # 28 % heavy
    batch = _weighed(store, "tech", weights)
    with pytest.raises(QcNotPassed, match="qc: 'failed'"), store.session() as session:
        release(session, batch, "pharm", PASSWORD)
    assert _state(store, batch) == "weighed"


def test_release_refused_before_weighing(store: Store) -> None:
    users = add_users(store, "tech", "pharm")
    batch = printed_job(store, users["tech"])
    with pytest.raises(QcNotPassed, match="is not weighed"), store.session() as session:
        release(session, batch, "pharm", PASSWORD)


def test_release_refused_on_a_broken_chain(store: Store) -> None:
    batch = _weighed(store, "tech")
    with store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        connection.execute(text("UPDATE audit_entries SET reason = 'x' WHERE seq = 8"))
    with pytest.raises(RecordNotIntact, match="entry 8"), store.session() as session:
        release(session, batch, "pharm", PASSWORD)
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
        f"{second}: 1 signatures but 0 signature entries in the audit trail",
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
    batch = _weighed(store, "tech", others=("tech2",))
    with store.session() as session:
        signer = authenticate_signer(session, "tech2", PASSWORD, "checked")
        signature_id = sign(session, service.get_batch(session, batch), signer, "checked").id
    with store.engine.begin() as connection:
        # The last entry (the signature's) removed: the chain alone cannot see a cut tail.
        connection.execute(text("DROP TRIGGER audit_entries_no_delete"))
        connection.execute(
            text("DELETE FROM audit_entries WHERE seq = (SELECT max(seq) FROM audit_entries)")
        )
    with store.session() as session:
        report = verify_records(session, batch)
    assert report.chain.intact
    assert report.problems == [
        f"{batch}: 1 signatures but 0 signature entries in the audit trail",
        f"{batch}: signature {signature_id} is not in the trail",
    ]
