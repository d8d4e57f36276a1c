"""Engineering prints: a file streamed to a printer outside any batch (test prints, calibration),
by someone the rules allow, recorded in the trail before a line goes out, never a batch's G-code.

Batches print only through the worker, which gates and records them; so a file whose SHA-256 is
any batch's program (as stored, or with its line ends changed) is refused here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.store.models import Batch, StoredGcode, User


class BatchProgramRefused(InputError):
    """The file is a batch's G-code: it prints only through the worker."""


@dataclass(frozen=True)
class EngineeringPrint:
    """What the trail holds of one engineering print: who, which file (SHA-256), which printer."""

    username: str
    file_name: str
    sha256: str
    printer: str


def start_engineering_print(
    session: Session, user: User, *, file_name: str, content: bytes, printer: str
) -> EngineeringPrint:
    """Refuse unless `user` may make engineering prints and `content` is no batch's G-code;
    then append the entry naming the user, the file's SHA-256 and `printer` (the backend and
    where it is), in the caller's transaction, before anything is streamed."""
    require(user, Action.ENGINEERING_PRINT)
    sha256 = hashlib.sha256(content).hexdigest()
    unix_text = content.replace(b"\r\n", b"\n")
    for candidate in dict.fromkeys((sha256, hashlib.sha256(unix_text).hexdigest())):
        batch = session.scalar(
            select(Batch.batch_number).where(Batch.gcode_sha256 == candidate).limit(1)
        )
        if batch is not None or session.get(StoredGcode, candidate) is not None:
            raise BatchProgramRefused(
                "file",
                file_name,
                f"is the G-code of batch {batch or '(a batch)'} (SHA-256 {candidate}): batches "
                "print only through the worker, which records them",
            )
    started = EngineeringPrint(user.username, file_name, sha256, printer)
    audit.append(
        session,
        actor=user.username,
        action="printer.engineering_print.start",
        entity="printer",
        entity_id=printer,
        new={"file": file_name, "sha256": sha256, "bytes": len(content), "printer": printer},
        reason="engineering print (not a batch): test print or calibration",
    )
    return started


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
