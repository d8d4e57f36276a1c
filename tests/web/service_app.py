"""The service as the browser tests run it: printmed's app with one simulated printer, fast.

uvicorn imports `app_factory` in the service process; PRINTMED_TEST_PRINTER names the printer.
The simulator runs 120 times faster than the G-code's own times and without wire delays, so a
10-tablet batch prints in a few seconds yet slowly enough to pause it and watch its progress.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from printers.sim_printer import SimPrinter
from printmed.app import create_app

SPEED_FACTOR = 120.0


def app_factory() -> FastAPI:
    printer = SimPrinter(speed_factor=SPEED_FACTOR, baud=None)
    return create_app(printers={os.environ["PRINTMED_TEST_PRINTER"]: printer}, worker_poll_s=0.2)
