"""A simulated Marlin printer that speaks the wire protocol on the device end of a cable.

It checks line numbers and checksums, holds a 128-byte receive buffer (an overrun loses the
line, as on the real board), a command queue of 4 slots, a planner of a few moves that take
time at `speed_factor` (kept as the times they end, so no thread steps them), heaters that
warm up over time, ADVANCED_OK and M155 autoreport, and injectable `Faults` at chosen line
numbers. Any `Transport` can be its port (a `MemoryCable` end, a pty). `executed` lists
every numbered command it ran, in order, so a test can tell whether a line was lost or
doubled. Its nozzle lays E × (1 + flow_error) per M486 object (`extruded_e`), less a start
loss: the first `start_loss_e` pushed after power-on or a nozzle heat-up lay nothing (what a
filament nozzle oozed while heating, what a syringe spends building pressure).

    cable = MemoryCable(baud=250000)
    sim = SimulatedMarlin(cable.device, speed_factor=50.0, faults=Faults(drop_ok={12}))
    sim.start()   # then drive cable.host with the serial protocol; sim.stop() at the end
"""

from __future__ import annotations

import collections
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from printers.framing import checksum, code_of
from printers.transport import LinkLost, Transport

_WORD = re.compile(r"([A-Z])(-?\d+(?:\.\d*)?)")


@dataclass
class Faults:
    """Faults to inject, each at the first arrival of the given line numbers (N)."""

    drop_ok: set[int] = field(default_factory=set)  # runs the line, sends no ok
    corrupt: set[int] = field(default_factory=set)  # the line arrives with a bad checksum
    drop_line: set[int] = field(default_factory=set)  # the line never arrives
    resend: set[int] = field(default_factory=set)  # the printer asks for it again
    reset_at: int | None = None  # the board restarts as this line arrives
    disconnect_at: int | None = None  # the cable is pulled as this line arrives
    thermal_runaway_at: int | None = None  # the firmware halts as this line runs


@dataclass
class _Heater:
    actual_c: float = 21.0
    target_c: float = 0.0


