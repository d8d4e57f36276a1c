"""Fixtures of the printer tests: a fast simulated printer, disconnected after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from printers.sim_marlin import Faults
from printers.sim_printer import SimPrinter
from tests.printers.printer_test_helpers import FAST


@pytest.fixture
def make_sim() -> Iterator:
    made: list[SimPrinter] = []

    def make(faults: Faults | None = None, **options: object) -> SimPrinter:
        options.setdefault("speed_factor", 500.0)
        options.setdefault("baud", None)
        options.setdefault("settings", FAST)
        printer = SimPrinter(faults=faults, **options)  # type: ignore[arg-type]
        printer.connect()
        made.append(printer)
        return printer

    yield make
    for printer in made:
        printer.disconnect()


@pytest.fixture(scope="session")
def octoprint_server(tmp_path_factory):
    """One OctoPrint server for the session (it takes ~7 s to start)."""
    from tests.printers.octoprint_server import OctoPrintServer

    with OctoPrintServer(tmp_path_factory.mktemp("octoprint")) as server:
        yield server
