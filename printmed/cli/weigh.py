"""`printmed weigh BATCH --weights 101.2,99.8,…` (or --balance PORT): unit weights in, QC out.

Weighing a batch a second time is a correction and needs --reason.
"""

from __future__ import annotations

import argparse

from printmed.cli.output import print_json
from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
)
from printmed.errors import InputError
from printmed.jobs.service import get_batch
from printmed.records.qc import parse_weights, qc_lines
from printmed.records.weighing import record_weights, unit_count


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weigh", help="record unit weights (mg) and compute QC")
    parser.add_argument("batch")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="comma-separated unit masses in mg")
    source.add_argument("--balance", metavar="PORT", help="read the units from a serial balance")
    parser.add_argument("--baud", type=int, default=9600, help="balance baud rate")
    parser.add_argument("--reason", default="", help="why, when correcting recorded weights")
    parser.add_argument("--json", action="store_true")
    add_user_options(parser)
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args)
    try:
        with store.session() as session:
            units = unit_count(get_batch(session, args.batch))
        if args.weights is not None:
            weights, source = parse_weights(args.weights), "manual"
        else:
            from printmed.records.balance import read_weights

            weights = read_weights(args.balance, units, baud=args.baud)
            source = f"balance {args.balance}"
        if not weights:
            raise InputError("--weights", args.weights, "has no values")
        with store.session() as session:
            user = acting_user(session, args)
            qc = record_weights(
                session,
                get_batch(session, args.batch),
                user,
                weights,
                source=source,
                reason=args.reason,
            )
    finally:
        store.dispose()
    if args.json:
        print_json(qc)
        return 0
    print(f"{args.batch}: {qc['units_weighed']} of {units} units weighed ({source})")
    for line in qc_lines(qc):
        print(line)
    return 0
