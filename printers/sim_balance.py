"""A simulated bench balance on a pseudo-terminal, speaking the MT-SICS subset the weighing code
reads: asked `S` (send stable weight), it prints `S D …` while settling, then
`S S     0.12530 g` for the unit on the pan; with nothing left to weigh it answers `S I`.

It weighs what the simulated printer laid down: per labelled object, the E it executed (flow
error included) × a mass per unit of E that the caller passes in (printers know no dose), plus
Gaussian noise of `noise_sd_mg`.

    with SimBalance(noise_sd_mg=0.2, seed=7) as balance:
        balance.load(masses_of(sim.extruded_e, mg_per_e=2.99))
        ... read_weights(balance.port, n, request=True)
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import selectors
import threading
import tty
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType


def masses_of(
    extruded_e: Mapping[int, float], mg_per_e: float, labels: Iterable[int] | None = None
) -> list[float]:
    """Mass (mg) of each labelled object (M486 S0, S1, … in order) from the E executed for it;
    what was extruded outside every object (-1) is not on the balance. `labels` (in order)
    picks the units that are weighed, leaving out a prime line (one more object, no unit)."""
    chosen = sorted(i for i in extruded_e if i >= 0) if labels is None else list(labels)
    return [extruded_e.get(index, 0.0) * mg_per_e for index in chosen]


class SimBalance:
    """A balance at the device end of a pty; `port` is the path the host opens."""

    def __init__(self, *, noise_sd_mg: float = 0.0, seed: int | None = None) -> None:
        self.noise_sd_mg = noise_sd_mg
        self._random = random.Random(seed)
        self._device, self._host = os.openpty()
        tty.setraw(self._host)  # a serial line: no echo, no line editing
        self.port = os.ttyname(self._host)
        self.printed: list[float] = []  # every stable reading printed, mg (noise included)
        self._pan: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="sim-balance", daemon=True)
        self._thread.start()

    def load(self, masses_mg: Sequence[float]) -> None:
        """The units to weigh next, in order (mg, before noise)."""
        with self._lock:
            self._pan.extend(masses_mg)

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._device, selectors.EVENT_READ)
        selector.register(self._stop_read, selectors.EVENT_READ)
        buffer = b""
        while True:
            ready = {key.fd for key, _ in selector.select()}
            if self._stop_read in ready:
                break
            try:
                buffer += os.read(self._device, 256)
            except OSError:
                break
            *commands, buffer = buffer.replace(b"\r", b"").split(b"\n")
            for command in commands:
                self._answer(command.strip().upper())
        selector.close()

    def _answer(self, command: bytes) -> None:
        if command != b"S":
            self._say("ES")  # MT-SICS: syntax error
            return
        with self._lock:
            mass = self._pan.popleft() if self._pan else None
        if mass is None:
            self._say("S I")  # nothing on the pan: command not executable
            return
        grams = round((mass + self._random.gauss(0.0, self.noise_sd_mg)) / 1000.0, 5)
        self.printed.append(grams * 1000.0)
        self._say(f"S D {grams * 1.01:11.5f} g", f"S S {grams:11.5f} g")

    def _say(self, *lines: str) -> None:
        os.write(self._device, "".join(f"{line}\r\n" for line in lines).encode("ascii"))

    def close(self) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join(timeout=5)
        for fd in (self._device, self._host, self._stop_read, self._stop_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> SimBalance:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
