"""`printmed sites list|add|user|printer|client|control|overview`: the sites that make batches,
who and what belongs to each, and the control-site role; changes by an admin, each audited.

On SQLite the store holds one site; several sites share one PostgreSQL database (DATABASE_URL),
each site's service naming its own in PRINTMED_SITE.
"""

from __future__ import annotations

import argparse
from collections import Counter

from sqlalchemy.orm import Session

from printmed.auth.users import list_users
from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
)
from printmed.jobs import register as printer_register
from printmed.records import masterfile, sites
from printmed.store.models import User

HELP = "sites and the control-site role (admin)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sites", help=HELP)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every site with its staff and printers")
    add = actions.add_parser("add", help="add a site (PostgreSQL only)")
    add.add_argument("code", help="1-32 of a-z, 0-9, '-'")
    add.add_argument("--name", required=True, help="as staff call it")
    moves = []
    for name, what in (
        ("user", "a staff member"),
        ("printer", "a registered printer"),
        ("client", "a prescribing system"),
    ):
        move = actions.add_parser(name, help=f"move {what} to a site")
        move.add_argument(name if name != "user" else "username")
        move.add_argument("site", help="the site's code")
        move.add_argument("--reason", required=True)
        moves.append(move)
    control = actions.add_parser("control", help="grant or revoke the control-site role")
    control.add_argument("username")
    held = control.add_mutually_exclusive_group(required=True)
    held.add_argument("--grant", action="store_true")
    held.add_argument("--revoke", action="store_true")
    control.add_argument("--reason", required=True)
    overview = actions.add_parser("overview", help="every site's batches by state (control site)")
    for sub in (add, *moves, control, overview):
        add_user_options(sub)
    for sub in (listing, add, *moves, control, overview):
        add_store_options(sub)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args)
    try:
        if args.action == "list":
            with store.read_session() as session:
                staff = list_users(session)
                printers = printer_register.all_printers(session)
                for site in sites.list_sites(session):
                    people = [
                        u.username + (" (control)" if u.control_site else "")
                        for u in staff
                        if u.site_id == site.id
                    ]
                    machines = [p.name for p in printers if p.site_id == site.id]
                    role = "  control site" if site.control else ""
                    print(f"{site.code:<12} {site.name}{role}")
                    print(f"{'':<12} staff: {', '.join(people) or '-'}")
                    print(f"{'':<12} printers: {', '.join(machines) or '-'}")
            return 0
        with store.session() as session:
            user = acting_user(session, args)
            if args.action == "add":
                site = sites.create_site(session, user, code=args.code, name=args.name)
                print(f"site {site.code} added ({site.name})")
            elif args.action == "user":
                sites.assign_user(session, user, args.username, args.site, args.reason)
                print(f"{args.username} is now at {args.site}")
            elif args.action == "printer":
                sites.assign_printer(session, user, args.printer, args.site, args.reason)
                print(f"printer {args.printer} is now at {args.site}")
            elif args.action == "client":
                sites.assign_client(session, user, args.client, args.site, args.reason)
                print(f"prescribing system {args.client} now orders for {args.site}")
            elif args.action == "control":
                sites.set_control_role(session, user, args.username, args.grant, args.reason)
                holds = "holds" if args.grant else "no longer holds"
                print(f"{args.username} {holds} the control-site role")
            else:
                _print_overview(session, user)
        return 0
    finally:
        store.dispose()


def _print_overview(session: Session, user: User) -> None:
    found = sites.overview(session, user, [])
    pending = masterfile.pending(session)
    for site in found.sites:
        counts = ", ".join(f"{state} {n}" for state, n in site.batches_by_state.items()) or "none"
        print(f"{site.code:<12} batches: {counts}")
    print(f"QC failures: {len(found.qc_failures)}")
    for failure in found.qc_failures:
        print(f"  {failure['site']:<10} {failure['batch_number']} ({failure['state']})")
    print(f"deviations: {len(found.deviations)}")
    for deviation in found.deviations:
        print(f"  {deviation['site']:<10} {deviation['batch_number']}: {deviation['description']}")
    kinds = Counter(row.kind for row in pending)
    print(f"master-file changes awaiting a decision: {len(pending)}", end="")
    print(f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if pending else "")
