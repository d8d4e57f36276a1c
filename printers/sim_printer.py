"""The built-in simulated printer ("sim"): the serial backend on an in-memory cable.

`SimPrinter()` is the embedded default (`make run`, the job service): a SimulatedMarlin on the
other end of a MemoryCable, driven by the very same MarlinLink as a USB printer. Options:
`speed_factor` (moves and heating that many times faster), `baud` (emulate wire time; None
for none), `faults` (see `printers.sim_marlin.Faults`), the firmware's `advanced_ok`, and the
`machine_type` its M115 reports (the printer profile it stands in for), `flow_error` (the
nozzle lays down E × (1 + flow_error); `firmware_side.extruded_e` is what it laid per object)
and `start_loss_e` (E pushed after each nozzle heat-up that lays nothing: ooze while heating,
a syringe's pressure build-up; the first object extruded after heating is short by it).
"""

from __future__ import annotations

import dataclasses

from printers.firmware import FirmwareInfo
from printers.interface import PrinterStatus
from printers.marlin_link import LinkSettings
from printers.memory_link import MemoryCable
from printers.registry import register
from printers.serial_printer import SerialPrinter
from printers.sim_marlin import Faults, SimulatedMarlin


@register("sim")
class SimPrinter(SerialPrinter):
    """A simulated Marlin printer; `sim.firmware_side` is the simulator, for tests and demos."""

    def __init__(
        self,
        speed_factor: float = 10.0,
        baud: int | None = 250000,
        faults: Faults | None = None,
        advanced_ok: bool = True,
        autoreport_temp: bool = True,
        settings: LinkSettings | None = None,
        machine_type: str = "printmed-sim",
        flow_error: float = 0.0,
        start_loss_e: float = 0.0,
    ) -> None:
        self._cable_baud = baud
        self._flow_error = flow_error
        self._start_loss_e = start_loss_e
        self._machine_type = machine_type
        self._speed_factor = speed_factor
        self._faults = faults
        self._advanced_ok = advanced_ok
        self._autoreport_temp = autoreport_temp
        self.firmware_side: SimulatedMarlin | None = None
        self.cable: MemoryCable | None = None
        super().__init__(port="sim", baud=baud or 0, settings=settings)

    def connect(self) -> FirmwareInfo:
        if self.firmware_side is not None:
            self.firmware_side.stop()
        self.cable = MemoryCable(self._cable_baud, name="sim")
        self.firmware_side = SimulatedMarlin(
            self.cable.device,
            speed_factor=self._speed_factor,
            faults=self._faults,
            advanced_ok=self._advanced_ok,
            autoreport_temp=self._autoreport_temp,
            machine_type=self._machine_type,
            flow_error=self._flow_error,
            start_loss_e=self._start_loss_e,
        )
        self.firmware_side.start()
        self._transport = self.cable.host
        return super().connect()

    def status(self) -> PrinterStatus:
        return dataclasses.replace(super().status(), time_scale=self._speed_factor)

    def disconnect(self) -> None:
        super().disconnect()
        if self.firmware_side is not None:
            self.firmware_side.stop()
