"""`printmed printers list|show|add|edit|set-status|calibrate|clear`: the printer register.

Registering, editing, status and calibration are a pharmacist's or an admin's; line clearance a
technician's or a pharmacist's. An OctoPrint API key is asked for (or read from the line after
the password with --password-stdin), sealed in the store and never printed again.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
)

STATUSES = ("in_service", "out_of_service", "calibration_due")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "printers", help="printer register: add, list, status, calibrate, clear"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every registered printer, its status and due date")
    show = actions.add_parser("show", help="one printer with its calibrations")
    show.add_argument("name")
    add = actions.add_parser("add", help="register a printer (pharmacist or admin)")
    add.add_argument("name")
    add.add_argument("--profile", required=True, help="printer profile id (fixtures/printers)")
    add.add_argument("--serial", required=True, help="the manufacturer's serial number")
    add.add_argument("--location", required=True, help="where it stands")
    add.add_argument("--reason", default="registered")
    edit = actions.add_parser("edit", help="move a printer or change its connection")
    edit.add_argument("name")
    edit.add_argument("--location")
    edit.add_argument("--reason", required=True)
    for sub in (add, edit):
        where = sub.add_mutually_exclusive_group(required=sub is add)
        where.add_argument("--sim", action="store_true", help="the built-in simulated printer")
        where.add_argument("--port", help="USB serial port, e.g. /dev/ttyACM0")
        where.add_argument("--octoprint", metavar="URL", help="an OctoPrint server (key asked)")
        sub.add_argument("--baud", type=int, default=115200, help="serial speed (with --port)")
    status = actions.add_parser("set-status", help="in service, out of service, calibration due")
    status.add_argument("name")
    status.add_argument("status", choices=STATUSES)
    status.add_argument("--reason", required=True)
    calibrate = actions.add_parser("calibrate", help="record a calibration (every check)")
    calibrate.add_argument("name")
    calibrate.add_argument(
        "--e-steps", type=float, required=True, metavar="MM", help="extruded over 100 mm asked"
    )
    calibrate.add_argument(
        "--bed-level", type=float, required=True, metavar="MM", help="largest bed deviation"
    )
    calibrate.add_argument(
        "--nozzle-temperature",
        type=float,
        required=True,
        metavar="C",
        help="probe minus set point, °C",
    )
    calibrate.add_argument("--notes", default="")
    clear = actions.add_parser("clear", help="line clearance: plate clear, batch's lot loaded")
    clear.add_argument("name")
    clear.add_argument("batch", help="the queued batch this printer is to print next")
    clear.add_argument("--lot", required=True, help="the lot number loaded (scanned or typed)")
    clear.add_argument("--plate-clear", action="store_true", help="confirm the plate is clear")
    for sub in (add, edit, status, calibrate, clear):
        add_user_options(sub)
    for sub in (listing, show):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    for sub in (listing, show, add, edit, status, calibrate, clear):
        add_store_options(sub)
    parser.set_defaults(run=run)


def _connection(args: argparse.Namespace) -> Any:
    from printmed.jobs.register import Connection

    if args.octoprint:
        key = (
            sys.stdin.readline().rstrip("\r\n")
            if args.password_stdin
            else getpass.getpass("OctoPrint API key (not shown, never printed): ")
        )
        return Connection("octoprint", url=args.octoprint, api_key=key)
    if args.port:
        return Connection("usb", port=args.port, baud=args.baud)
    if args.sim:
        return Connection("sim")
    return None


def _row(printer: Any) -> dict[str, Any]:
    from printmed.jobs import register

    return {
        **register.view(printer),
        "status_now": register.effective_status(printer),
        "ready": register.readiness(printer).reason,
        "cleared_batch": printer.cleared_batch,
    }


def run(args: argparse.Namespace) -> int:
    from printmed.jobs import register

    _, store = open_cli_store(args)
    try:
        if args.action in ("list", "show"):
            with store.read_session() as session:
                if args.action == "list":
                    rows = [_row(p) for p in register.all_printers(session)]
                    if args.json:
                        print(json.dumps(rows, indent=2))
                    for row in [] if args.json else rows:
                        print(
                            f"{row['name']:<18} {row['profile_id']:<16} "
                            f"{row['serial_number']:<22} "
                            f"{register.STATUS_LABELS[row['status_now']]:<16} "
                            f"due {row['calibration_due_on'] or '—'}  {row['location']}"
                        )
                    return 0
                printer = register.get(session, args.name)
                shown = _row(printer)
                shown["calibrations"] = [
                    {
                        "result": c.result,
                        "performed_by": c.performed_by,
                        "performed_at": c.performed_at,
                        "next_due_on": c.next_due_on,
                        "checks": json.loads(c.checks_json),
                        "notes": c.notes,
                    }
                    for c in register.calibrations(session, printer)
                ]
                if args.json:
                    print(json.dumps(shown, indent=2))
                    return 0
                for key, value in shown.items():
                    if key != "calibrations":
                        print(f"{key:<20} {value}")
                for c in shown["calibrations"]:
                    print(
                        f"calibration          {c['performed_at']} by {c['performed_by']}: "
                        f"{c['result']} (next due {c['next_due_on'] or '—'})"
                    )
                return 0
        with store.session() as session:
            user = acting_user(session, args)
            if args.action == "add":
                printer = register.add_printer(
                    session,
                    user,
                    name=args.name,
                    profile_id=args.profile,
                    serial_number=args.serial,
                    location=args.location,
                    connection=_connection(args),
                    reason=args.reason,
                )
                print(
                    f"registered {printer.name} ({printer.profile_id}, serial "
                    f"{printer.serial_number}); it prints once a calibration passes"
                )
            elif args.action == "edit":
                printer = register.change_details(
                    session,
                    user,
                    args.name,
                    reason=args.reason,
                    location=args.location,
                    connection=_connection(args),
                )
                print(f"{printer.name}: changed")
            elif args.action == "set-status":
                printer = register.set_status(session, user, args.name, args.status, args.reason)
                print(f"{printer.name}: {register.STATUS_LABELS[printer.status]}")
            elif args.action == "calibrate":
                calibration = register.record_calibration(
                    session,
                    user,
                    args.name,
                    {
                        "e_steps": args.e_steps,
                        "bed_level": args.bed_level,
                        "nozzle_temperature": args.nozzle_temperature,
                    },
                    notes=args.notes,
                )
                for check in json.loads(calibration.checks_json):
                    verdict = "pass" if check["passed"] else "FAIL"
                    print(f"{check['label']}: {check['measured']} {check['unit']} {verdict}")
                due = calibration.next_due_on or "now (failed: the printer takes no batch)"
                print(f"{args.name}: calibration {calibration.result}; next due {due}")
            else:
                printer = register.clear_line(
                    session,
                    user,
                    args.name,
                    args.batch,
                    plate_clear=args.plate_clear,
                    lot_number=args.lot,
                )
                print(f"{printer.name}: line cleared for {args.batch} (lot {printer.cleared_lot})")
        return 0
    finally:
        store.dispose()
