"""A worker streams a batch only to a printer that reports the identity on file for the profile
the batch's G-code was written for: Marlin's M115 (the simulated printer) and OctoPrint's printer
profile and firmware (a real OctoPrint server with its Virtual Printer). On a mismatch nothing
is sent, the batch stays queued, and the trail says what was expected and what was reported."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from printers.errors import PrinterBusy, PrinterError
from printers.firmware import FirmwareInfo
from printers.identity import PrinterIdentity
from printers.interface import Printer
from printers.octoprint_printer import OctoPrintPrinter
from printers.program import GcodeProgram
from printers.sim_printer import SimPrinter
from printmed import catalog
from printmed.audit import decoded, entries_for
from printmed.cli import main
from printmed.jobs import service
from printmed.jobs.worker import PrinterWorker
from printmed.records import masterfile
from printmed.records.integrity import verify_records
from printmed.store import Store, open_store
from tests.masterfile.builders import changed_and_approved, control_site_staff
from tests.printers.octoprint_server import OctoPrintServer
from tests.records.builders import add_users, queued_job

pytestmark = pytest.mark.timeout(180)

FDM = PrinterIdentity("Pharma-FDM-04", "Marlin")  # fixtures/printers/identity/fdm-pharma-04.json
SSE_MACHINE = "Pharma-SSE-08"
PROGRAM_COMMANDS = ("G0", "G1", "G28", "G92", "M104", "M109", "M140", "M190", "M486")
OCTOPRINT_PROFILE = "pharma_fdm_04"


def _refusals(store: Store, batch: str) -> list[dict]:
    with store.session() as session:
        return [
            decoded(e)["new"]
            for e in entries_for(session, batch)
            if e.action == "job.print.refused"
        ]


def _state(store: Store, batch: str) -> str:
    with store.session() as session:
        return service.get_batch(session, batch).state


def test_the_identities_on_file_are_those_of_the_profiles() -> None:
    assert catalog.printer_identity("fdm-pharma-04") == FDM
    assert catalog.printer_identity("sse-syringe-08") == PrinterIdentity(SSE_MACHINE, "Marlin")


@given(
    machine_type=st.sampled_from([FDM.machine_type, SSE_MACHINE, "", "pharma-fdm-04"]),
    firmware=st.sampled_from(["Marlin 2.1.2", "Marlin", "Virtual Marlin 1.0", "Klipper", ""]),
)
def test_a_printer_is_accepted_exactly_when_machine_and_firmware_match(
    machine_type: str, firmware: str
) -> None:
    differences = FDM.differences(PrinterIdentity(machine_type, firmware))
    matches = machine_type == FDM.machine_type and firmware.startswith("Marlin")
    assert (differences == []) is matches
    if machine_type != FDM.machine_type:
        assert any(repr(machine_type) in d for d in differences)


def test_a_real_marlin_m115_report_gives_its_machine_type_and_firmware() -> None:
    report = FirmwareInfo.from_m115(
        [
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Oct 10 2023 12:00:00) SOURCE_CODE_URL:github.com/"
            "MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Pharma-FDM-04 "
            "EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff",
            "Cap:EMERGENCY_PARSER:1",
        ]
    )
    reported = PrinterIdentity.reported_in(report.fields)
    assert reported == PrinterIdentity("Pharma-FDM-04", "Marlin 2.1.2.1 (Oct 10 2023 12:00:00)")
    assert FDM.differences(reported) == []


# ----------------------------------------------------------------- the simulated Marlin


def _sim_worker(store: Store, machine_type: str) -> PrinterWorker:
    printer = SimPrinter(speed_factor=200.0, baud=None, machine_type=machine_type)
    return PrinterWorker(store, "sim-1", printer, "w1", poll_s=0.05)


def test_a_simulated_printer_reporting_the_profile_machine_prints_the_batch(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    worker = _sim_worker(store, FDM.machine_type)
    try:
        assert worker.run_once() == batch
    finally:
        worker.printer.disconnect()
    with store.session() as session:
        job = service.get_batch(session, batch)
        assert (job.state, job.claimed_by) == ("printed", "w1")
        assert (
            service.column_value(job, "firmware_json")["fields"]["MACHINE_TYPE"] == "Pharma-FDM-04"
        )
    assert _refusals(store, batch) == []


def test_a_simulated_printer_of_another_machine_is_refused_and_sent_nothing(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    worker = _sim_worker(store, SSE_MACHINE)
    try:
        assert worker.run(threading.Event(), until_idle=True) == []
        assert worker.run_once() is None  # it claims nothing more until reconnected
        assert worker.printer.firmware_side is not None  # type: ignore[attr-defined]
        executed = list(worker.printer.firmware_side.executed)  # type: ignore[attr-defined]
    finally:
        worker.printer.disconnect()
    assert [c for _, c in executed if c.split()[0] in PROGRAM_COMMANDS] == []
    assert _state(store, batch) == "queued"
    refusals = _refusals(store, batch)
    assert len(refusals) == 1
    assert refusals[0]["expected"] == {"machine_type": "Pharma-FDM-04", "firmware": "Marlin"}
    assert refusals[0]["reported"] == {
        "machine_type": SSE_MACHINE,
        "firmware": "Marlin 2.1.2 (printmed simulator)",
    }
    assert refusals[0]["profile_id"] == "fdm-pharma-04"
    with store.session() as session:
        assert verify_records(session).intact  # the batch's own record is untouched


def test_a_printer_swapped_on_the_same_port_between_two_jobs_is_refused_the_second(
    store: Store,
) -> None:
    """The identity is asked again before each claim, not remembered from the connection."""
    users = add_users(store, "tech")
    first = queued_job(store, users["tech"], units=1)
    second = queued_job(store, users["tech"], units=1)
    worker = _sim_worker(store, FDM.machine_type)
    try:
        assert worker.run_once() == first
        sim = worker.printer.firmware_side  # type: ignore[attr-defined]
        assert sim is not None
        sim.machine_type = SSE_MACHINE  # another machine now answers on the same port
        done = len(sim.executed)
        assert worker.run_once() is None
        after = [c for _, c in list(sim.executed)[done:]]
    finally:
        worker.printer.disconnect()
    assert after == ["M115"]  # asked who it is; sent nothing of the batch
    assert (_state(store, first), _state(store, second)) == ("printed", "queued")
    assert _refusals(store, first) == []
    [refusal] = _refusals(store, second)
    assert refusal["reported"]["machine_type"] == SSE_MACHINE
    assert refusal["expected"] == {"machine_type": "Pharma-FDM-04", "firmware": "Marlin"}


def test_a_printer_busy_with_another_program_is_claimed_for_nothing(store: Store) -> None:
    """It cannot be asked who it is while it streams: the batch stays queued, unrecorded."""
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    worker = _sim_worker(store, FDM.machine_type)
    try:
        worker.connect()
        worker.printer.start(GcodeProgram.from_text("G4 S3600\n", name="someone else's"))
        with pytest.raises(PrinterBusy):
            worker.run_once()
    finally:
        worker.printer.disconnect()
    with store.session() as session:
        assert [e.action for e in entries_for(session, batch)][-1] == "job.queue"
    assert _state(store, batch) == "queued"


def test_an_idle_printer_is_not_asked_who_it_is(store: Store) -> None:
    """Nothing queued for it: the worker polls the store, not the printer."""
    worker = _sim_worker(store, FDM.machine_type)
    try:
        worker.connect()
        sim = worker.printer.firmware_side  # type: ignore[attr-defined]
        done = len(sim.executed)
        assert worker.run_once() is None
        assert list(sim.executed)[done:] == []
    finally:
        worker.printer.disconnect()


def test_the_refusal_is_a_typed_error_carrying_what_the_printer_reported(store: Store) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    firmware = {"name": "Klipper", "fields": {"FIRMWARE_NAME": "Klipper", "MACHINE_TYPE": "X"}}
    with pytest.raises(service.PrinterIdentityMismatch) as refused, store.session() as session:
        service.claim_next(session, "sim-1", "w1", firmware)
    assert refused.value.field == "printer.identity"
    assert refused.value.value == {"machine_type": "X", "firmware": "Klipper"}
    assert refused.value.batch_number == batch
    assert "machine type 'X' is not 'Pharma-FDM-04'" in str(refused.value)
    assert _state(store, batch) == "queued"


def test_a_profile_without_an_identity_on_file_prints_on_no_printer(store: Store) -> None:
    users = control_site_staff(store)
    batch = queued_job(store, users["tech"], units=1)
    # the master file's profile, changed (and approved) to hold no identity
    with store.read_session() as session:
        profile = json.loads(
            masterfile.in_force(session, "profile", "fdm-pharma-04")[0].content_json
        )
    changed_and_approved(
        store, users["tech"], "profile", "fdm-pharma-04", {**profile, "identity": None}
    )
    firmware = {"name": "Marlin 2.1.2", "fields": {"FIRMWARE_NAME": "Marlin 2.1.2"}}
    with pytest.raises(service.PrinterIdentityMismatch) as refused, store.session() as session:
        service.claim_next(session, "sim-1", "w1", firmware)
    assert refused.value.expected is None
    assert "no identity on file for that profile" in str(refused.value)
    assert _state(store, batch) == "queued"


def test_the_worker_command_on_a_simulator_of_another_profile_refuses_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'printmed.sqlite'}")
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    argv = ["worker", "--printer", "sim-1", "--sim-profile", "sse-syringe-08", "--until-idle"]
    assert main([*argv, "--poll-s", "0.05", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{batch} not streamed" in err
    assert "machine type 'Pharma-SSE-08' is not 'Pharma-FDM-04'" in err
    assert _state(store, batch) == "queued"
    store.dispose()


def test_the_worker_command_needs_a_printer_with_an_identity_on_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--printer", "sim-1", "--data-dir", str(tmp_path)]) == 2
    assert "printer: 'sim-1' has no identity on file" in capsys.readouterr().err


# ----------------------------------------------------------------- OctoPrint's Virtual Printer


@pytest.fixture(scope="module")
def octoprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintServer]:
    """An OctoPrint server whose Virtual Printer calls itself Marlin, with a printer profile
    for the pharmacy's FDM printer beside OctoPrint's default one."""
    with OctoPrintServer(tmp_path_factory.mktemp("octoprint")) as server:
        headers = {"X-Api-Key": server.api_key}
        profile = {"id": OCTOPRINT_PROFILE, "name": "Pharma FDM 04", "model": FDM.machine_type}
        answer = requests.post(
            f"{server.url}/api/printerprofiles", json={"profile": profile}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        firmware = {"plugins": {"virtual_printer": {"firmwareName": "Marlin 2.1.2 (virtual)"}}}
        answer = requests.post(f"{server.url}/api/settings", json=firmware, headers=headers)
        assert answer.status_code == 200, answer.text
        yield server


def _octoprint_printer(server: OctoPrintServer, profile: str) -> OctoPrintPrinter:
    """An OctoPrint printer that connects the Virtual Printer afresh with printer profile
    `profile` (OctoPrint is told to close any connection first)."""
    answer = requests.post(
        f"{server.url}/api/connection",
        json={"command": "disconnect"},
        headers={"X-Api-Key": server.api_key},
    )
    assert answer.status_code == 204, answer.text
    return OctoPrintPrinter(
        server.url,
        server.api_key,
        serial_port="VIRTUAL",
        printer_profile=profile,
        poll_interval_s=0.2,
    )


def _uploaded(printer: Printer) -> dict[str, int]:
    """The files on the OctoPrint server and when each was uploaded."""
    assert isinstance(printer, OctoPrintPrinter)
    return {f["name"]: f["date"] for f in printer.client.files()["files"]}


def test_octoprint_with_the_profile_machine_takes_the_batch_and_streams_it(
    store: Store, octoprint: OctoPrintServer
) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    printer = _octoprint_printer(octoprint, OCTOPRINT_PROFILE)
    worker = PrinterWorker(store, "sim-1", printer, "w1", poll_s=0.05)
    streaming = threading.Event()

    def start_and_report(*args: object, **kwargs: object) -> None:
        original_start(*args, **kwargs)  # type: ignore[arg-type]
        streaming.set()

    original_start = printer.start
    printer.start = start_and_report  # type: ignore[method-assign]
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        assert streaming.wait(60), "the worker never started streaming"
        # The whole program is minutes of Virtual Printer time: cancel it. OctoPrint ignores a
        # cancel that arrives while its job is still starting, so ask again until the worker
        # has recorded the end (at most a minute).
        printer.cancel()
        thread.join(2)
        deadline = time.monotonic() + 60
        while thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(PrinterError):  # the job may have ended meanwhile (409)
                printer.cancel()
            thread.join(2)
        uploaded = _uploaded(printer)
    finally:
        printer.disconnect()
    assert not thread.is_alive()
    assert f"{batch}.gcode" in uploaded
    with store.session() as session:
        job = service.get_batch(session, batch)
        firmware = service.column_value(job, "firmware_json")["fields"]
    assert job.state == "failed"  # cancelled by us after it had started
    assert firmware["MACHINE_TYPE"] == FDM.machine_type
    assert firmware["PRINTER_PROFILE"] == OCTOPRINT_PROFILE
    assert firmware["FIRMWARE_NAME"] == "Marlin 2.1.2 (virtual)"
    assert _refusals(store, batch) == []


def test_octoprint_is_asked_again_and_answers_with_the_profile_it_is_connected_with_now(
    octoprint: OctoPrintServer,
) -> None:
    """OctoPrint reconnected with another printer profile after `connect`: `identify` says so."""
    printer = _octoprint_printer(octoprint, OCTOPRINT_PROFILE)
    try:
        assert printer.connect().fields["MACHINE_TYPE"] == FDM.machine_type
        # OctoPrint's connection closed and made again with another printer profile (this
        # connect returns once OctoPrint reports the printer operational)
        _octoprint_printer(octoprint, "_default").connect()
        now = printer.identify()
    finally:
        printer.disconnect()
    assert now.fields["PRINTER_PROFILE"] == "_default"
    assert now.fields["MACHINE_TYPE"] == "Generic RepRap Printer"
    assert now.fields["FIRMWARE_NAME"] == "Marlin 2.1.2 (virtual)"


def test_octoprint_with_another_printer_profile_is_refused_and_sent_nothing(
    store: Store, octoprint: OctoPrintServer
) -> None:
    users = add_users(store, "tech")
    batch = queued_job(store, users["tech"], units=1)
    printer = _octoprint_printer(octoprint, "_default")
    worker = PrinterWorker(store, "sim-1", printer, "w1", poll_s=0.05)
    try:
        worker.connect()
        before = _uploaded(printer)
        assert worker.run_once() is None
        after = _uploaded(printer)
    finally:
        printer.disconnect()
    assert after == before  # nothing uploaded, nothing replaced
    assert _state(store, batch) == "queued"
    [refusal] = _refusals(store, batch)
    assert refusal["expected"] == {"machine_type": "Pharma-FDM-04", "firmware": "Marlin"}
    assert refusal["reported"]["machine_type"] == "Generic RepRap Printer"
