"""The forgery of issue 13, done with the project's own functions: a crashed batch's
`interrupted` entry rewritten as `printed`, every later hash, service signature, e-signature and
the job row recomputed, the append-only triggers dropped first. `records verify` names the
rewritten entry and exits 1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from printmed.cli import main
from printmed.jobs import service
from printmed.records.signatures import authenticate_signer, sign
from printmed.store import Store
from printmed.store.models import AuditEntry
from tests.records.builders import FIRMWARE, PASSWORD, add_users, queued_job
from tests.records.forgery import forge, use_key_dir


def _crashed_and_reviewed_batch(store: Store) -> tuple[str, int]:
    """A batch whose print was cut short by a crash, reviewed and signed by a pharmacist, with
    another batch entered after it; the batch number and the seq of its `interrupted` entry."""
    users = add_users(store, "tech", "pharm")
    batch = queued_job(store, users["tech"])
    with store.session() as session:
        claimed = service.claim_next(session, "sim-1", "w1", FIRMWARE)
        assert claimed is not None and claimed.batch_number == batch
    with store.session() as session:
        assert service.recover_interrupted(session, "sim-1", "w1") == [batch]
    with store.session() as session:
        signer = authenticate_signer(session, "pharm", PASSWORD, "reviewed")
        sign(session, service.get_batch(session, batch), signer, "reviewed")
    queued_job(store, users["tech"])
    with store.session() as session:
        seq = session.scalar(
            select(AuditEntry.seq).where(
                AuditEntry.batch_number == batch, AuditEntry.action == "job.print.interrupted"
            )
        )
    assert seq is not None
    return batch, seq


def _verify(monkeypatch: pytest.MonkeyPatch, store: Store, *argv: str) -> int:
    monkeypatch.setenv("DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return main(["records", "verify", *argv])


def test_records_verify_names_an_entry_rewritten_and_recomputed_with_the_projects_code(
    any_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = use_key_dir(monkeypatch, tmp_path / "keys")
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(tmp_path / "data"))
    batch, seq = _crashed_and_reviewed_batch(any_store)
    assert _verify(monkeypatch, any_store) == 0
    assert "intact" in capsys.readouterr().out

    # The forger has the database and the code, not the key folder.
    use_key_dir(monkeypatch, tmp_path / "forger")
    forge(
        any_store,
        seq,
        {"state": "printed", "stream_report_json": {"complete": True, "lines_acknowledged": 1}},
        tmp_path / "forger",
        action="job.print.printed",
    )
    with any_store.session() as session:
        job = service.get_batch(session, batch)
        assert job.state == "printed"  # the job row agrees with the rewritten trail
        rewritten = session.get(AuditEntry, seq)
        assert rewritten is not None and json.loads(rewritten.new_json)["state"] == "printed"

    use_key_dir(monkeypatch, keys)
    assert _verify(monkeypatch, any_store) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        f"BROKEN: audit entry {seq}: it is signed with key "
        f"{rewritten.key_id}, which is not a trusted service key"
    )
    # signature 1 is the screening, made before the rewritten entry
    assert f"{batch}: signature 2 (reviewed) was made with key" in err
    assert _verify(monkeypatch, any_store, batch, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["chain"]["first_broken_seq"] == seq
    assert report["intact"] is False
