"""Least connections between the worker processes of one `printmed serve --workers N`.

A prescribing system keeps its connections open (keep-alive), so the worker that accepts a
connection serves every order sent on it. Accepting as asyncio does, a burst of connections
went mostly to whichever worker was idle at that instant (7 of 10 in benchmarks/api_load.py),
and for the rest of the run that worker had more than its share of orders while another had
spare time. Here each worker keeps the count of its open connections in its own slot of a file
the workers share, and a worker with more open connections than another live worker leaves a
waiting connection for a moment, for that worker to take.

A worker holds its slot by an exclusive `flock` on the slot's lock file for as long as it lives
(the kernel releases it when the process dies), so a slot whose lock can be taken belongs to no
live worker and its count is ignored; a replacement worker takes the free slot and starts at 0.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

ENV = "PRINTMED_SERVE_BALANCE"  # "<folder>:<workers>", set by serve for its workers
COUNT = struct.Struct("<q")


def prepare(folder: Path, workers: int) -> str:
    """Make the shared counts file in `folder` for `workers` workers; the value of ENV."""
    (folder / "counts").write_bytes(bytes(COUNT.size * workers))
    return f"{folder}:{workers}"


class Balance:
    """This worker's slot among `workers`: its open connections, and whether another live
    worker has fewer."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder, self.workers = folder, workers
        descriptor = os.open(folder / "counts", os.O_RDWR)
        try:
            self._counts = mmap.mmap(descriptor, COUNT.size * workers)
        finally:
            os.close(descriptor)
        self.slot, self._held = self._claim()

    @classmethod
    def from_environment(cls) -> Balance | None:
        """The balance serve set up for its workers, or None (one worker, or not under serve)."""
        value = os.environ.get(ENV)
        if not value:
            return None
        folder, _, workers = value.rpartition(":")
        balance = cls(Path(folder), int(workers))
        return balance if balance.slot is not None else None

    def _lock_file(self, slot: int) -> Path:
        return self.folder / f"slot-{slot}.lock"

    def _claim(self) -> tuple[int | None, int | None]:
        for slot in range(self.workers):
            descriptor = os.open(self._lock_file(slot), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            COUNT.pack_into(self._counts, slot * COUNT.size, 0)  # a dead worker's count goes
            return slot, descriptor
        return None, None  # more workers than slots (a replacement overlapping): no balancing

    def count(self, slot: int) -> int:
        return int(COUNT.unpack_from(self._counts, slot * COUNT.size)[0])

    def _add(self, change: int) -> None:
        if self.slot is not None:
            COUNT.pack_into(self._counts, self.slot * COUNT.size, self.count(self.slot) + change)

    def opened(self) -> None:
        self._add(1)

    def closed(self) -> None:
        self._add(-1)

    def _live(self, slot: int) -> bool:
        descriptor = os.open(self._lock_file(slot), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # its worker holds it
        finally:
            os.close(descriptor)  # closing releases a lock taken here
        return False

    def busier_than_another(self) -> bool:
        """Whether another live worker has fewer open connections than this one."""
        if self.slot is None:
            return False
        mine = self.count(self.slot)
        return any(
            self.count(slot) < mine and self._live(slot)
            for slot in range(self.workers)
            if slot != self.slot
        )

    def close(self) -> None:
        if self._held is not None:
            os.close(self._held)
            self._held = None
        self._counts.close()
