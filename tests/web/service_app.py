"""The service as the browser tests run it: printmed's app driving simulated printers, fast.

uvicorn imports `app_factory` in the service process. PRINTMED_TEST_PRINTERS lists
`profile:speed_factor` pairs: the FDM printer runs 120 times faster than the G-code's own times
(a 10-tablet batch prints in seconds, yet slowly enough to pause it and watch its progress);
the SSE printer runs slowly, so that an emergency stop lands in the middle of a print.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from printmed.app import create_app
from printmed.jobs.printers import simulated_printer


def app_factory() -> FastAPI:
    printers = {}
    for entry in os.environ["PRINTMED_TEST_PRINTERS"].split(","):
        name, speed = entry.split(":")
        printers[name] = simulated_printer(name, speed_factor=float(speed), baud=None)
    return create_app(printers=printers, worker_poll_s=0.2)
