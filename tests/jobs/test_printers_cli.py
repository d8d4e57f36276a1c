"""`printmed printers …` and `printmed worker --printer NAME` with the register: add, calibrate,
status, line clearance, a worker taking its connection from the register; refusals exit 2
naming the field and the value and change nothing; the API key is never printed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from printmed.cli import main
from printmed.jobs import service
from printmed.settings import load_settings
from printmed.store import Store, open_store
from tests.records.builders import PASSWORD, PROFILE_ID, add_users, queued_job

KEY = "BEEF0123456789ABCDEF0123456789AB"
LOT = "LOT-TEST-001"


def run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main([*argv, "--data-dir", str(data_dir)])


def signed(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, user: str, *argv: str, more: str = ""
) -> int:
    args = (*argv, "--user", user, "--password-stdin")
    return run(monkeypatch, data_dir, *args, stdin=PASSWORD + "\n" + more)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRINTMED_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PRINTMED_KEY_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def store(data_dir: Path) -> Store:
    opened = open_store(load_settings({"PRINTMED_DATA_DIR": str(data_dir)}).database_url)
    return opened


def test_register_calibrate_clear_and_a_worker_prints_on_the_registered_printer(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    users = add_users(store, "tech", "pharm")
    add = ("printers", "add", "fdm-a", "--profile", PROFILE_ID, "--serial", "SN-1")
    assert signed(monkeypatch, data_dir, "pharm", *add, "--location", "bench A", "--sim") == 0
    calibrate = ("printers", "calibrate", "fdm-a", "--e-steps", "100.1", "--bed-level", "0.05")
    assert signed(monkeypatch, data_dir, "pharm", *calibrate, "--nozzle-temperature", "1") == 0
    assert "fdm-a: calibration pass; next due" in capsys.readouterr().out
    batch = queued_job(store, users["tech"], printer=PROFILE_ID, units=1)
    clear = ("printers", "clear", "fdm-a", batch, "--plate-clear")
    assert signed(monkeypatch, data_dir, "tech", *clear, "--lot", "LOT-TEST-002") == 2
    assert "lot_number: 'LOT-TEST-002' is not the lot of" in capsys.readouterr().err
    assert signed(monkeypatch, data_dir, "tech", *clear, "--lot", LOT) == 0
    worker = ("worker", "--printer", "fdm-a", "--until-idle", "--speed-factor", "200")
    assert run(monkeypatch, data_dir, *worker, "--poll-s", "0.05") == 0
    assert f"{batch}: done" in capsys.readouterr().out
    with store.session() as session:
        printed = service.get_batch(session, batch)
        assert (printed.state, printed.printer, printed.printer_serial) == (
            "printed",
            "fdm-a",
            "SN-1",
        )
    assert run(monkeypatch, data_dir, "printers", "list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["status_now"], listed["cleared_batch"]) == (
        "fdm-a",
        "in_service",
        None,
    )
    store.dispose()


def test_a_worker_for_a_name_not_in_the_register_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_users(store, "pharm")
    add = ("printers", "add", "fdm-a", "--profile", PROFILE_ID, "--serial", "SN-1")
    assert signed(monkeypatch, data_dir, "pharm", *add, "--location", "bench A", "--sim") == 0
    assert run(monkeypatch, data_dir, "worker", "--printer", "fdm-z", "--until-idle") == 2
    assert "printer: 'fdm-z' is not a printer in the register" in capsys.readouterr().err
    store.dispose()


def test_an_octoprint_key_is_read_from_stdin_and_never_printed(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_users(store, "pharm")
    add = ("printers", "add", "sse-a", "--profile", "sse-syringe-08", "--serial", "SN-2")
    where = ("--location", "bench B", "--octoprint", "http://octopi.local")
    assert signed(monkeypatch, data_dir, "pharm", *add, *where, more=KEY + "\n") == 0
    assert run(monkeypatch, data_dir, "printers", "show", "sse-a") == 0
    assert run(monkeypatch, data_dir, "printers", "show", "sse-a", "--json") == 0
    shown = capsys.readouterr().out
    assert "(sealed; not shown)" in shown
    assert KEY not in shown
    store.dispose()


def test_a_set_status_without_a_reason_or_with_an_unknown_status_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_users(store, "pharm")
    add = ("printers", "add", "fdm-a", "--profile", PROFILE_ID, "--serial", "SN-1")
    assert signed(monkeypatch, data_dir, "pharm", *add, "--location", "bench A", "--sim") == 0
    status = ("printers", "set-status", "fdm-a", "out_of_service")
    assert signed(monkeypatch, data_dir, "pharm", *status, "--reason", " ") == 2
    assert "reason: ' ' is required for a change" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse: not one of the choices
        signed(monkeypatch, data_dir, "pharm", "printers", "set-status", "fdm-a", "broken")
    assert refused.value.code == 2
    assert signed(monkeypatch, data_dir, "pharm", *status, "--reason", "belt worn") == 0
    assert "fdm-a: out of service" in capsys.readouterr().out
    store.dispose()


def test_a_worker_reaches_a_usb_or_octoprint_printer_as_the_register_says_unless_overridden(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, store: Store
) -> None:
    """The worker's printer is built from the register's connection (the OctoPrint key opened
    from its seal), and flags override it; nothing connects here (a printer connects when the
    worker starts: the run itself is the test above, on the register's simulator)."""
    import argparse

    from printers.octoprint_printer import OctoPrintPrinter
    from printers.serial_printer import SerialPrinter
    from printmed.cli.worker import printer_for, register

    add_users(store, "pharm")
    usb = ("printers", "add", "fdm-u", "--profile", PROFILE_ID, "--serial", "SN-U")
    on_usb = ("--location", "bench U", "--port", "/dev/ttyACM7", "--baud", "250000")
    assert signed(monkeypatch, data_dir, "pharm", *usb, *on_usb) == 0
    octo = ("printers", "add", "sse-o", "--profile", "sse-syringe-08", "--serial", "SN-O")
    on_octoprint = ("--location", "bench O", "--octoprint", "http://octopi.local")
    assert signed(monkeypatch, data_dir, "pharm", *octo, *on_octoprint, more=KEY + "\n") == 0

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def built(name: str, *flags: str) -> object:
        return printer_for(parser.parse_args(["worker", "--printer", name, *flags]), store)

    from_register = built("fdm-u")
    assert isinstance(from_register, SerialPrinter)
    assert (from_register.port, from_register.baud) == ("/dev/ttyACM7", 250000)
    overridden = built("fdm-u", "--port", "/dev/ttyUSB3", "--baud", "115200")
    assert isinstance(overridden, SerialPrinter)
    assert (overridden.port, overridden.baud) == ("/dev/ttyUSB3", 115200)
    octoprint = built("sse-o")
    assert isinstance(octoprint, OctoPrintPrinter)
    assert (octoprint.url, octoprint.api_key) == ("http://octopi.local", KEY)
    assert not isinstance(built("sse-o", "--sim"), OctoPrintPrinter)
    store.dispose()
