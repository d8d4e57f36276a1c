"""An engineering print is never a batch's program: not re-spelled (comments, blank lines,
spacing, case, line ends, object names), and not anything that labels its objects as the writer
labels a batch's tablets unless each is named a calibration or test object. A genuine
engineering file prints, recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printmed.audit import decoded, entries_for
from printmed.jobs import service
from printmed.jobs.engineering import (
    RECENT_DAYS,
    BatchProgramRefused,
    TabletLabelsRefused,
    commands_sha256,
    printed_commands,
    start_engineering_print,
)
from printmed.store import Store
from printmed.store.models import AuditEntry, User
from tests.records.builders import add_users, gated_batch, verified_job

CALIBRATION = """; flow calibration, two test lines
M104 S190
M109 S190
G28
G92 E0
M486 T2
M486 S0
M486 Acalibration-line-1
G1 X10 Y10 E0.5 F1200
M486 S-1
M486 S1 A"test line 2"
G1 X20 Y10 E1.0 F1200
M486 S-1
M400
"""


def _digest(text: str) -> str:
    return commands_sha256(printed_commands(text))


RESPELL = st.sampled_from(
    [
        lambda line: line + "   ",
        lambda line: line + " ; a note",
        lambda line: "; a comment line\n" + line,
        lambda line: "\n" + line,
        lambda line: line.lower(),
        lambda line: line.replace(" ", "   "),
        lambda line: line + "\r",
    ]
)


@given(changes=st.lists(st.tuples(st.integers(min_value=0), RESPELL), max_size=20))
def test_respelling_a_program_never_changes_the_commands_a_printer_runs(
    changes: list[tuple[int, object]],
) -> None:
    program = gated_batch(1).gcode
    lines = program.splitlines()
    for at, respell in changes:
        index = at % len(lines)
        lines[index] = respell(lines[index])  # type: ignore[operator]
    assert _digest("\n".join(lines) + "\n") == _digest(program)


@given(at=st.integers(min_value=0))
def test_changing_one_figure_of_one_command_changes_them(at: int) -> None:
    program = gated_batch(1).gcode
    lines = program.splitlines()
    moves = [
        i
        for i, line in enumerate(lines)
        if line.startswith("G1 ") and " E" in line and ";" not in line
    ]
    index = moves[at % len(moves)]
    lines[index] += "1"  # the last figure (E or F) one digit longer
    assert _digest("\n".join(lines) + "\n") != _digest(program)


def test_object_names_are_no_command_a_printer_runs() -> None:
    named = gated_batch(1).gcode.replace("M486 S0\n", "M486 S0\nM486 Atest-0\n")
    assert named != gated_batch(1).gcode
    assert _digest(named) == _digest(gated_batch(1).gcode)


def _engineer(store: Store) -> dict[str, User]:
    return add_users(store, "tech", "pharm", "boss")


def _start(store: Store, user: User, content: str, *, days_on: int = 0) -> None:
    with store.session() as session:
        start_engineering_print(
            session,
            user,
            file_name="bench.gcode",
            content=content.encode(),
            printer="sim (built-in simulated printer)",
            now=dt.datetime.now(dt.UTC) + dt.timedelta(days=days_on),
        )


def _engineering_entries(store: Store) -> list[dict]:
    with store.session() as session:
        entries = session.query(AuditEntry).filter(
            AuditEntry.action == "printer.engineering_print.start"
        )
        return [decoded(e) for e in entries]


def test_a_calibration_file_with_its_objects_named_is_recorded(store: Store) -> None:
    users = _engineer(store)
    verified_job(store, users["tech"], units=1)
    _start(store, users["boss"], CALIBRATION)
    [entry] = _engineering_entries(store)
    assert entry["new"]["commands_sha256"] == _digest(CALIBRATION)
    assert entry["actor"] == "boss"


def test_objects_not_named_as_calibration_or_test_are_refused_naming_them(store: Store) -> None:
    users = _engineer(store)
    unnamed = CALIBRATION.replace("M486 Acalibration-line-1\n", "").replace(
        'A"test line 2"', 'A"round 12.5 mg"'
    )
    with pytest.raises(TabletLabelsRefused) as refused:
        _start(store, users["boss"], unnamed)
    assert refused.value.value == "bench.gcode"
    assert refused.value.reason.startswith(
        "labels objects as a batch's tablets are labelled (M486 S): 0 (unnamed), "
        "1 ('round 12.5 mg'); outside a batch only calibration or test objects print"
    )
    assert _engineering_entries(store) == []


def test_a_closed_batch_past_the_window_is_still_refused_by_its_tablet_labels(
    store: Store,
) -> None:
    """Command by command only open and recent batches are compared; an older closed one's
    program, reworded, still carries the writer's tablet labels."""
    users = _engineer(store)
    batch = verified_job(store, users["tech"], units=1)
    reworded = "M117 bench\n" + gated_batch(1).gcode
    with store.session() as session:
        service.reject(session, service.get_batch(session, batch), users["pharm"], "not needed")
    with pytest.raises(BatchProgramRefused, match=f"is the G-code of batch {batch}"):
        _start(store, users["boss"], gated_batch(1).gcode + "; bench\n", days_on=RECENT_DAYS - 1)
    with pytest.raises(TabletLabelsRefused, match=r"\(M486 S\): 0 \(unnamed\)"):
        _start(store, users["boss"], reworded, days_on=RECENT_DAYS + 1)
    with store.session() as session:
        assert [e.action for e in entries_for(session, batch)][-1] == "job.reject"
    assert _engineering_entries(store) == []
