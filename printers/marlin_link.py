"""The Marlin serial protocol over any `Transport`: numbered lines, acks, resends, timeouts.

One thread owns the link: it reads replies, updates explicit state under one lock, and
sends while the window allows. The window is one line in flight with plain `ok`, and with
ADVANCED_OK (`ok N P B`) as many lines as the printer has command slots, as long as the
bytes in flight fit its receive buffer (128 bytes on Marlin). Every line sent is kept in a
bounded history so `Resend: n` is answered with exactly the bytes of line n; a lost `ok`
is found by a timeout, probed with `M105`, and the unacknowledged lines are sent again
(the printer's line-number check drops any it already had, so none runs twice).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field, replace

from printers.errors import (
    GarbledReplies,
    PrinterBusy,
    PrinterNotConnected,
    PrinterTimeout,
)
from printers.firmware import FirmwareInfo
from printers.framing import LONG_COMMAND_LIMIT_S, code_of, dwell_s, frame, frame_encoded
from printers.interface import StreamProgressListener, StreamReport, StreamState
from printers.job_run import JobRun
from printers.program import GcodeProgram
from printers.replies import (
    Action,
    Busy,
    ErrorReply,
    Ok,
    Other,
    Resend,
    Start,
    TemperatureReport,
    Temperatures,
    parse,
)
from printers.transport import LinkLost, Transport

CANCEL_SCRIPT = ("M104 S0", "M140 S0")
HEATING_WAITS = frozenset({"M109", "M190", "M191", "M303"})
BUSY_LIMIT_S = 300.0  # the longest a printer saying "busy" is believed for an ordinary line
IDLE_WAKE_S = 0.05  # the reader looks at its state at least this often (closing, handshake)


@dataclass(frozen=True)
class LinkSettings:
    """Timing and sizes of the link; the defaults suit Marlin 2 at 115200 or 250000 baud."""

    ack_timeout_s: float = 5.0  # no ok, busy or reply this long: probe with M105
    probe_limit: int = 3  # unanswered probes in a row before the printer counts as gone
    rx_buffer_bytes: int = 128  # the firmware's receive buffer (Marlin RX_BUFFER_SIZE)
    send_ahead: bool = True  # use the window when the firmware offers ADVANCED_OK
    history_lines: int = 256  # lines kept to answer Resend
    temperature_interval_s: float = 2.0
    connect_timeout_s: float = 3.0  # per attempt of the M110 handshake
    connect_attempts: int = 3
    progress_interval_s: float = 0.25


@dataclass(slots=True)
class _Outgoing:
    """A command waiting to be numbered and sent: a program line or one of the host's own."""

    command: str
    job_index: int | None = None
    job: JobRun | None = None
    done: threading.Event | None = None
    output: list[str] = field(default_factory=list)
    code: str = ""  # its G/M code, for the time its ok may take

    def __post_init__(self) -> None:
        self.code = code_of(self.command)

    def frame(self, number: int) -> bytes:
        if self.job is not None and self.job_index is not None:
            # the program's commands are encoded once; only the number is framed here
            return frame_encoded(number, *self.job.program.encoded[self.job_index])
        return frame(number, self.command)


@dataclass(slots=True)
class _Sent:
    number: int
    frame: bytes
    item: _Outgoing
    sent_at: float = 0.0


