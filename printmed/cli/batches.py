"""`printmed batches new|list|show|screen|return|queue|reject`: from prescription to the queue.

`new` designs, slices and gates the G-code and records a verified batch (nothing is recorded if
the gate or any check fails: the body measurements are questioned, the printer must be the
profile or a registered printer of it); a pharmacist then `screen`s it (shown the order, then
asked for the password, like `printmed release`) or `return`s it with a reason; `queue` hands a
screened batch to the printer's worker. `printmed jobs` is the same command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from printmed.cli.output import print_json
from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
    signer_by_password,
    username_of,
)
from printmed.intake import read_prescription
from printmed.jobs import service
from printmed.jobs.states import BatchState
from printmed.records.screening import ScreeningSheet, return_batch, screen, screening_sheet
from printmed.settings import Settings
from printmed.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batches", aliases=["jobs"], help="batches: new, list, show, queue, reject"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="make and verify a batch from a prescription")
    new.add_argument("prescription", type=Path, help="native JSON or FHIR MedicationRequest")
    new.add_argument(
        "--printer",
        required=True,
        help="the profile id again (any in-service printer of it takes the batch) or a "
        "registered printer of that profile at your site (that printer alone)",
    )
    new.add_argument("--profile", required=True, help="printer profile id (fixtures/printers)")
    listing = actions.add_parser("list", help="batches and their states")
    listing.add_argument("--state", choices=[s.value for s in BatchState])
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one batch's state and progress")
    show.add_argument("batch")
    show.add_argument("--json", action="store_true")
    screen = actions.add_parser(
        "screen", help="clinically screen a verified batch (pharmacist; password, note)"
    )
    screen.add_argument("batch")
    screen.add_argument("--note", required=True, help="what was checked (recorded)")
    returning = actions.add_parser(
        "return", help="return a verified batch to the technician (pharmacist; reason)"
    )
    returning.add_argument("batch")
    returning.add_argument("--reason", required=True, help="what must change (recorded)")
    queue = actions.add_parser("queue", help="queue a screened batch for its printer")
    queue.add_argument("batch")
    reject = actions.add_parser("reject", help="end a batch that will not be released")
    reject.add_argument("batch")
    reject.add_argument("--reason", required=True)
    for sub in (new, screen, returning, queue, reject):
        add_user_options(sub)
    for sub in (new, listing, show, screen, returning, queue, reject):
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
                    windows=settings.observation_windows,
                )
                print(
                    f"{job.batch_number}: {job.state} for printer {job.printer} "
                    f"(G-code {job.gcode_sha256}); a pharmacist screens it before it is queued"
                )
            return 0
        if args.action == "screen":
            return screen_batch(args, settings, store)
        if args.action == "return":
            with store.session() as session:
                user = acting_user(session, args)
                job = return_batch(session, args.batch, user, args.reason)
                print(f"{job.batch_number}: {job.state} to the technician ({args.reason.strip()})")
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


def screen_batch(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """Show the pharmacist the order, then ask the password and sign SCREENED with the note."""
    username = username_of(args)
    with store.session() as session:
        sheet = screening_sheet(session, args.batch)
    print_sheet(sheet)
    signer = signer_by_password(
        store, settings, args, "screened", f"Password for {username} to sign SCREENED: "
    )
    with store.session() as session:
        signature = screen(session, args.batch, signer, args.note)
    print(f"{args.batch}: SCREENED by {signature.printed_name} at {signature.signed_at}")
    return 0


def _measured(what: str, measured: dict[str, Any] | None) -> str:
    if measured is None:
        return f"{what} not recorded"
    origin = measured["source"] + (
        f", {measured['measured_at']}" if measured["measured_at"] else ""
    )
    status = f", {measured['status']}" if measured["status"] else ""
    value = f"{measured['value']:g} {measured['unit']}"
    return f"{what} {value} (as recorded {measured['as_recorded']}; {origin}{status})"


def print_sheet(sheet: ScreeningSheet) -> None:
    """What the pharmacist screens: patient, order and maxima, dose trail, lot, tablet."""
    patient, rx, dose, design = sheet.patient, sheet.prescribed, sheet.dose, sheet.design
    age = "age not recorded" if patient["age_years"] is None else f"age {patient['age_years']:g} y"
    print(
        f"batch {sheet.batch_number}  state {sheet.state}  "
        f"entered by {sheet.entered_by} at {sheet.entered_at}"
    )
    print(f"prescription {sheet.prescription_id}: patient {patient['id']}, {age}")
    print("  " + _measured("weight", patient["weight"]))
    print("  " + _measured("height", patient["height"]))
    print(f"drug {sheet.drug.get('name')} ({sheet.drug.get('code') or 'no code'})")
    print(f"indication {rx['indication'] or 'not stated on the order: ask the prescriber'}")
    words = rx.get("prescriber_words") or []
    if not words:
        print("prescriber's words: none beside the structured dose")
    for said in words:
        print(f'prescriber\'s words: "{said["text"]}" ({said["said"]})')
    ordered = rx["dose"] or {}
    print(
        f"prescribed {ordered.get('value')} {ordered.get('unit')}, "
        f"{rx['frequency_per_day']} a day, {rx['doses']} doses; "
        f"prescribed maxima {rx['maxima']}; written {rx['authored_at'] or '–'}"
    )
    if sheet.formulary:
        f = sheet.formulary
        print(
            f"formulary max {f['max_mg_per_kg_per_dose']:g} mg/kg and "
            f"{f['max_mg_per_dose']:g} mg a dose, "
            f"{f['max_mg_per_kg_per_day']:g} mg/kg and {f['max_mg_per_day']:g} mg a day"
        )
    print(f"dose {dose.get('dose_mg')} mg (calculated {dose.get('calculated_mg')} mg); trail:")
    for n, step in enumerate(dose.get("trail", []), start=1):
        print(f"  {n}. {step['step']}: {step['formula']} = {step['result']:.4g} {step['unit']}")
    lot = sheet.lot
    print(f"lot {lot['lot']} ({lot['id']}): assay {lot['assay_percent']} %, expiry {lot['expiry']}")
    sizes = " × ".join(f"{v:.2f}" for v in design.get("dimensions_mm", {}).values())
    print(f"tablet {design.get('shape')} {sizes} mm, {design.get('units_total')} units")
    for decision in sheet.decisions:
        print(f"{decision.decision} by {decision.by} at {decision.at}: {decision.note}")
