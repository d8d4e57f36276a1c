"""A clock that moves only when a test says so, for the sign-in defence's waits and windows."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass
class MovingClock:
    """Called, it gives `now`; `advance` moves it on. Nothing waits for it."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
