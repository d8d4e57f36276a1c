"""`printmed lots receive|show|list|propose|approve|decline`: each material lot's stock ledger
(received, used per batch, remaining) and its calibration factors per printer. Receiving and
proposing are a technician's or a pharmacist's; approving a second pharmacist's, by password.
"""

from __future__ import annotations

import argparse
import json

from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
    signer_by_password,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lots", help="material lots: stock (receive, show) and calibration factors"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    receive = actions.add_parser("receive", help="book material into a lot (goods in)")
    receive.add_argument("lot", help="lot number or formulation id")
    receive.add_argument("--grams", type=float, required=True, help="quantity received, g")
    receive.add_argument("--reason", required=True, help="e.g. the delivery note")
    add_user_options(receive)
    show = actions.add_parser("show", help="a lot's ledger: received, used, remaining")
    show.add_argument("lot", help="lot number or formulation id")
    show.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="every lot with stock booked, and what remains")
    propose = actions.add_parser("propose", help="fit weighed released batches; propose a factor")
    propose.add_argument("lot", help="lot number or formulation id")
    propose.add_argument("--printer", required=True, help="the printer the batches named")
    propose.add_argument("--profile", required=True, help="printer profile id")
    add_user_options(propose)
    decisions = []
    for verb in ("approve", "decline"):
        decide = actions.add_parser(verb, help=f"{verb} a proposed factor (a second pharmacist)")
        decide.add_argument("calibration", type=int, help="the proposal's number")
        decide.add_argument("--reason", required=True)
        add_user_options(decide)
        decisions.append(decide)
    for sub in (receive, show, listing, propose, *decisions):
        add_store_options(sub)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from printmed.jobs import calibration, stock
    from printmed.records import calibration as approvals

    settings, store = open_cli_store(args)
    try:
        if args.action == "propose":
            with store.session() as session:
                user = acting_user(session, args)
                row = calibration.propose(
                    session,
                    user,
                    calibration.formulation_of(args.lot),
                    args.printer,
                    args.profile,
                    settings,
                )
                if row is None:
                    print(f"{args.lot} on {args.printer}: the factor in use is within the margin")
                    return 0
                print(
                    f"calibration {row.id} proposed: {row.lot} on {row.printer} factor "
                    f"{row.factor_before:.4f} → {row.factor:.4f}; a second pharmacist approves it"
                )
            return 0
        if args.action == "approve":
            signer = signer_by_password(
                store, settings, args, approvals.APPROVAL_MEANING, "Password to approve: "
            )
            with store.session() as session:
                row = approvals.approve(session, args.calibration, signer, args.reason)
                print(f"calibration {row.id} approved: {row.lot} on {row.printer} {row.factor:.4f}")
            return 0
        if args.action == "decline":
            with store.session() as session:
                user = acting_user(session, args)
                row = approvals.decline(session, args.calibration, user, args.reason)
                print(f"calibration {row.id} declined; {row.lot} keeps {row.factor_before:.4f}")
            return 0
        if args.action == "receive":
            with store.session() as session:
                user = acting_user(session, args, f"Password to receive stock into {args.lot}: ")
                ledger = stock.receive(session, user, args.lot, args.grams, args.reason)
            print(
                f"{ledger.lot}: received {args.grams:.3f} g; remaining {ledger.remaining_g:.3f} g"
            )
            return 0
        with store.read_session() as session:
            if args.action == "list":
                for lot in stock.lots_on_file(session):
                    shown = stock.ledger(session, lot)
                    print(
                        f"{lot:<20} received {shown.received_g:>10.3f} g  "
                        f"used {shown.used_g:>10.3f} g  remaining {shown.remaining_g:>10.3f} g"
                    )
                return 0
            ledger = stock.ledger(session, stock.lot_on_file(session, args.lot))
            factors = [
                {
                    "id": c.id,
                    "printer": c.printer,
                    "profile_id": c.profile_id,
                    "factor_before": c.factor_before,
                    "factor": c.factor,
                    "status": c.status,
                    "proposed_by": c.proposed_by,
                    "decided_by": c.decided_by,
                    "reason": c.reason,
                }
                for c in calibration.of_lot(session, ledger.lot)
            ]
        if args.json:
            print(json.dumps({**ledger.to_dict(), "calibrations": factors}, indent=2))
            return 0
        print(f"lot        {ledger.lot}")
        print(f"received   {ledger.received_g:.3f} g")
        print(f"used       {ledger.used_g:.3f} g")
        print(f"remaining  {ledger.remaining_g:.3f} g")
        for entry in ledger.entries:
            sign = "+" if entry["kind"] == stock.RECEIPT else "−"
            what = entry["batch_number"] or entry["reason"]
            print(
                f"  {entry['at'][:19]}  {sign}{entry['grams']:.3f} g  {entry['actor']:<10} {what}"
            )
        for c in factors:
            print(
                f"calibration {c['id']} on {c['printer']} ({c['profile_id']}): "
                f"{c['factor_before']:.4f} → {c['factor']:.4f} {c['status']} "
                f"(proposed by {c['proposed_by']}, decided by {c['decided_by'] or '—'})"
            )
        return 0
    finally:
        store.dispose()
