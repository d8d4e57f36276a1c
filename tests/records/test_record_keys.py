"""The service key and the checkpoints: a 0600 key file outside the data folder signs every
audit entry; signed checkpoints of the chain's head go to a file beside it once a transaction
commits; a verifier with the public keys and checkpoints alone tells an untouched chain from
one rewritten, re-signed with another key, cut short or checkpointed by someone else."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from printmed import audit, checkpoints, keys
from printmed.errors import InputError
from printmed.settings import load_settings
from printmed.store import Store, open_store
from printmed.store.models import AuditEntry
from tests.records.forgery import drop_append_only_triggers, forge, unsigned_entry, use_key_dir


@pytest.fixture
def key_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return use_key_dir(monkeypatch, tmp_path / "keys")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated store with an empty chain (no first-start master file): these tests count
    and sign every entry themselves, under the key folder each of them chooses."""
    opened = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    yield opened
    opened.dispose()


def _append(store: Store, count: int, *, state: bool = False) -> None:
    with store.session() as session:
        for number in range(count):
            audit.append(
                session,
                actor="tech",
                action="test.note",
                entity="job" if state else "note",
                entity_id=number,
                new={"state": "queued"} if state else {"n": number},
                reason="test",
            )


def _chain_checkpoints(store: Store, key_dir: Path) -> list[checkpoints.Checkpoint]:
    with store.session() as session:
        return audit.chain_checkpoints(session, key_dir)


def _verify(store: Store, key_dir: Path | None = None) -> audit.ChainReport:
    with store.session() as session:
        return audit.verify_chain(session, key_dir)


def test_service_key_is_made_once_with_mode_0600(key_dir: Path) -> None:
    first = keys.service_key()
    path = key_dir / keys.SERVICE_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert keys.service_key().key_id == first.key_id
    assert (key_dir / "trusted" / f"{first.key_id}.pub").is_file()


def test_a_service_key_file_others_can_read_is_refused(key_dir: Path) -> None:
    keys.service_key()
    keys._service_key.cache_clear()
    os.chmod(key_dir / keys.SERVICE_KEY_FILE, 0o640)
    with pytest.raises(keys.KeyFileExposed, match="has mode 0640; it must be 0600"):
        keys.service_key()


def test_a_key_folder_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    environ = {
        "PRINTMED_DATA_DIR": str(tmp_path / "data"),
        "PRINTMED_KEY_DIR": str(tmp_path / "data" / "keys"),
    }
    with pytest.raises(InputError, match="PRINTMED_KEY_DIR") as refused:
        load_settings(environ)
    assert refused.value.value == str(tmp_path / "data" / "keys")
    assert load_settings({"PRINTMED_DATA_DIR": str(tmp_path / "data")}).key_dir == (
        Path("~/.config/printmed/keys").expanduser().resolve()
    )


def test_every_entry_is_signed_by_the_service_key(store: Store, key_dir: Path) -> None:
    _append(store, 5)
    service = keys.service_key()
    trusted = keys.trusted_keys(key_dir)
    with store.session() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.key_id for e in entries] == [service.key_id] * 5
    assert all(
        trusted.verifies(e.key_id, audit.ENTRY_PURPOSE, e.entry_hash, e.service_signature or "")
        for e in entries
    )
    report = _verify(store)
    assert report.intact and report.entries == 5


