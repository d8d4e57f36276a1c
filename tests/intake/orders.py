"""Orders for the intake tests: issue 13's FHIR and native orders, read at a fixed moment."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from dosing.prescription import Prescription, parse_prescription
from printmed.intake.clinical import question
from printmed.intake.fhir_order import prescription_from_fhir
from printmed.settings import ObservationWindows
from tests.api.payloads import native_measured_order, uk_core_order

# Five days after the orders were written (2026-11-24T10:00Z), as the fixtures say.
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
WRITTEN = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
UCUM = "http://unitsofmeasure.org"


def fhir(order: dict[str, Any], now: dt.datetime = NOW) -> Prescription:
    return prescription_from_fhir(order, now=now)


def native(
    order: dict[str, Any], now: dt.datetime = NOW, windows: ObservationWindows | None = None
) -> Prescription:
    return question(parse_prescription(order), now=now, windows=windows)


def fhir_order() -> dict[str, Any]:
    return copy.deepcopy(uk_core_order())


def native_order() -> dict[str, Any]:
    return copy.deepcopy(native_measured_order())


def measured_days_before(days: float, at: dt.datetime = WRITTEN) -> str:
    return (at - dt.timedelta(days=days)).isoformat()
