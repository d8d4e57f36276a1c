"""Framing of outgoing lines and reading of replies: pure functions, checked on known values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printers import registry
from printers.errors import UnknownBackend
from printers.firmware import FirmwareInfo
from printers.framing import (
    carries_extrusion,
    checksum,
    clean,
    encode_command,
    frame,
    frame_encoded,
)
from printers.program import GcodeProgram
from printers.replies import (
    Action,
    Busy,
    ErrorReply,
    Ok,
    Resend,
    Start,
    TemperatureReport,
    parse,
)


def test_frame_numbers_the_line_and_appends_marlins_xor_checksum():
    assert frame(0, "M110 N0") == b"N0 M110 N0*125\n"
    assert (
        frame(12, "G1 X10 E1")
        == b"N12 G1 X10 E1*" + str(checksum(b"N12 G1 X10 E1")).encode() + b"\n"
    )


@given(st.integers(0, 10**6), st.text(alphabet="GMXYZEF0123456789. -", max_size=40))
def test_a_framed_line_checks_out_as_the_firmware_computes_it(number, command):
    body, _, rest = frame(number, command).rstrip(b"\n").rpartition(b"*")
    assert int(rest) == checksum(body)
    assert body.startswith(f"N{number} ".encode())


@given(st.integers(0, 10**7), st.text(max_size=60))
def test_a_command_encoded_once_frames_to_the_same_bytes_under_any_line_number(number, command):
    assert frame_encoded(number, *encode_command(command)) == frame(number, command)


def test_a_program_encodes_each_command_once_with_its_xor():
    program = GcodeProgram.from_text("G1 X1 E0.5\nM104 S0 ; off\n")
    assert program.encoded == ((b"G1 X1 E0.5", checksum(b"G1 X1 E0.5")), (b"M104 S0", 59))
    assert program.encoded is program.encoded  # computed once, shared by every link


def test_clean_drops_comments_blank_and_an_existing_frame():
    assert clean("G1 X1 E0.5 ; perimeter") == "G1 X1 E0.5"
    assert clean("   ; only a comment") == ""
    assert clean("N7 G28*35") == "G28"


def test_only_moves_with_an_e_word_carry_extrusion():
    assert carries_extrusion("G1 X1 Y2 E0.05")
    assert carries_extrusion("G1 E-0.8 F1800")  # a retraction changes the dose too
    assert not carries_extrusion("G1 X1 Y2 F3000")
    assert not carries_extrusion("M104 S200")
    assert not carries_extrusion("G92 E0")


def test_advanced_ok_gives_line_number_and_free_slots():
    assert parse("ok N42 P15 B3") == Ok(42, 15, 3, None)
    assert parse("ok") == Ok(None, None, None, None)


def test_ok_with_temperatures_is_the_answer_to_m105():
    reply = parse("ok T:200.5 /201.0 B:60.0 /60.0 @:64 B@:0")
    assert isinstance(reply, Ok) and reply.temperatures is not None
    assert reply.temperatures.get("T0") == (200.5, 201.0)
    assert reply.temperatures.get("B") == (60.0, 60.0)


def test_resend_in_its_two_spellings():
    assert parse("Resend: 17") == Resend(17)
    assert parse("rs N17") == Resend(17)


def test_other_replies_are_typed():
    assert parse("start") == Start()
    assert parse("echo:busy: processing") == Busy("echo:busy: processing")
    assert isinstance(parse(" T:190.0 /190.0 B:40.0 /40.0 @:0"), TemperatureReport)
    assert parse("//action:pause") == Action("pause")
    assert parse("Error:Printer halted. kill() called!") == ErrorReply(
        "Error:Printer halted. kill() called!", True
    )
    assert parse("Error:checksum mismatch, Last Line: 3").fatal is False  # type: ignore[union-attr]


def test_m115_gives_name_and_capabilities():
    info = FirmwareInfo.from_m115(
        [
            "FIRMWARE_NAME:Marlin 2.1.2 (Github) SOURCE_CODE_URL:github.com/MarlinFirmware"
            " PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3",
            "Cap:AUTOREPORT_TEMP:1",
            "Cap:EMERGENCY_PARSER:0",
        ]
    )
    assert info.name == "Marlin 2.1.2 (Github)"
    assert info.fields["MACHINE_TYPE"] == "Ender-3"
    assert info.has("AUTOREPORT_TEMP") and not info.has("EMERGENCY_PARSER")


def test_program_layers_follow_slicer_comments_else_z_rises():
    by_comment = GcodeProgram.from_text(";LAYER:0\nG1 Z0.2\nG1 X1 E1\n;LAYER:1\nG1 Z0.4\nG1 X2 E1")
    assert by_comment.layers == 2 and by_comment.layer_of == (0, 0, 1, 1)
    by_z = GcodeProgram.from_text("G1 Z0.2 F600\nG1 X1 E1\nG1 Z0.4\nG1 X2 E1\nG1 Z0.6")
    assert by_z.layers == 3
    assert by_z.file_lines == (1, 2, 3, 4, 5) and by_z.extrusion_lines == 2


def test_backends_register_themselves_by_name():
    assert {"serial", "octoprint", "sim"} <= set(registry.names())
    assert registry.backend("sim").backend_name == "sim"


def test_unknown_backend_is_refused_with_the_name():
    with pytest.raises(UnknownBackend) as caught:
        registry.backend("usb")
    assert caught.value.value == "usb"