def test_checkpoints_come_at_the_first_entry_every_n_and_at_state_changes(
    store: Store, key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRINTMED_CHECKPOINT_EVERY", "4")
    _append(store, 9)
    _append(store, 1, state=True)
    found = _chain_checkpoints(store, key_dir)
    assert [c.seq for c in found] == [1, 4, 8, 10]
    with store.session() as session:
        assert [c.head_hash for c in found] == [
            session.get(AuditEntry, c.seq).entry_hash  # type: ignore[union-attr]
            for c in found
        ]
    assert stat.S_IMODE(checkpoints.checkpoint_file(key_dir, found[0].chain_id).stat().st_mode) == (
        0o600
    )


def test_a_rolled_back_transaction_leaves_no_checkpoint(store: Store, key_dir: Path) -> None:
    _append(store, 1)
    with pytest.raises(RuntimeError), store.session() as session:
        audit.append(session, actor="t", action="a", entity="job", entity_id=1, new={"state": "x"})
        raise RuntimeError("the transaction fails after the entry")
    assert [c.seq for c in _chain_checkpoints(store, key_dir)] == [1]
    _append(store, 1, state=True)  # seq 2 again, this time committed
    assert [c.seq for c in _chain_checkpoints(store, key_dir)] == [1, 2]
    assert _verify(store).intact


def test_entries_signed_with_another_key_are_named(
    store: Store, key_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _append(store, 3)
    use_key_dir(monkeypatch, tmp_path / "someone-elses")
    _append(store, 2)
    use_key_dir(monkeypatch, key_dir)
    report = _verify(store)
    assert report.first_broken_seq == 4
    assert report.problem is not None and "which is not a trusted service key" in report.problem


def test_a_chain_cut_short_is_named_by_its_checkpoint(store: Store, key_dir: Path) -> None:
    _append(store, 3)
    _append(store, 1, state=True)  # checkpointed at 4
    drop_append_only_triggers(store)
    with store.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 3))
    report = _verify(store)
    assert report.first_broken_seq == 3
    assert report.problem == (
        "entry 3 is missing: the chain ends at 2 but a checkpoint outside the database names "
        "entry 4"
    )


def test_a_checkpoint_not_signed_by_the_service_is_named(
    store: Store, key_dir: Path, tmp_path: Path
) -> None:
    _append(store, 2)
    stranger = keys.service_key(tmp_path / "stranger")
    [genuine] = _chain_checkpoints(store, key_dir)
    checkpoints.write_checkpoints(
        key_dir,
        [checkpoints.make_checkpoint(stranger, genuine.chain_id, 2, "f" * 64, audit.utc_now())],
    )
    report = _verify(store)
    assert report.first_broken_seq == 2
    assert report.problem is not None and "not signed by a trusted service key" in report.problem


def test_a_chain_with_no_checkpoint_outside_the_database_is_not_intact(
    store: Store, key_dir: Path, tmp_path: Path
) -> None:
    _append(store, 2)
    shutil.rmtree(key_dir / checkpoints.CHECKPOINT_DIR)
    report = _verify(store)
    assert report.first_broken_seq == 1
    assert report.problem == f"no signed checkpoint of this chain in {key_dir}"


def test_a_verifier_needs_only_the_public_keys_and_the_checkpoints(
    store: Store, key_dir: Path, tmp_path: Path
) -> None:
    _append(store, 3, state=True)
    verifier = tmp_path / "verifier"
    shutil.copytree(key_dir / keys.TRUSTED_DIR, verifier / keys.TRUSTED_DIR)
    shutil.copytree(key_dir / checkpoints.CHECKPOINT_DIR, verifier / checkpoints.CHECKPOINT_DIR)
    report = _verify(store, verifier)
    assert report.intact and report.checkpoints == 3 and report.checkpointed_seq == 3
    assert not (verifier / keys.SERVICE_KEY_FILE).exists()  # verifying makes no key


def test_a_rotated_key_leaves_what_the_old_one_signed_verifiable(
    store: Store, key_dir: Path
) -> None:
    _append(store, 2)
    old, new = keys.rotate_service_key(key_dir)
    _append(store, 2)
    assert old != new
    assert (key_dir / keys.RETIRED_DIR / f"{old}.pem").is_file()
    with store.session() as session:
        used = session.scalars(select(AuditEntry.key_id).order_by(AuditEntry.seq)).all()
    assert used == [old, old, new, new]
    assert _verify(store).intact


def test_entries_from_before_the_service_key_are_vouched_for_by_a_checkpoint(
    store: Store, key_dir: Path
) -> None:
    """A store upgraded from 0003: its entries carry no signature; the first signed entry is
    checkpointed, which vouches for all of them through the hash chain."""
    _append(store, 3)
    drop_append_only_triggers(store)
    shutil.rmtree(key_dir / checkpoints.CHECKPOINT_DIR)
    with store.session() as session:
        session.execute(update(AuditEntry).values(key_id=None, service_signature=None))
    assert _verify(store).problem == "it has no service signature and no checkpoint covers it"
    _append(store, 1)  # the first entry written with the key checkpoints the whole chain
    assert [c.seq for c in _chain_checkpoints(store, key_dir)] == [4]
    assert _verify(store).intact


