"""A store from before keys (migration 0003): its entries carry no service signature. After the
upgrade it is not yet vouched for; the first signed entry (any change, or `records checkpoint`)
writes a checkpoint that vouches for every older entry through the hash chain."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import insert

from printmed import audit
from printmed.cli import main
from printmed.store import open_store
from printmed.store.engine import make_engine
from printmed.store.migrate import upgrade
from printmed.store.models import AuditEntry, Base
from tests.records.builders import PASSWORD, add_users
from tests.records.forgery import use_key_dir
from tests.store.conftest import fresh_postgres_database

OLD_COLUMNS = [*audit.HASHED_COLUMNS, "entry_hash"]


def _old_entries(count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    previous = audit.GENESIS_HASH
    for seq in range(1, count + 1):
        entry = AuditEntry(
            seq=seq,
            at=f"2025-01-0{seq}T00:00:00.000000+00:00",
            actor="tech",
            action="note",
            entity="note",
            entity_id=str(seq),
            batch_number=None,
            old_json="null",
            new_json=f'{{"n":{seq}}}',
            reason="written before keys",
            prev_hash=previous,
        )
        entry.entry_hash = previous = audit.entry_hash(entry)
        rows.append({name: getattr(entry, name) for name in OLD_COLUMNS})
    return rows


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'printmed.sqlite'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


def test_a_store_from_before_keys_verifies_once_its_chain_is_checkpointed(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_key_dir(monkeypatch, tmp_path / "keys")
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    engine = make_engine(database_url)
    upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(insert(Base.metadata.tables["audit_entries"]), _old_entries(3))
    engine.dispose()
    store = open_store(database_url)  # to the newest schema: 0004 adds the key columns
    try:
        with store.session() as session:
            report = audit.verify_chain(session)
        assert (report.first_broken_seq, report.problem) == (
            1,
            "it has no service signature and no checkpoint covers it",
        )
        add_users(store, "tech")
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        argv = ["records", "checkpoint", "--reason", "upgraded", "--user", "tech"]
        assert main([*argv, "--password-stdin"]) == 0
        assert capsys.readouterr().out.startswith("chain checkpointed at entry ")
        with store.session() as session:
            report = audit.verify_chain(session)
            first_signed = session.get(AuditEntry, 4)
        assert report.intact and report.entries > 4
        assert first_signed is not None and first_signed.service_signature is not None
        assert report.checkpointed_seq == report.entries
    finally:
        store.dispose()
