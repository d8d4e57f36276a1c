"""Engineering prints: a file streamed to a printer outside any batch (test prints, calibration),
by someone the rules allow, recorded in the trail before a line goes out, never a batch's G-code.

Batches print only through the worker, which gates and records them; so a file is refused here
when it is a batch's program byte for byte (any batch ever, by SHA-256, line ends either way),
or command for command as a printer would run it (`printed_commands`) for the batches that are
still open or were entered in the last RECENT_DAYS, or when it labels objects the way the
writer labels a batch's tablets (`M486 S<n>`) without naming each a calibration or test object.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gcode.words import Malformed, split_line
from printers.framing import clean
from printmed import audit
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.jobs.states import FINAL_STATES
from printmed.store.models import Batch, StoredGcode, User

# Programs compared command by command: every batch not yet released or rejected, and any
# entered in this many days. Older closed batches' programs are refused byte for byte, and by
# their tablet labels however they were reworded.
RECENT_DAYS = 30
# How much of a stored program is read first: a program that differs from the file differs
# within its first few hundred commands, so the rest of it is read only when these agree.
PREFIX_CHARS = 32_768
COMPARED_PER_QUERY = 200
# What an object must be called to print outside a batch (M486 A...): a calibration or test
# object, or the writer's own purge line, which is no tablet.
NOT_A_TABLET = re.compile(r"(calibration|test)(?![a-z])|prime$")


class BatchProgramRefused(InputError):
    """The file is a batch's G-code: it prints only through the worker."""


class TabletLabelsRefused(InputError):
    """The file labels objects as a batch's tablets are labelled and does not name them
    calibration or test objects: the value is the file, the reason names the objects."""


@dataclass(frozen=True)
class EngineeringPrint:
    """What the trail holds of one engineering print: who, which file (SHA-256), which printer."""

    username: str
    file_name: str
    sha256: str
    printer: str


def printed_commands(text: str) -> Iterator[str]:
    """The commands a printer would run of `text`, each in one spelling: comments, blank
    lines, line numbers and checksums gone (as a host streams them, `printers.framing.clean`),
    spaces removed and letters upper-cased (Marlin reads `g1 x1` as `G1X1`), and object names
    (`M486 A...`) left out, since a name lays down nothing."""
    for raw in text.splitlines():
        command = clean(raw)
        if not command:
            continue
        spelled = "".join(command.split()).upper()
        if _is_m486(spelled):
            named_at = spelled.find("A", 4)
            if named_at >= 0:
                spelled = spelled[:named_at]
                if spelled == "M486":
                    continue
        yield spelled


def commands_sha256(commands: Iterable[str]) -> str:
    """SHA-256 of `printed_commands` output, one command a line."""
    digest = hashlib.sha256()
    for command in commands:
        digest.update(command.encode("utf-8", errors="replace") + b"\n")
    return digest.hexdigest()


def start_engineering_print(
    session: Session,
    user: User,
    *,
    file_name: str,
    content: bytes,
    printer: str,
    now: dt.datetime | None = None,
) -> EngineeringPrint:
    """Refuse unless `user` may make engineering prints and `content` is no batch's G-code nor
    labelled as a batch's tablets (BatchProgramRefused, TabletLabelsRefused); then append the
    entry naming the user, the file's SHA-256 and `printer` (the backend and where it is), in
    the caller's transaction, before anything is streamed. `now` dates RECENT_DAYS."""
    require(user, Action.ENGINEERING_PRINT)
    sha256 = hashlib.sha256(content).hexdigest()
    text = content.decode("utf-8", errors="replace")
    commands = list(printed_commands(text))
    batch = _same_bytes(session, content, sha256) or _same_commands(
        session, commands, now or dt.datetime.now(dt.UTC)
    )
    if batch is not None:
        raise BatchProgramRefused(
            "file",
            file_name,
            f"is the G-code of batch {batch} (as a printer would run it): batches print only "
            "through the worker, which records them",
        )
    _check_no_tablet_labels(file_name, text)
    started = EngineeringPrint(user.username, file_name, sha256, printer)
    audit.append(
        session,
        actor=user.username,
        action="printer.engineering_print.start",
        entity="printer",
        entity_id=printer,
        new={
            "file": file_name,
            "sha256": sha256,
            "commands_sha256": commands_sha256(commands),
            "bytes": len(content),
            "printer": printer,
        },
        reason="engineering print (not a batch): test print or calibration",
    )
    return started


