"""OctoPrint's VirtualPrinter (a Marlin-like peer no one here wrote) on a pseudo-terminal.

Prints the pty's path on its first stdout line, then bridges until stdin closes or SIGTERM:
one line per VirtualPrinter.write() (it handles only the first line of a write), replies
newline-terminated, and with --baud each byte costs 10 bits of wire time both ways.
Faults are chosen explicitly (--errors 100:resend,200:checksum_mismatch), never its defaults
(whose resend_with_timeout drops a line no host can deliver). With --record FILE it writes,
at exit, every G0/G1 move it accepted, one per line, to check none was lost or doubled.

    python scripts/virtual_printer_pty.py --baud 115200 --errors 50:resend --record moves.txt
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import tty
from typing import Any

from octoprint.plugins.virtual_printer import VirtualPrinterPlugin, virtual

MARLIN_OK = "ok N{lastN} P15 B{buffer}"


class _Settings:
    """The few settings calls VirtualPrinter makes, over a plain dict of its defaults."""

    def __init__(self, values: dict[str, Any], basefolder: str) -> None:
        self._values = values
        self._basefolder = basefolder

    def get(self, path: list[str], merged: bool = False) -> Any:
        return self._values[path[0]] if path else self._values

    def get_int(self, path: list[str]) -> int:
        return int(self._values[path[0]])

    def get_float(self, path: list[str]) -> float:
        return float(self._values[path[0]])

    def get_boolean(self, path: list[str]) -> bool:
        return bool(self._values[path[0]])

    def global_get_basefolder(self, name: str) -> str:
        folder = os.path.join(self._basefolder, name)
        os.makedirs(folder, exist_ok=True)
        return folder


class _NoPlugins:
    def get_hooks(self, name: str) -> dict[str, Any]:
        return {}


class RecordingPrinter(virtual.VirtualPrinter):  # type: ignore[misc]
    """VirtualPrinter that also remembers each move it accepted (after N/checksum checks)."""

    accepted_moves: list[str]

    def _gcode_G0(self, data: str) -> None:
        self.accepted_moves.append(data.strip())
        super()._gcode_G0(data)

    _gcode_G1 = _gcode_G0


class WireClock:
    """When the next frame has finished crossing a wire of `baud` (10 bits a byte)."""

    def __init__(self, baud: int) -> None:
        self._seconds_per_byte = 10.0 / baud if baud else 0.0
        self._free_at = 0.0

    def wait_for(self, size: int) -> None:
        if not self._seconds_per_byte:
            return
        now = time.monotonic()
        self._free_at = max(now, self._free_at) + size * self._seconds_per_byte
        if self._free_at > now:
            time.sleep(self._free_at - now)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=0, help="emulate wire time (0: none)")
    parser.add_argument("--rx-buffer", type=int, default=128)
    parser.add_argument("--command-buffer", type=int, default=4)
    parser.add_argument("--ok", default=MARLIN_OK, help='ok format; "ok" for plain ok')
    parser.add_argument("--errors", default="", help="LINE:KIND,... (resend, checksum_mismatch)")
    parser.add_argument("--record", default="", help="write accepted moves here at exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    values = VirtualPrinterPlugin().get_settings_defaults()
    values.update(
        rxBuffer=args.rx_buffer,
        commandBuffer=args.command_buffer,
        okFormatString=args.ok,
        simulated_errors=[e for e in args.errors.split(",") if e],
        sendWait=False,
    )
    virtual.plugin_manager = lambda: _NoPlugins()
    folder = tempfile.mkdtemp(prefix="virtual-printer-")
    RecordingPrinter.accepted_moves = []
    printer = RecordingPrinter(_Settings(values, folder), None, folder, read_timeout=0.05)

    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)
    stop = threading.Event()

    def host_to_printer() -> None:
        clock, pending = WireClock(args.baud), b""
        while not stop.is_set():
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                data = line + b"\n"
                clock.wait_for(len(data))
                while data and not stop.is_set():
                    written = printer.write(data)
                    data = data[written:]
                    if not written:
                        time.sleep(0.001)

    def printer_to_host() -> None:
        clock = WireClock(args.baud)
        while not stop.is_set():
            line = printer.readline()
            if not line:
                continue
            data = line if line.endswith(b"\n") else line + b"\n"
            clock.wait_for(len(data))
            try:
                os.write(master, data)
            except OSError:
                return

    for target in (host_to_printer, printer_to_host):
        threading.Thread(target=target, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.wait(0.1):
        pass
    time.sleep(0.1)  # let the bridge threads see `stop` before the printer goes away
    # VirtualPrinter's own threads trip over its close(); that noise is not the peer's answer
    threading.excepthook = lambda _: None
    if args.record:
        with open(args.record, "w", encoding="ascii") as file:
            file.writelines(move + "\n" for move in RecordingPrinter.accepted_moves)
    printer.close()
    os.close(master)
    os.close(slave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
