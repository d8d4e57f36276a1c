"""An order's record takes the dose gate's own reading of its program, made before the SQLite
write turn that every other writer waits for, never while holding it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from printmed.jobs import stored_gate
from printmed.store import engine
from tests.api.conftest import Callers
from tests.api.fhir_helpers import post_order
from tests.api.payloads import uk_core_order


def test_an_orders_gate_reading_is_made_outside_the_write_turn(
    client: TestClient, callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings: list[bool] = []
    reading = stored_gate.check_dose

    def check_dose(*args: Any, **kwargs: Any) -> Any:
        # inside a write turn, `engine._turn.after` holds the work waiting for its end
        readings.append(getattr(engine._turn, "after", None) is not None)
        return reading(*args, **kwargs)

    monkeypatch.setattr(stored_gate, "check_dose", check_dose)
    answer = post_order(client, uk_core_order(), callers["epma"], key="gate-outside-the-turn")
    assert answer.status_code == 201, answer.text
    assert readings == [False]  # the record's reading: made once, and outside the turn
