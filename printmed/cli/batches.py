"""`printmed batches new|list|show|queue|reject`: batches from prescription to the printer's queue.

`new` designs, slices and gates the G-code and records a verified batch (nothing is recorded if
the gate fails); `queue` hands it to the printer's worker. `printmed jobs` is the same command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from printmed.cli.output import print_json
from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
)
from printmed.intake import read_prescription
from printmed.jobs import service
from printmed.jobs.states import BatchState


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batches", aliases=["jobs"], help="batches: new, list, show, queue, reject"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="make and verify a batch from a prescription")
    new.add_argument("prescription", type=Path, help="native JSON or FHIR MedicationRequest")
    new.add_argument("--printer", required=True, help="printer name (its worker's --printer)")
    new.add_argument("--profile", required=True, help="printer profile id (fixtures/printers)")
    new.add_argument("--queue", action="store_true", help="queue it at once")
    listing = actions.add_parser("list", help="batches and their states")
    listing.add_argument("--state", choices=[s.value for s in BatchState])
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one batch's state and progress")
    show.add_argument("batch")
    show.add_argument("--json", action="store_true")
    queue = actions.add_parser("queue", help="queue a verified batch for its printer")
    queue.add_argument("batch")
    reject = actions.add_parser("reject", help="end a batch that will not be released")
    reject.add_argument("batch")
    reject.add_argument("--reason", required=True)
    for sub in (new, queue, reject):
        add_user_options(sub)
    for sub in (new, listing, show, queue, reject):
        add_store_options(sub)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings, store = open_cli_store(args)
    try:
        if args.action == "new":
            from printmed.jobs.making import enter_prescription

            rx = read_prescription(args.prescription)
            with store.session() as session:
                user = acting_user(session, args)
                job = enter_prescription(
                    session,
                    user,
                    rx,
                    printer=args.printer,
                    profile_id=args.profile,
                    batch_prefix=settings.batch_prefix,
                )
                if args.queue:
                    service.queue(session, job, user)
                print(
                    f"{job.batch_number}: {job.state} for printer {job.printer} "
                    f"(G-code {job.gcode_sha256})"
                )
            return 0
        if args.action in ("queue", "reject"):
            with store.session() as session:
                user = acting_user(session, args)
                job = service.get_batch(session, args.batch)
                if args.action == "queue":
                    service.queue(session, job, user)
                else:
                    service.reject(session, job, user, args.reason)
                print(f"{job.batch_number}: {job.state}")
            return 0
        with store.session() as session:
            if args.action == "list":
                rows = [
                    {
                        "batch_number": j.batch_number,
                        "state": j.state,
                        "printer": j.printer,
                        "created_by": j.created_by,
                        "created_at": j.created_at,
                    }
                    for j in service.list_batches(session, args.state)
                ]
                if args.json:
                    print_json(rows)
                for row in rows if not args.json else []:
                    print(
                        f"{row['batch_number']:<20} {row['state']:<12} {row['printer']:<12} "
                        f"{row['created_by']:<12} {row['created_at']}"
                    )
                return 0
            job = service.get_batch(session, args.batch)
            data = service.snapshot(job)
            from printmed.store.models import PrintProgress

            progress = session.get(PrintProgress, job.id)
            summary = {
                "batch_number": job.batch_number,
                "state": job.state,
                "printer": job.printer,
                "gcode_sha256": job.gcode_sha256,
                "claimed_by": job.claimed_by,
                "lines_acknowledged": progress.lines_acknowledged if progress else None,
                "lines_total": progress.lines_total if progress else None,
                "last_acknowledged_line": progress.last_acknowledged_line if progress else None,
            }
            if args.json:
                print_json({**summary, "record": data})
            else:
                for key, value in summary.items():
                    print(f"{key:<24} {value}")
            return 0
    finally:
        store.dispose()