class SimulatedMarlin:
    """Marlin 2 as seen from the serial port; `start()` runs it, `stop()` ends it."""

    def __init__(
        self,
        port: Transport,
        *,
        speed_factor: float = 1.0,
        faults: Faults | None = None,
        advanced_ok: bool = True,
        autoreport_temp: bool = True,
        rx_buffer_bytes: int = 128,
        command_slots: int = 4,
        planner_slots: int = 8,
        heat_rate_c_per_s: float = 8.0,
        busy_interval_s: float = 1.0,
        boot_banner: bool = True,
        machine_type: str = "printmed-sim",
        flow_error: float = 0.0,
        start_loss_e: float = 0.0,
    ) -> None:
        self.port = port
        # what leaves the nozzle is E × (1 + flow_error): a worn drive gear, a paste's slip
        self.flow_error = flow_error
        # E (flow error included) pushed after a heat-up that lays nothing on the plate
        self.start_loss_e = start_loss_e
        self._pushed_e = 0.0  # net E pushed since power-on or the last nozzle heat-up
        # extruded filament/plunger length (E units, flow error included) per M486 object,
        # net of retractions; -1 is outside every object
        self.extruded_e: dict[int, float] = {}
        self._object = -1
        self.machine_type = machine_type  # what M115 reports: the profile it stands in for
        self.speed_factor = speed_factor
        self.faults = faults or Faults()
        self.advanced_ok = advanced_ok
        self.autoreport_temp = autoreport_temp
        self.rx_buffer_bytes = rx_buffer_bytes
        self.command_slots = command_slots
        self.planner_slots = planner_slots
        self.heat_rate_c_per_s = heat_rate_c_per_s
        self.busy_interval_s = busy_interval_s
        self.boot_banner = boot_banner
        self.executed: list[tuple[int, str]] = []
        self.overruns = 0
        self.killed = False
        self.heaters = {"T0": _Heater(), "B": _Heater()}
        self._cond = threading.Condition()
        self._rx: collections.deque[bytes] = collections.deque()
        self._rx_bytes = 0
        self._queue: collections.deque[tuple[int | None, str]] = collections.deque()
        self._planner: collections.deque[float] = collections.deque()  # when each move ends
        self._last_n = 0
        self._seen_faults: set[tuple[str, int]] = set()
        self._position = {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
        self._relative = False
        self._relative_e: bool | None = None  # M82/M83; None follows G90/G91
        self._feed_mm_min = 1500.0
        self._autoreport_s = 0.0
        self._running = False
        self._threads: list[threading.Thread] = []
        self._heat_clock = time.monotonic()

    # ----------------------------------------------------------------- life

    def start(self) -> None:
        self._running = True
        for target in (self._receive_loop, self._main_loop, self._report_loop):
            thread = threading.Thread(target=target, name=f"sim-marlin{target.__name__}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        if self.boot_banner:
            self._say("start", "echo:Marlin 2.1.2 (printmed simulator)")

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        self.port.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    def wait_until_idle(self, timeout_s: float) -> bool:
        """True once every line received has run (an `ok` only means "queued"); False if
        `timeout_s` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not (self._rx or self._queue), timeout_s)

    def _say(self, *lines: str) -> None:
        try:
            self.port.write("".join(f"{line}\n" for line in lines).encode("ascii"))
        except LinkLost:
            self._running = False

    # ----------------------------------------------------------------- serial side

    def _receive_loop(self) -> None:
        pending = b""
        while self._running:
            try:
                chunk = self.port.read(0.05)
            except LinkLost:
                self._running = False
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._arrive(line + b"\n")

    def _arrive(self, line: bytes) -> None:
        body = line.strip()
        if self.killed or not body:
            return
        command = body.split(b"*")[0].split(b" ", 1)[-1] if body.startswith(b"N") else body
        if command.strip().upper().startswith(b"M112"):
            self._kill("Printer halted. kill() called!")
            return
        number = _line_number(body)
        if number is not None:
            if self._first("disconnect", number) and number == self.faults.disconnect_at:
                self._running = False
                self.port.close()
                return
            if self._first("reset", number) and number == self.faults.reset_at:
                self._reset()
                return
            if self._first_in("drop_line", number, self.faults.drop_line):
                return
        with self._cond:
            if self._rx_bytes + len(line) > self.rx_buffer_bytes:
                self.overruns += 1  # the UART overwrote the buffer: this line is garbage
                return
            self._rx.append(line)
            self._rx_bytes += len(line)
            self._cond.notify_all()

    def _first(self, kind: str, number: int) -> bool:
        key = (kind, number)
        if key in self._seen_faults:
            return False
        self._seen_faults.add(key)
        return True

    def _first_in(self, kind: str, number: int, numbers: set[int]) -> bool:
        return number in numbers and self._first(kind, number)

    def _reset(self) -> None:
        with self._cond:
            self._rx.clear()
            self._rx_bytes = 0
            self._queue.clear()
            self._planner.clear()
            self._last_n = 0
            self._autoreport_s = 0.0
            self._pushed_e = 0.0
            for heater in self.heaters.values():
                heater.target_c = 0.0
        self._say("start", "echo:External Reset", "Marlin 2.1.2")

    def _kill(self, reason: str) -> None:
        with self._cond:
            self.killed = True
            self._rx.clear()
            self._queue.clear()
            self._planner.clear()
            for heater in self.heaters.values():
                heater.target_c = 0.0
            self._cond.notify_all()
        self._say(f"Error:{reason}", "echo:EMERGENCY STOP")

    # ----------------------------------------------------------------- Marlin's loop

    def _main_loop(self) -> None:
        while self._running:
            with self._cond:
                # a killed board does nothing until reset: wait, do not spin
                while self._running and (self.killed or not (self._rx or self._queue)):
                    self._cond.wait(0.1)
                if not self._running:
                    continue
                while self._rx and len(self._queue) < self.command_slots:
                    line = self._rx.popleft()
                    self._rx_bytes -= len(line)
                    self._parse(line)
                item = self._queue[0] if self._queue else None
            if item is not None:
                number, command = item
                reply_ok = self._execute(number, command)
                with self._cond:
                    if self._queue and self._queue[0] is item:
                        self._queue.popleft()
                        self._cond.notify_all()  # for wait_until_idle
                if reply_ok and not self.killed:
                    self._ok(number)

    def _parse(self, line: bytes) -> None:
        """Check N and checksum as Marlin's get_serial_commands does; queue what passes."""
        text = line.strip().decode("ascii", errors="replace")
        if not text.startswith("N"):
            self._queue.append((None, text))
            return
        if "*" not in text:
            self._reject("No Checksum with line number, Last Line: {}")
            return
        body, _, given = text.rpartition("*")
        number = _line_number(body.encode()) or 0
        corrupted = self._first_in("corrupt", number, self.faults.corrupt)
        if not given.strip().isdigit() or checksum(body.encode()) != int(given) or corrupted:
            self._reject("checksum mismatch, Last Line: {}")
            return
        command = body.split(" ", 1)[1].strip() if " " in body else ""
        if code_of(command) == "M110":
            words = dict(_WORD.findall(command[4:].upper()))
            self._last_n = int(float(words.get("N", number)))
            self._queue.append((None, "M110"))
            return
        if number != self._last_n + 1:
            self._reject("Line Number is not Last Line Number+1, Last Line: {}")
            return
        if self._first_in("resend", number, self.faults.resend):
            self._reject("Resend requested, Last Line: {}")
            return
        self._last_n = number
        self._queue.append((number, command))

    def _reject(self, message: str) -> None:
        self._say(f"Error:{message.format(self._last_n)}", f"Resend: {self._last_n + 1}")
        self._ok(None)

    def _ok(self, number: int | None, extra: str = "") -> None:
        if number is not None and self._first_in("drop_ok", number, self.faults.drop_ok):
            return
        text = "ok"
        if self.advanced_ok:
            planner_free = self.planner_slots - self._moves_planned()
            buffer_free = self.command_slots - max(0, len(self._queue) - 1)
            text = f"ok N{self._last_n} P{planner_free} B{buffer_free}"
        self._say(text + extra)

    # ----------------------------------------------------------------- commands

    def _execute(self, number: int | None, command: str) -> bool:
        """Run one command; False when it already answered (M105) or the firmware halted."""
        if number is not None:
            if number == self.faults.thermal_runaway_at and self._first("runaway", number):
                self._say("Error:Thermal Runaway, system stopped! Heater_ID: 0")
                self._kill("Printer halted. kill() called!")
                return False
            self.executed.append((number, command))
        code = code_of(command)
        words = dict(_WORD.findall(command[len(code) :].upper())) if code else {}
        if code in ("G0", "G1", "G2", "G3"):
            self._move(words)
        elif code == "G4":
            seconds = float(words.get("P", 0)) / 1000 + float(words.get("S", 0))
            self._busy_for(seconds / self.speed_factor)
        elif code == "G28":
            self._wait_planner_empty()
            self._busy_for(2.0 / self.speed_factor)
            self._position.update(X=0.0, Y=0.0, Z=0.0)
        elif code == "G90":
            self._relative, self._relative_e = False, None
        elif code == "G91":
            self._relative, self._relative_e = True, None
        elif code == "M82":
            self._relative_e = False
        elif code == "M83":
            self._relative_e = True
        elif code == "M486" and "S" in words:
            self._object = int(float(words["S"]))
        elif code == "G92":
            for axis, value in words.items():
                if axis in self._position:
                    self._position[axis] = float(value)
        elif code in ("M104", "M109"):
            self.heaters["T0"].target_c = float(words.get("S", 0))
            if self.heaters["T0"].target_c > 0:
                self._pushed_e = 0.0  # heating: the nozzle oozes, the start loss is due again
            if code == "M109":
                self._wait_heater("T0")
        elif code in ("M140", "M190"):
            self.heaters["B"].target_c = float(words.get("S", 0))
            if code == "M190":
                self._wait_heater("B")
        elif code == "M105":
            self._ok(None, " " + self._temperature_text())
            return False
        elif code == "M115":
            self._say(
                "FIRMWARE_NAME:Marlin 2.1.2 (printmed simulator) PROTOCOL_VERSION:1.0"
                f" MACHINE_TYPE:{self.machine_type} EXTRUDER_COUNT:1",
                f"Cap:AUTOREPORT_TEMP:{int(self.autoreport_temp)}",
                "Cap:EMERGENCY_PARSER:1",
                "Cap:HOST_ACTION_COMMANDS:1",
            )
        elif code == "M155" and self.autoreport_temp:
            self._autoreport_s = float(words.get("S", 0))
        elif code == "M400":
            self._wait_planner_empty()
        elif command.upper().startswith("M118"):
            self._say(command[4:].strip())
        return not self.killed

    def _move(self, words: dict[str, str]) -> None:
        if "F" in words:
            self._feed_mm_min = max(float(words["F"]), 1.0)
        deltas = {}
        for axis in "XYZE":
            if axis in words:
                value = float(words[axis])
                relative = (
                    self._relative_e
                    if axis == "E" and self._relative_e is not None
                    else self._relative
                )
                target = self._position[axis] + value if relative else value
                deltas[axis] = target - self._position[axis]
                self._position[axis] = target
        if deltas.get("E"):
            pushed = deltas["E"] * (1.0 + self.flow_error)
            before, self._pushed_e = self._pushed_e, self._pushed_e + pushed
            loss = self.start_loss_e
            laid = max(0.0, self._pushed_e - loss) - max(0.0, before - loss)
            self.extruded_e[self._object] = self.extruded_e.get(self._object, 0.0) + laid
        distance_mm = math.sqrt(sum(deltas.get(a, 0.0) ** 2 for a in "XYZ")) or abs(
            deltas.get("E", 0.0)
        )
        duration_s = distance_mm / (self._feed_mm_min / 60.0) / self.speed_factor
        with self._cond:
            self._wait_while(lambda: self._moves_planned() >= self.planner_slots)
            starts_at = max(time.monotonic(), self._planner[-1] if self._planner else 0.0)
            self._planner.append(starts_at + duration_s)

    def _moves_planned(self) -> int:
        """Moves in the planner not yet finished (holding _cond)."""
        now = time.monotonic()
        while self._planner and self._planner[0] <= now:
            self._planner.popleft()
        return len(self._planner)

    def _wait_planner_empty(self) -> None:
        with self._cond:
            self._wait_while(lambda: self._moves_planned() > 0)

    def _wait_while(self, blocked: Callable[[], bool]) -> None:
        """Wait (holding _cond) while `blocked()`, saying busy as Marlin's host keepalive does;
        a planned move ending is a time, not an event, so wake for the first one due."""
        last_busy = time.monotonic()
        while self._running and not self.killed and blocked():
            now = time.monotonic()
            first_end = self._planner[0] - now if self._planner else 0.05
            self._cond.wait(min(max(first_end, 0.0), 0.05))
            if time.monotonic() - last_busy >= self.busy_interval_s:
                last_busy = time.monotonic()
                self._say("echo:busy: processing")

    def _busy_for(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while self._running and not self.killed and time.monotonic() < until:
            time.sleep(min(self.busy_interval_s, max(until - time.monotonic(), 0.0)))
            if time.monotonic() < until:
                self._say("echo:busy: processing")

    def _wait_heater(self, name: str) -> None:
        heater = self.heaters[name]
        last_report = time.monotonic()
        while self._running and not self.killed and abs(heater.actual_c - heater.target_c) > 1.0:
            if heater.target_c <= 0:
                break
            time.sleep(0.02)
            if time.monotonic() - last_report >= self.busy_interval_s:
                last_report = time.monotonic()
                self._say(" " + self._temperature_text() + " W:?")

    # ----------------------------------------------------------------- heaters and reports

    def _report_loop(self) -> None:
        last_report = time.monotonic()
        while self._running:
            time.sleep(0.02)
            self._heat()
            now = time.monotonic()
            if (
                self._autoreport_s > 0
                and not self.killed
                and now - last_report >= self._autoreport_s
            ):
                last_report = now
                self._say(" " + self._temperature_text())

    def _heat(self) -> None:
        now = time.monotonic()
        step_c = (now - self._heat_clock) * self.heat_rate_c_per_s * self.speed_factor
        self._heat_clock = now
        for heater in self.heaters.values():
            goal_c = heater.target_c if heater.target_c > 0 else 21.0
            gap_c = goal_c - heater.actual_c
            heater.actual_c += math.copysign(min(abs(gap_c), step_c), gap_c)

    def _temperature_text(self) -> str:
        nozzle, bed = self.heaters["T0"], self.heaters["B"]
        return (
            f"T:{nozzle.actual_c:.2f} /{nozzle.target_c:.2f} "
            f"B:{bed.actual_c:.2f} /{bed.target_c:.2f} @:0 B@:0"
        )


def _line_number(body: bytes) -> int | None:
    match = re.match(rb"N(-?\d+)", body)
    return int(match.group(1)) if match else None