class MarlinLink:
    """A connected Marlin-family printer on a transport; `connect()` then `start()`/`wait()`."""

    def __init__(self, transport: Transport, settings: LinkSettings | None = None) -> None:
        self.transport = transport
        self.settings = settings or LinkSettings()
        self.firmware: FirmwareInfo | None = None
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._connected = False
        self._handshaking = False
        self._lost_reason = ""
        # protocol state
        self._next_number = 1
        self._history: collections.OrderedDict[int, _Sent] = collections.OrderedDict()
        self._in_flight: collections.deque[_Sent] = collections.deque()
        self._bytes_in_flight = 0
        self._stale: collections.deque[_Sent] = collections.deque()
        self._stale_for = -1
        self._retransmit: collections.deque[_Sent] = collections.deque()
        self._host_queue: collections.deque[_Outgoing] = collections.deque()
        self._peeked: _Sent | None = None  # the next new line, framed once for window and send
        self._ignore_plain_oks = 0
        self._advanced = False
        self._slots = 1
        self._deadline: float | None = None
        self._query: str | None = None  # "poll" or "probe": an unnumbered M105 outstanding
        self._query_deadline = 0.0
        self._probes_unanswered = 0
        self._autoreport = False
        self._last_poll = 0.0
        self._temperatures: Temperatures | None = None
        self._job: JobRun | None = None
        self._good_lines = 0
        self._garbled_bytes = 0

    # ----------------------------------------------------------------- public, any thread

    def connect(self) -> FirmwareInfo:
        """Start the reader, reset line numbers (M110 N0), learn the firmware (M115)."""
        self._thread = threading.Thread(target=self._run, name=f"marlin:{self.transport.name}")
        self._thread.daemon = True
        self._thread.start()
        self._handshaking = True
        try:
            self._handshake_numbering()
            info = self._ask_identity()
            if info.has("AUTOREPORT_TEMP"):
                interval = max(1, round(self.settings.temperature_interval_s))
                self._request(f"M155 S{interval}", self.settings.connect_timeout_s)
                self._autoreport = True
        except BaseException:
            self.close()
            raise
        finally:
            self._handshaking = False
        with self._lock:
            self._connected = True
        return info

    def identify(self) -> FirmwareInfo:
        """Ask the printer again who it is (M115), between jobs: whatever answers on this port
        now, which need not be the printer that answered at connect."""
        with self._lock:
            self._require_connected()
            running = self._active_job()
            if running is not None:
                raise PrinterBusy("job", running.report.job_name, "is running: ask between jobs")
        return self._ask_identity()

    def _ask_identity(self) -> FirmwareInfo:
        m115 = self._request("M115", self.settings.connect_timeout_s)
        info = FirmwareInfo.from_m115(m115.output)
        with self._lock:
            info = FirmwareInfo(
                info.name, info.fields, info.capabilities, self._advanced, self._slots
            )
            self.firmware = info
        return info

    def start(
        self, program: GcodeProgram, listener: StreamProgressListener | None, backend: str
    ) -> None:
        with self._lock:
            self._require_connected()
            if self._active_job():
                raise PrinterBusy("job", program.name, "cannot start: a job is still running")
            self._job = JobRun(program, backend, listener, self.settings.progress_interval_s)
            self._job.temperatures = self._temperatures
            if not len(program):
                self._job.finish(StreamState.COMPLETED, "")
            self._pump()

    def wait(self, timeout_s: float | None = None) -> StreamReport | None:
        job = self._job
        if job is None:
            raise PrinterNotConnected("job", None, "none was started")
        if not job.done.wait(timeout_s):
            return None
        return job.report

    def pause(self) -> None:
        with self._lock:
            job = self._active_job()
            if job:
                job.set_running(False)

    def resume(self) -> None:
        with self._lock:
            job = self._active_job()
            if job:
                job.set_running(True)
                self._pump()

    def cancel(self) -> None:
        with self._lock:
            job = self._active_job()
            if job:
                self._retransmit = collections.deque(
                    s for s in self._retransmit if s.item.job_index is None
                )
                self._host_queue.extend(_Outgoing(c) for c in CANCEL_SCRIPT)
                job.finish(StreamState.CANCELLED, "cancelled by the user")
                self._pump()

    def emergency_stop(self) -> None:
        """M112 goes out now, ahead of everything queued (Marlin's emergency parser)."""
        try:
            with self._write_lock:
                self.transport.write(b"M112\n")
        except LinkLost:
            pass
        with self._lock:
            self._host_queue.clear()
            self._retransmit.clear()
            self._in_flight.clear()
            self._connected = False
            self._end_job(StreamState.FAILED, "emergency stop (M112) sent")

    def temperatures(self) -> Temperatures | None:
        with self._lock:
            return self._temperatures

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def job_state(self) -> StreamState | None:
        job = self._job
        return job.report.state if job else None

    def job_report(self) -> StreamReport | None:
        """A copy of the current (or last) job's report as it stands; None before any job."""
        with self._lock:
            job = self._job
            if job is None:
                return None
            return replace(job.report, temperature_log=list(job.report.temperature_log))

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._end_job(StreamState.INTERRUPTED, "disconnected by the host")
            self._connected = False
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.transport.close()

    # ----------------------------------------------------------------- handshake

    def _handshake_numbering(self) -> None:
        waited_s = 0.0
        for _ in range(self.settings.connect_attempts):
            with self._lock:
                self._reset_numbering()
                item = _Outgoing("M110 N0", done=threading.Event())
                sent = _Sent(0, frame(0, "M110 N0"), item)
                self._history[0] = sent
                self._write(sent)
            if item.done is not None and item.done.wait(self.settings.connect_timeout_s):
                return
            waited_s += self.settings.connect_timeout_s
            if self._lost_reason:
                break
        self._raise_unanswered(waited_s)

    def _raise_unanswered(self, waited_s: float) -> None:
        if self._lost_reason:
            raise PrinterNotConnected("port", self.transport.name, f"lost: {self._lost_reason}")
        if self._garbled_bytes > 0 and self._good_lines == 0:
            baud = getattr(self.transport, "baud", None)
            raise GarbledReplies(
                "baud",
                baud,
                f"gives unreadable replies on {self.transport.name} (wrong baud rate?)",
            )
        raise PrinterTimeout(
            "port",
            self.transport.name,
            f"no answer from the printer within {waited_s:g} s (is it switched on?)",
        )

    def _request(self, command: str, timeout_s: float) -> _Outgoing:
        item = _Outgoing(command, done=threading.Event())
        with self._lock:
            self._host_queue.append(item)
            self._pump()
        if item.done is None or not item.done.wait(timeout_s):
            self._raise_unanswered(timeout_s)
        return item

    def _reset_numbering(self) -> None:
        self._history.clear()
        self._in_flight.clear()
        self._retransmit.clear()
        self._stale.clear()
        self._bytes_in_flight = 0
        self._ignore_plain_oks = 0
        self._next_number = 1
        self._peeked = None
        self._query = None

    def _require_connected(self) -> None:
        if not self._connected:
            reason = self._lost_reason or "connect() first"
            raise PrinterNotConnected(
                "printer", self.transport.name, f"is not connected ({reason})"
            )

    # ----------------------------------------------------------------- the link thread

    def _run(self) -> None:
        # Wakes for replies (all that arrived, in one read) or for the next deadline; work
        # handed over by other threads (start, resume, cancel, requests) is sent by them.
        pending = b""
        wait_s = IDLE_WAKE_S
        while not self._closing:
            try:
                chunk = self.transport.read(wait_s)
            except LinkLost as exc:
                with self._lock:
                    self._lose(f"port vanished ({exc})")
                return
            with self._lock:
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        self._receive(raw)
                if self._closing:
                    return
                now = time.monotonic()
                self._check_deadlines(now)
                self._pump()
                wait_s = self._until_next_deadline(now)

    def _until_next_deadline(self, now: float) -> float:
        """Seconds until the link must act without a reply (ack or probe timeout, M105 poll);
        the same conditions as `_check_deadlines` and `_maybe_poll`, so it never spins."""
        due = now + IDLE_WAKE_S
        if self._connected and not self._handshaking:
            waiting = bool(self._in_flight or self._stale)
            if self._query is not None:
                due = min(due, self._query_deadline)
            elif self._deadline is not None and waiting:
                due = min(due, self._deadline)
            if not (self._autoreport or waiting or self._query is not None):
                due = min(due, self._last_poll + self.settings.temperature_interval_s)
        return min(max(due - now, 0.0), IDLE_WAKE_S) + 0.001

    def _receive(self, raw: bytes) -> None:
        text = raw.decode("ascii", errors="replace").strip("\r\x00 ")
        if not text:
            return
        if not (text.isascii() and text.isprintable()):
            printable = sum(32 <= ord(c) < 127 for c in text)
            if printable < 0.8 * len(text):
                self._garbled_bytes += len(raw)
                return
        self.log.append(text)
        reply = parse(text)
        if isinstance(reply, Ok):
            self._good_lines += 1
            self._on_ok(reply)
        elif isinstance(reply, Resend):
            self._good_lines += 1
            self._on_resend(reply.line_number)
        elif isinstance(reply, Busy):
            self._extend_deadline()
            if self._query is not None:  # the probe waits behind the command that is busy
                self._query_deadline = time.monotonic() + self.settings.ack_timeout_s
        elif isinstance(reply, TemperatureReport):
            self._record_temperatures(reply.temperatures)
            head = self._in_flight[0] if self._in_flight else None
            if head and head.item.code in HEATING_WAITS:
                self._extend_deadline()  # M109/M190 report the heaters while they wait
        elif isinstance(reply, Start):
            if self._connected or self._active_job():
                self._lose("the printer restarted (start banner)")
        elif isinstance(reply, ErrorReply):
            if reply.fatal:
                self._connected = False
                self._lost_reason = reply.text
                self._end_job(StreamState.FAILED, f"printer halted: {reply.text}")
        elif isinstance(reply, Action):
            self._on_action(reply.name)
        elif isinstance(reply, Other) and self._in_flight:
            self._in_flight[0].item.output.append(text)

    def _on_ok(self, ok: Ok) -> None:
        if ok.temperatures is not None:
            self._record_temperatures(ok.temperatures)
        if ok.buffer_free is not None:
            self._advanced = True
            self._slots = max(self._slots, ok.buffer_free)
        if self._query is not None and ok.temperatures is not None:
            was_probe = self._query == "probe"
            self._query = None
            self._probes_unanswered = 0
            if ok.line_number is not None:
                self._ack_through(ok.line_number)
            if was_probe:
                # every reply sent before the probe's has arrived: what is unacked was lost
                self._stale.clear()
                self._ignore_plain_oks = 0
                self._rewind(list(self._in_flight))
            return
        if ok.line_number is not None:
            self._ack_through(ok.line_number)
        elif self._ignore_plain_oks > 0:
            self._ignore_plain_oks -= 1
        elif self._in_flight:
            self._ack_through(self._in_flight[0].number)

    def _on_resend(self, number: int) -> None:
        if not self._advanced:
            self._ignore_plain_oks += 1
        self._ack_through(number - 1)
        if number == self._stale_for and self._stale:
            self._release_stale()
            return
        if number >= self._next_number:
            return  # it holds every line we sent; only the acks were lost
        unacked = [s for s in self._in_flight if s.number >= number]
        if not unacked or unacked[0].number != number:
            queued = self._retransmit and self._retransmit[0].number == number
            if not queued:
                held = "" if number in self._history else ", no longer in the history"
                self._protocol_failure(f"the printer asked again for line N{number}{held}")
            return
        # the answer is the very bytes sent as line `number` (from the bounded history)
        self._stale = collections.deque(unacked[1:])
        self._stale_for = number
        self._rewind([unacked[0]])
        self._bytes_in_flight = sum(len(s.frame) for s in self._stale)
        # if the stale lines' own resend requests never come, the probe clears them
        self._deadline = time.monotonic() + self.settings.ack_timeout_s
        if self._job:
            self._job.report.resends += 1

    def _rewind(self, lines: list[_Sent]) -> None:
        """Queue `lines` (and whatever waited to be resent) to go out again, in order."""
        merged = {s.number: s for s in [*lines, *self._stale, *self._retransmit]}
        self._retransmit = collections.deque(merged[n] for n in sorted(merged))
        self._in_flight.clear()
        self._bytes_in_flight = 0
        self._deadline = None

    def _release_stale(self) -> None:
        gone = self._stale.popleft()
        self._bytes_in_flight -= len(gone.frame)

    def _on_action(self, name: str) -> None:
        if name == "pause":
            self.pause()
        elif name == "resume":
            self.resume()
        elif name == "cancel":
            self.cancel()

    def _ack_through(self, number: int) -> None:
        acked_any = False
        while self._in_flight and self._in_flight[0].number <= number:
            sent = self._in_flight.popleft()
            self._bytes_in_flight -= len(sent.frame)
            self._acknowledge(sent.item)
            acked_any = True
        if acked_any:
            self._deadline = self._deadline_for(self._in_flight[0]) if self._in_flight else None

    def _acknowledge(self, item: _Outgoing) -> None:
        if item.done is not None:
            item.done.set()
        if item.job is not None and item.job_index is not None:
            problem = item.job.acknowledge(item.job_index)
            if problem:
                self._protocol_failure(problem, item.job)

    # ----------------------------------------------------------------- sending

    def _pump(self) -> None:
        if self._closing or self._query is not None:
            return
        while True:
            sent = self._next_to_send()
            if sent is None or not self._window_allows(len(sent.frame)):
                break
            self._take_next(sent)
            self._write(sent)
        self._maybe_poll()

    def _next_to_send(self) -> _Sent | None:
        """The line that goes out next, framed once however often the window refuses it."""
        if self._retransmit:
            return self._retransmit[0]
        peeked = self._peeked
        if self._host_queue:
            item = self._host_queue[0]
            if peeked is None or peeked.item is not item or peeked.number != self._next_number:
                peeked = _Sent(self._next_number, item.frame(self._next_number), item)
        else:
            job = self._job
            if not (job and self._connected and job.feeding):
                return None
            index = job.next_index
            if (
                peeked is None
                or peeked.item.job is not job
                or peeked.item.job_index != index
                or peeked.number != self._next_number
            ):
                item = _Outgoing(job.program.commands[index], job_index=index, job=job)
                peeked = _Sent(self._next_number, item.frame(self._next_number), item)
        self._peeked = peeked
        return peeked

    def _take_next(self, sent: _Sent) -> None:
        """Count `sent` (what `_next_to_send` returned) as going out now."""
        if self._retransmit and sent is self._retransmit[0]:
            self._retransmit.popleft()
            if sent.item.job is not None:
                sent.item.job.report.transmissions += 1
            return
        self._peeked = None
        if self._host_queue and sent.item is self._host_queue[0]:
            self._host_queue.popleft()
        else:
            job = sent.item.job
            assert job is not None and job.next_index == sent.item.job_index
            job.take_next()
        self._next_number += 1
        self._history[sent.number] = sent
        if len(self._history) > self.settings.history_lines:
            self._history.popitem(last=False)

    def _window_allows(self, frame_bytes: int) -> bool:
        lines = len(self._in_flight) + len(self._stale)
        if lines == 0:
            return True
        if not (self._advanced and self.settings.send_ahead):
            return False
        room = self._bytes_in_flight + frame_bytes <= self.settings.rx_buffer_bytes
        return lines < self._slots and room

    def _write(self, sent: _Sent) -> None:
        sent.sent_at = time.monotonic()
        if not self._in_flight:
            self._deadline = self._deadline_for(sent)
        self._in_flight.append(sent)
        self._bytes_in_flight += len(sent.frame)
        try:
            with self._write_lock:
                self.transport.write(sent.frame)
        except LinkLost as exc:
            self._lose(f"port vanished ({exc})")

    def _maybe_poll(self) -> None:
        now = time.monotonic()
        if (
            self._autoreport
            or not self._connected
            or self._in_flight
            or self._stale
            or now - self._last_poll < self.settings.temperature_interval_s
        ):
            return
        self._last_poll = now
        self._send_query("poll", now)

    def _send_query(self, kind: str, now: float) -> None:
        self._query = kind
        self._query_deadline = now + self.settings.ack_timeout_s
        try:
            with self._write_lock:
                self.transport.write(b"M105\n")
        except LinkLost as exc:
            self._lose(f"port vanished ({exc})")

    # ----------------------------------------------------------------- timeouts

    def _deadline_for(self, sent: _Sent) -> float:
        # long commands get more time, and every busy or heater line extends it
        long_command = sent.item.code in LONG_COMMAND_LIMIT_S
        timeout_s = self.settings.ack_timeout_s * (4 if long_command else 1)
        return time.monotonic() + timeout_s + _dwell_s(sent.item)

    def _may_still_be_running(self, now: float) -> bool:
        """True while the oldest line is a long command within its limit (M109 may be silent)."""
        if not self._in_flight:
            return False
        head = self._in_flight[0]
        limit_s = LONG_COMMAND_LIMIT_S.get(head.item.code, 0.0)
        return now < head.sent_at + limit_s + _dwell_s(head.item)

    def _extend_deadline(self) -> None:
        """A sign of life: wait longer for the oldest line, but never past its hard limit."""
        if self._in_flight:
            head = self._in_flight[0]
            limit_s = LONG_COMMAND_LIMIT_S.get(head.item.code, BUSY_LIMIT_S)
            hard_limit = head.sent_at + limit_s + _dwell_s(head.item)
            extended = min(self._deadline_for(head), hard_limit)
            self._deadline = max(self._deadline or 0.0, extended)

    def _check_deadlines(self, now: float) -> None:
        if self._handshaking or not self._connected:
            return
        if self._query is not None:
            if now > self._query_deadline and self._may_still_be_running(now):
                self._query_deadline = now + self.settings.ack_timeout_s
            elif now > self._query_deadline:
                self._probes_unanswered += 1
                if self._job:
                    self._job.report.timeouts += 1
                if self._probes_unanswered >= self.settings.probe_limit:
                    waited_s = self._probes_unanswered * self.settings.ack_timeout_s
                    self._lose(f"the printer stopped answering ({waited_s:g} s without reply)")
                    return
                self._send_query(self._query, now)
            return
        if self._deadline is not None and now > self._deadline and (self._in_flight or self._stale):
            if self._job:
                self._job.report.timeouts += 1
            self._deadline = None
            self._send_query("probe", now)

    # ----------------------------------------------------------------- job end and telemetry

    def _active_job(self) -> JobRun | None:
        job = self._job
        return job if job and not job.final else None

    def _end_job(self, state: StreamState, reason: str) -> None:
        job = self._active_job()
        if job:
            job.finish(state, reason)

    def _lose(self, reason: str) -> None:
        self._connected = False
        self._lost_reason = reason
        self._end_job(StreamState.INTERRUPTED, reason)

    def _protocol_failure(self, reason: str, job: JobRun | None = None) -> None:
        self._lost_reason = reason
        job = job or self._job
        if job and not job.final:
            job.finish(StreamState.INTERRUPTED, reason)

    def _record_temperatures(self, temps: Temperatures) -> None:
        self._temperatures = temps
        if self._job:
            self._job.record_temperatures(temps)


def _dwell_s(item: _Outgoing) -> float:
    return dwell_s(item.command) if item.code == "G4" else 0.0
