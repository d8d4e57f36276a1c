"""`printmed print`: a file to the simulated printer, one-line refusals, Ctrl-C then a choice."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from printmed.cli import main

pytestmark = pytest.mark.timeout(120)  # a hang must fail fast, not eat the suite


def _gcode(tmp_path, moves: int, feed_mm_min: int = 3000):
    lines = ["M104 S190", "M109 S190"]
    for i in range(moves):
        if i % 100 == 0:
            lines.append(f";LAYER:{i // 100}")
        lines.append(f"G1 X{i % 30} Y{i % 20} E0.05 F{feed_mm_min}")
    path = tmp_path / "tablets.gcode"
    path.write_text("\n".join(lines) + "\nM400\n")
    return path


def test_print_to_the_simulator_completes_and_exits_zero(tmp_path, capsys):
    path = _gcode(tmp_path, 300)
    assert main(["print", str(path), "--sim", "--sim-speed", "200"]) == 0
    err = capsys.readouterr().err
    assert "completed; 303/303 lines acknowledged (300/300 extruding)" in err


def test_missing_port_is_one_line_and_exit_two(tmp_path, capsys):
    path = _gcode(tmp_path, 3)
    assert main(["print", str(path), "--port", "/dev/ttyUSB-printmed-none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "printmed print: error: port: '/dev/ttyUSB-printmed-none' does not exist"
        " (is the printer plugged in?)"
    ]


def test_octoprint_without_api_key_is_refused(tmp_path, capsys):
    path = _gcode(tmp_path, 3)
    assert main(["print", str(path), "--octoprint", "http://127.0.0.1:9"]) == 2
    assert "--api-key" in capsys.readouterr().err


def test_ctrl_c_pauses_and_cancel_ends_the_job_with_exit_one(tmp_path):
    path = _gcode(tmp_path, 2000, feed_mm_min=600)
    command = [sys.executable, "-m", "printmed", "print", str(path), "--sim", "--sim-speed", "5"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    seen = process.stderr.readline()  # the CLI imports the whole product first: wait for it
    while seen and not seen.startswith("streaming "):
        seen = process.stderr.readline()
    assert seen.startswith("streaming "), "the print command never started streaming"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate("c\n", timeout=30)
    assert process.returncode == 1, err
    assert "paused: [r]esume, [c]ancel, [e]mergency stop" in err + out
    assert "cancelled" in err
