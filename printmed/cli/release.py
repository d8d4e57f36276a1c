"""`printmed release BATCH`: the pharmacist reviews the record and its audit trail, then signs.

The password is asked for (getpass) after the review is shown; --password-stdin reads it from
standard input instead. Every refusal (role, QC, broken chain, four eyes) is one line, exit 2.
"""

from __future__ import annotations

import argparse

from printmed.cli.records import print_record
from printmed.cli.store_access import (
    add_store_options,
    add_user_options,
    open_cli_store,
    read_password,
    username_of,
)
from printmed.records.batch_record import load_record
from printmed.records.release import release


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("release", help="release a weighed batch (pharmacist)")
    parser.add_argument("batch")
    add_user_options(parser)
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    username = username_of(args)
    _, store = open_cli_store(args)
    try:
        with store.session() as session:
            record = load_record(session, args.batch)
        print_record(record)
        password = read_password(args, f"Password for {username} to sign RELEASED: ")
        with store.session() as session:
            signature = release(session, args.batch, username, password)
    finally:
        store.dispose()
    print(f"{args.batch}: RELEASED by {signature.printed_name} at {signature.signed_at}")
    return 0