def _unsigned_at_head(store: Store) -> int:
    """An entry added at the head with its hash and link right but no service signature, as
    whoever writes the database can; its seq."""
    with store.session() as session:
        head = session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
        assert head is not None
        entry = unsigned_entry(
            head.seq + 1,
            head.entry_hash,
            action="user.create",
            entity="user",
            entity_id="mallory",
            new={"role": "pharmacist"},
        )
        session.add(entry)
        return entry.seq


def test_an_unsigned_entry_among_signed_ones_is_named_though_a_checkpoint_covers_it(
    store: Store, key_dir: Path
) -> None:
    """The next signed entry chains onto it and is checkpointed: only a signature would tell."""
    _append(store, 2)
    forged = _unsigned_at_head(store)
    _append(store, 1)
    assert [c.seq for c in _chain_checkpoints(store, key_dir)][-1] == forged + 1
    report = _verify(store)
    assert (report.first_broken_seq, report.problem) == (forged, audit.UNSIGNED_AFTER_SIGNED)
    with store.session() as session:
        entry = session.get(AuditEntry, forged)
        assert entry is not None
        assert audit.entry_problem(session, entry, keys.trusted_keys()) == (
            audit.UNSIGNED_AFTER_SIGNED
        )


def test_one_entry_is_believed_only_as_the_service_signed_it_or_vouched_for_it(
    store: Store, key_dir: Path
) -> None:
    """`entry_problem`, entry by entry without walking the chain: a signed entry by its own
    signature; one from before the service key by the first signed entry after it."""
    _append(store, 3)
    drop_append_only_triggers(store)
    with store.session() as session:  # entries 1-2 as a store from before keys holds them
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.seq <= 2)
            .values(key_id=None, service_signature=None)
        )

    def problems() -> list[str | None]:
        with store.session() as session:
            entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
            return [audit.entry_problem(session, e, keys.trusted_keys()) for e in entries]

    assert problems() == [None, None, None]
    with store.session() as session:  # the older entry 1 edited, its hash recomputed
        first = session.get(AuditEntry, 1)
        assert first is not None
        first.new_json = '{"n":99}'
        first.entry_hash = audit.entry_hash(first)
    assert problems() == ["the entry after it (2) does not link to it", None, None]
    with store.session() as session:  # and entry 2 relinked to it: the signed entry 3 is not
        second = session.get(AuditEntry, 2)
        assert second is not None
        second.prev_hash = first.entry_hash
        second.entry_hash = audit.entry_hash(second)
    assert problems() == [
        "it has no service signature and the chain from it to the first signed entry (3) is "
        "broken at entry 3",
        "the entry after it (3) does not link to it",
        None,
    ]
    with pytest.raises(audit.EntryNotAuthentic) as refused, store.session() as session:
        audit.check_authentic(session, [session.get(AuditEntry, 2)])  # type: ignore[list-item]
    assert (refused.value.field, refused.value.value) == ("audit entry", 2)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.integers(min_value=1, max_value=8),
    note=st.text(min_size=1, max_size=20),
    resign_all=st.booleans(),
)
def test_any_rewritten_entry_is_named_however_much_is_recomputed(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    target: int,
    note: str,
    resign_all: bool,
) -> None:
    folder = tmp_path_factory.mktemp("chain")
    real = use_key_dir(monkeypatch, folder / "keys")
    store = open_store(f"sqlite:///{folder / 'printmed.sqlite'}")
    try:
        _append(store, 8)
        forge(
            store,
            target,
            {"forged": note},
            folder / "forger",
            resign_from=1 if resign_all else None,
        )
        report = _verify(store, real)
        assert report.first_broken_seq == (1 if resign_all else target)
        assert report.problem is not None
        assert "not a trusted service key" in report.problem
        # Everything the forger could recompute was: with their own keys the chain verifies.
        if resign_all:
            assert _verify(store, folder / "forger").intact
    finally:
        store.dispose()


def test_a_checkpoint_line_cut_short_by_a_crash_is_left_out_and_a_garbled_one_is_named(
    store: Store, key_dir: Path
) -> None:
    _append(store, 2, state=True)
    first, _ = _chain_checkpoints(store, key_dir)
    path = checkpoints.checkpoint_file(key_dir, first.chain_id)
    with path.open("a") as file:
        file.write('{"chain_id": "' + first.chain_id[:10])
    assert _verify(store).intact
    with path.open("a") as file:
        file.write("\n")
    report = _verify(store)
    assert report.first_broken_seq == 1
    assert report.problem is not None and f"{path}:3" in report.problem
