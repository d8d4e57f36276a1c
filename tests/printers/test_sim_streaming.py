"""The serial protocol against the built-in simulated Marlin: completion, faults, control."""

from __future__ import annotations

import pytest

from printers.interface import StreamState
from printers.program import GcodeProgram
from printers.sim_marlin import Faults
from tests.printers.printer_test_helpers import (
    ProgressEvents,
    executed_commands,
    executed_program_lines,
    tablet_program,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite

# Handshake uses N0 (M110), N1 (M115) and N2 (M155): program line i is N(i + 3).
FIRST = 3


def test_program_streams_to_completion_with_every_line_acknowledged_once(make_sim):
    program = tablet_program()
    sim = make_sim()
    report = sim.stream(program)
    assert report.complete
    assert report.lines_acknowledged == len(program)
    assert (
        report.extrusion_lines_acknowledged == program.extrusion_lines == 201
    )  # with the retraction
    assert executed_program_lines(sim) == list(program.commands)
    assert report.last_acknowledged_line == program.file_lines[-1]


def test_firmware_identity_and_capabilities_come_from_m115(make_sim):
    sim = make_sim()
    info = sim.link.firmware
    assert info is not None
    assert info.name == "Marlin 2.1.2 (printmed simulator)"
    assert info.has("AUTOREPORT_TEMP") and info.advanced_ok and info.command_slots == 4


def test_send_ahead_never_overruns_the_128_byte_receive_buffer(make_sim):
    sim = make_sim(baud=250000, speed_factor=1000.0)
    report = sim.stream(tablet_program(400))
    assert report.complete
    assert sim.firmware_side.overruns == 0


def test_plain_ok_firmware_gets_one_line_at_a_time_and_completes(make_sim):
    program = tablet_program(60)
    sim = make_sim(advanced_ok=False, autoreport_temp=False)
    report = sim.stream(program)
    assert report.complete
    assert executed_program_lines(sim) == list(program.commands)
    assert not sim.link.firmware.advanced_ok


def test_each_injected_fault_is_recovered_without_losing_or_doubling_a_line(make_sim):
    program = tablet_program(120)
    faults = Faults(
        drop_ok={FIRST + 10, FIRST + len(program) - 1},
        corrupt={FIRST + 20, FIRST + 21},
        drop_line={FIRST + 40},
        resend={FIRST + 60},
    )
    sim = make_sim(faults=faults)
    report = sim.stream(program)
    assert report.complete, report.summary()
    assert executed_program_lines(sim) == list(program.commands)
    assert report.resends >= 3


def test_a_lost_last_ok_on_a_plain_ok_printer_is_recovered_by_probe(make_sim):
    program = tablet_program(10)
    sim = make_sim(faults=Faults(drop_ok={FIRST + len(program) - 1}), advanced_ok=False)
    report = sim.stream(program)
    assert report.complete
    assert report.timeouts == 1
    assert executed_program_lines(sim) == list(program.commands)


def test_printer_reset_mid_print_interrupts_and_names_last_acknowledged_line(make_sim):
    program = tablet_program(100)
    sim = make_sim(faults=Faults(reset_at=FIRST + 50))
    report = sim.stream(program)
    assert report.state is StreamState.INTERRUPTED
    assert "restarted" in report.reason
    assert not report.complete
    acked = report.lines_acknowledged
    assert 0 < acked <= 50
    assert report.last_acknowledged_line == program.file_lines[acked - 1]


def test_vanished_port_interrupts_the_job(make_sim):
    sim = make_sim(faults=Faults(disconnect_at=FIRST + 30))
    report = sim.stream(tablet_program(100))
    assert report.state is StreamState.INTERRUPTED
    assert "vanished" in report.reason
    assert report.lines_acknowledged <= 30


def test_thermal_runaway_fails_the_job(make_sim):
    sim = make_sim(faults=Faults(thermal_runaway_at=FIRST + 25))
    report = sim.stream(tablet_program(100))
    assert report.state is StreamState.FAILED
    assert "Thermal Runaway" in report.reason or "halted" in report.reason
    assert not report.complete
    assert len(executed_program_lines(sim)) == 25  # program lines 0..24 ran, then the halt


def test_long_heating_command_is_waited_for_without_a_false_timeout(make_sim):
    program = GcodeProgram.from_text("M109 S200\nG1 X1 E1 F600\n")
    sim = make_sim(speed_factor=1.0)
    # 180 °C at 90 °C/s: 2 s, longer than 4 × the 0.4 s ack timeout; heater lines every 0.2 s
    sim.firmware_side.heat_rate_c_per_s = 90.0
    sim.firmware_side.busy_interval_s = 0.2
    report = sim.stream(program)
    assert report.complete
    assert report.timeouts == 0
    assert report.temperature_log


def test_slow_moves_filling_the_planner_are_waited_for_through_busy_messages(make_sim):
    program = GcodeProgram.from_text("\n".join(f"G1 X{i % 2 * 5} E0.1 F600" for i in range(12)))
    sim = make_sim(speed_factor=1.0)  # 0.5 s a move, longer than the 0.4 s ack timeout
    sim.firmware_side.busy_interval_s = 0.2
    report = sim.stream(program)
    assert report.complete
    assert report.timeouts == 0


def _in_flight(sim) -> int:
    report = sim.link.job_report()
    return report.lines_sent - report.lines_acknowledged


def test_pause_holds_the_program_and_resume_finishes_it(make_sim):
    program = tablet_program(300)
    sim = make_sim(speed_factor=20.0)
    progress = ProgressEvents()
    sim.start(program, progress)
    progress.wait_for(lambda event: event.lines_acknowledged >= 1)  # heating (M109) ahead
    sim.pause()
    progress.wait_for(lambda event: event.state is StreamState.PAUSED)
    held = sim.link.job_report()
    # lines already sent (the heating among them) still finish; then the printer stands idle
    assert wait_until(lambda: _in_flight(sim) == 0)
    assert sim.wait(0.3) is None  # and is sent nothing more: the job does not end while held
    later = sim.link.job_report()
    assert held is not None and later is not None
    assert later.lines_sent == held.lines_sent < len(program)
    assert later.lines_acknowledged == later.lines_sent
    assert sim.status().job_state is StreamState.PAUSED
    sim.resume()
    report = sim.wait(30)
    assert report is not None and report.complete


def test_cancel_stops_the_program_and_switches_heaters_off(make_sim):
    program = tablet_program(300)
    sim = make_sim(speed_factor=20.0)
    progress = ProgressEvents()
    sim.start(program, progress)
    progress.wait_for(lambda event: event.lines_acknowledged >= 1)  # heating (M109) ahead
    sim.cancel()
    report = sim.wait(5)
    assert report is not None and report.state is StreamState.CANCELLED
    assert not report.complete
    # the heaters go off once the command under way has finished
    assert wait_until(lambda: executed_commands(sim)[-2:] == ["M104 S0", "M140 S0"])
    assert len(executed_program_lines(sim)) < len(program) + 2


def test_emergency_stop_halts_the_firmware_at_once(make_sim):
    sim = make_sim(speed_factor=5.0)
    progress = ProgressEvents()
    sim.start(tablet_program(300), progress)
    progress.wait_for(lambda event: event.lines_acknowledged >= 1)
    sim.emergency_stop()
    report = sim.wait(5)
    assert report is not None and report.state is StreamState.FAILED
    assert wait_until(lambda: sim.firmware_side.killed)


def test_host_action_pause_from_the_printer_pauses_the_job(make_sim):
    moves = "\n".join(f"G1 X{i % 20} E0.1 F600" for i in range(200))
    program = GcodeProgram.from_text(f"G1 X1 E1 F600\nM118 //action:pause\n{moves}\n")
    sim = make_sim(speed_factor=20.0)
    progress = ProgressEvents()
    sim.start(program, progress)
    progress.wait_for(lambda event: event.state is StreamState.PAUSED)
    assert sim.status().job_state is StreamState.PAUSED
    sim.resume()
    report = sim.wait(20)
    assert report is not None and report.complete


def test_progress_events_report_layers_and_reach_the_total(make_sim):
    events = []
    program = tablet_program(200)
    sim = make_sim()
    report = sim.stream(program, events.append)
    assert report.complete
    assert events[-1].lines_acknowledged == len(program)
    assert events[-1].percent == 100.0
    assert events[-1].layers == 4 and events[-1].layer == 3
    assert events[-1].state is StreamState.COMPLETED
