"""The USB serial backend ("serial"): a Marlin-family printer on a port, by pyserial.

`SerialPrinter(port="/dev/ttyACM0", baud=115200).stream(program)`; the protocol is MarlinLink.
"""

from __future__ import annotations

from printers.errors import PrinterNotConnected
from printers.firmware import FirmwareInfo
from printers.interface import Printer, PrinterStatus, StreamProgressListener, StreamReport
from printers.marlin_link import LinkSettings, MarlinLink
from printers.program import GcodeProgram
from printers.registry import register
from printers.replies import Temperatures
from printers.transport import SerialTransport, Transport


@register("serial")
class SerialPrinter(Printer):
    """A printer on a serial port; `transport` replaces the port (a pty, a memory cable)."""

    def __init__(
        self,
        port: str = "",
        baud: int = 115200,
        settings: LinkSettings | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.port = port
        self.baud = baud
        self.settings = settings or LinkSettings()
        self._transport = transport
        self._link: MarlinLink | None = None

    def _open_transport(self) -> Transport:
        return self._transport or SerialTransport(self.port, self.baud)

    def connect(self) -> FirmwareInfo:
        if self._link is not None:
            self._link.close()
        self._link = MarlinLink(self._open_transport(), self.settings)
        return self._link.connect()

    def identify(self) -> FirmwareInfo:
        return self.link.identify()

    @property
    def link(self) -> MarlinLink:
        if self._link is None:
            raise PrinterNotConnected("printer", self.port or self.backend_name, "connect() first")
        return self._link

    def start(
        self, program: GcodeProgram, on_progress: StreamProgressListener | None = None
    ) -> None:
        self.link.start(program, on_progress, self.backend_name)

    def wait(self, timeout_s: float | None = None) -> StreamReport | None:
        return self.link.wait(timeout_s)

    def pause(self) -> None:
        self.link.pause()

    def resume(self) -> None:
        self.link.resume()

    def cancel(self) -> None:
        self.link.cancel()

    def emergency_stop(self) -> None:
        self.link.emergency_stop()

    def temperatures(self) -> Temperatures | None:
        return self.link.temperatures()

    def status(self) -> PrinterStatus:
        link = self._link
        if link is None:
            return PrinterStatus(False, None, None, None)
        return PrinterStatus(link.connected, link.job_state, link.temperatures(), link.firmware)

    def disconnect(self) -> None:
        if self._link is not None:
            self._link.close()
