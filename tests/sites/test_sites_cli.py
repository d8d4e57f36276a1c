"""`printmed sites` and the site column of `printmed users`: the real output, a refusal as one
line with exit status 2 and nothing recorded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from printmed.auth.users import create_user
from printmed.cli import main
from printmed.store import open_store
from printmed.store.models import AuditEntry, Site, User
from tests.records.builders import PASSWORD


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PRINTMED_KEY_DIR", str(tmp_path.parent / f"{tmp_path.name}-keys"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    with store.session() as session:
        for username, role in (("admin", "admin"), ("phil", "pharmacist"), ("tess", "technician")):
            create_user(
                session,
                None,
                username=username,
                full_name=username.title(),
                role=role,
                password=PASSWORD,
            )
    store.dispose()
    return tmp_path


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main(list(argv))


def _recorded(data_dir: Path) -> tuple[int, int]:
    """(sites, site.create entries) in the store."""
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}")
    try:
        with store.read_session() as session:
            made = select(func.count()).where(AuditEntry.action == "site.create")
            return (
                int(session.scalar(select(func.count()).select_from(Site)) or 0),
                int(session.scalar(made) or 0),
            )
    finally:
        store.dispose()


def test_the_control_site_role_is_granted_and_listed(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    granted = ["sites", "control", "phil", "--grant", "--reason", "control-site pharmacist"]
    assert _run(monkeypatch, *granted, "--user", "admin", "--password-stdin") == 0
    assert capsys.readouterr().out == "phil holds the control-site role\n"
    assert main(["sites", "list"]) == 0
    assert capsys.readouterr().out == (
        "main         Main pharmacy  control site\n"
        "             staff: admin, phil (control), tess\n"
        "             printers: -\n"
    )
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1] == "phil                 pharmacist  main       Phil  (control-site role)"
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}")
    with store.read_session() as session:
        phil = session.scalar(select(User).where(User.username == "phil"))
        assert phil is not None and phil.control_site
    store.dispose()


def test_a_second_site_on_sqlite_is_one_line_exit_2_and_nothing_recorded(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    adding = ["sites", "add", "ward-b", "--name", "Ward B", "--user", "admin", "--password-stdin"]
    assert _run(monkeypatch, *adding) == 2
    err = capsys.readouterr().err
    assert err.startswith("printmed sites: error: code: 'ward-b' cannot be added: an SQLite")
    assert len(err.strip().splitlines()) == 1
    assert _recorded(data_dir) == (1, 0)
