"""`printmed batches new --printer`: the profile itself, or a registered printer of it at the
user's site; any other name is one line naming it, exit 2, and nothing recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from printmed.jobs import register
from printmed.store import open_store
from printmed.store.models import Batch, User
from tests.records.builders import PRESCRIPTION, PROFILE_ID, add_users
from tests.records.test_batches_cli import cli

CALIBRATED = {"e_steps": 100.0, "bed_level": 0.02, "nozzle_temperature": 0.5}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A store with tech, pharm and one registered, calibrated printer of PROFILE_ID, fdm-a."""
    data = tmp_path / "data"
    store = open_store(f"sqlite:///{data / 'printmed.sqlite'}")
    pharm: User = add_users(store, "tech", "pharm")["pharm"]
    with store.session() as session:
        register.add_printer(
            session,
            pharm,
            name="fdm-a",
            profile_id=PROFILE_ID,
            serial_number="SN-FDM-0001",
            location="clean room 2",
            connection=register.Connection("sim"),
        )
        register.record_calibration(session, pharm, "fdm-a", CALIBRATED)
    store.dispose()
    return data


def order_file(folder: Path) -> str:
    path = folder / "rx.json"
    path.write_text(json.dumps(PRESCRIPTION | {"units": 1}))
    return str(path)


def test_a_registered_printer_of_the_profile_is_the_batchs_printer(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = ("batches", "new", order_file(data_dir), "--printer", "fdm-a", "--profile", PROFILE_ID)
    assert cli(monkeypatch, data_dir, *new, user="tech") == 0
    assert " for printer fdm-a " in capsys.readouterr().out


@pytest.mark.parametrize("printer", ["sim-1", "sse-syringe-08"])
def test_a_printer_the_register_does_not_know_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    printer: str,
) -> None:
    new = ("batches", "new", order_file(data_dir), "--printer", printer, "--profile", PROFILE_ID)
    assert cli(monkeypatch, data_dir, *new, user="tech") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"printmed batches: error: printer: '{printer}' is ")
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}")
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0
    store.dispose()
