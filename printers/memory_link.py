"""An in-memory serial cable: two ends that pass bytes, optionally at a baud rate's pace.

With `baud` set, each byte takes 10 bits of wire time (start, 8 data, stop), so a frame
of n bytes arrives n·10/baud seconds after the previous one finished: a real link's limit.
"""

from __future__ import annotations

import collections
import threading
import time

from printers.transport import LinkLost


class Wire:
    """One direction of a cable: bytes, each chunk readable once it has crossed the wire."""

    def __init__(self, baud: int | None) -> None:
        self._seconds_per_byte = 10.0 / baud if baud else 0.0
        self._chunks: collections.deque[tuple[float, bytes]] = collections.deque()
        self._wire_free_at = 0.0
        self._cond = threading.Condition()
        self.closed = False

    def put(self, data: bytes) -> None:
        with self._cond:
            if self.closed:
                raise LinkLost("cable unplugged")
            now = time.monotonic()
            self._wire_free_at = max(now, self._wire_free_at) + len(data) * self._seconds_per_byte
            self._chunks.append((self._wire_free_at, data))
            self._cond.notify_all()

    def take_due(self) -> tuple[bytes, float | None]:
        """What has crossed by now, and when the next chunk will have (None: nothing more)."""
        with self._cond:
            if self.closed and not self._chunks:
                raise LinkLost("cable unplugged")
            now = time.monotonic()
            out = bytearray()
            while self._chunks and self._chunks[0][0] <= now:
                out += self._chunks.popleft()[1]
            return bytes(out), (self._chunks[0][0] if self._chunks else None)

    def get(self, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                data, next_due = self.take_due()
                now = time.monotonic()
                if data or now >= deadline:
                    return data
                self._cond.wait(min(deadline, next_due or deadline) - now)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._chunks.clear()
            self._cond.notify_all()


class CableEnd:
    """One end of a `MemoryCable`: a `Transport` (read what the other end wrote, write to it)."""

    def __init__(self, name: str, inbound: Wire, outbound: Wire) -> None:
        self.name = name
        self._in = inbound
        self._out = outbound

    def read(self, timeout_s: float) -> bytes:
        return self._in.get(timeout_s)

    def write(self, data: bytes) -> None:
        self._out.put(data)

    def close(self) -> None:
        self._in.close()
        self._out.close()


class MemoryCable:
    """A cable with a `host` end and a `device` end; `unplug()` makes both ends fail."""

    def __init__(self, baud: int | None = None, name: str = "sim") -> None:
        to_device, to_host = Wire(baud), Wire(baud)
        self.host = CableEnd(name, inbound=to_host, outbound=to_device)
        self.device = CableEnd(name, inbound=to_device, outbound=to_host)

    def unplug(self) -> None:
        self.host.close()