def _same_bytes(session: Session, content: bytes, sha256: str) -> str | None:
    """The batch whose stored program is `content` byte for byte, line ends either way
    ("(a batch)" for a stored program no batch names); None if none (an indexed lookup)."""
    unix_text = content.replace(b"\r\n", b"\n")
    for candidate in dict.fromkeys((sha256, hashlib.sha256(unix_text).hexdigest())):
        batch = session.scalar(
            select(Batch.batch_number).where(Batch.gcode_sha256 == candidate).limit(1)
        )
        if batch is not None or session.get(StoredGcode, candidate) is not None:
            return batch or "(a batch)"
    return None


def _same_commands(session: Session, commands: list[str], now: dt.datetime) -> str | None:
    """The open or recent batch whose program runs as `commands` on a printer, or None.

    Each program is read first as its first PREFIX_CHARS (cut by the database), and whole only
    if those commands agree with the file's: the cost is about PREFIX_CHARS per program
    compared, plus the whole of any that begins as the file does."""
    if not commands:
        return None
    cutoff = (now - dt.timedelta(days=RECENT_DAYS)).isoformat(timespec="microseconds")
    rows = session.execute(
        select(Batch.gcode_sha256, Batch.batch_number)
        .where(
            Batch.gcode_sha256.is_not(None),
            or_(Batch.state.not_in([s.value for s in FINAL_STATES]), Batch.created_at >= cutoff),
        )
        .order_by(Batch.id.desc())
    )
    batch_of: dict[str, str] = {}
    for sha256, batch_number in rows:
        if sha256 is not None:
            batch_of.setdefault(sha256, batch_number)
    wanted = commands_sha256(commands)
    programs = list(batch_of)
    for start in range(0, len(programs), COMPARED_PER_QUERY):
        prefixes = session.execute(
            select(StoredGcode.sha256, func.substr(StoredGcode.text, 1, PREFIX_CHARS)).where(
                StoredGcode.sha256.in_(programs[start : start + COMPARED_PER_QUERY])
            )
        )
        for sha256, prefix in prefixes:
            if not _begins_as(prefix, commands):
                continue
            text = session.scalar(select(StoredGcode.text).where(StoredGcode.sha256 == sha256))
            if text is not None and commands_sha256(printed_commands(text)) == wanted:
                return batch_of[sha256]
    return None


def _begins_as(prefix: str, commands: list[str]) -> bool:
    """Whether the commands of a program's first PREFIX_CHARS (its last line, perhaps cut
    short, left out) are the first of `commands`."""
    whole = len(prefix) < PREFIX_CHARS
    read = list(printed_commands(prefix if whole else prefix[: prefix.rfind("\n") + 1]))
    return read == commands if whole else read == commands[: len(read)]


def _check_no_tablet_labels(file_name: str, text: str) -> None:
    """Refuse a file with an object (`M486 S<n>`, n ≥ 0) that is not named a calibration or
    test object (`M486 Acalibration-…`, `M486 Atest-…`; the writer's purge line `prime`):
    the writer labels each tablet of a batch `M486 S<n>` and names none of them."""
    labels: dict[int, str | None] = {}
    current: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        command = clean(raw)
        if not _is_m486("".join(command.split()).upper()):
            continue
        try:
            words = split_line(command)
        except Malformed as exc:
            raise TabletLabelsRefused(
                "file", file_name, f"line {number}: {command!r} is not readable ({exc})"
            ) from None
        if words is None:
            continue
        if "S" in words.values:
            current = int(words.values["S"])
            if current >= 0:
                labels.setdefault(current, None)
        if words.object_name is not None and current is not None and current >= 0:
            labels[current] = words.object_name.strip().strip('"')
    refused = [
        f"{label} ({'unnamed' if name is None else repr(name)})"
        for label, name in sorted(labels.items())
        if name is None or not NOT_A_TABLET.match(name.lower())
    ]
    if refused:
        raise TabletLabelsRefused(
            "file",
            file_name,
            f"labels objects as a batch's tablets are labelled (M486 S): {', '.join(refused)}; "
            "outside a batch only calibration or test objects print: name each one "
            "(M486 Acalibration-…, M486 Atest-…), or print the batch through the worker",
        )


def _is_m486(spelled: str) -> bool:
    return spelled.startswith("M486") and not spelled[4:5].isdigit()


def finish_engineering_print(
    session: Session,
    started: EngineeringPrint,
    *,
    firmware: Mapping[str, Any] | None,
    report: Mapping[str, Any] | None,
    summary: str,
) -> None:
    """Append how the engineering print `started` ended: the printer's reported identity and the
    stream report (None when the printer could not be reached)."""
    audit.append(
        session,
        actor=started.username,
        action="printer.engineering_print.end",
        entity="printer",
        entity_id=started.printer,
        new={
            "file": started.file_name,
            "sha256": started.sha256,
            "printer": started.printer,
            "firmware": dict(firmware) if firmware is not None else None,
            "report": dict(report) if report is not None else None,
        },
        reason=summary,
    )
