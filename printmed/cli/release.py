"""`printmed release BATCH`: the pharmacist reviews the record and its audit trail, then signs.

The password is asked for (getpass) after the review is shown; --password-stdin reads it from
standard input instead. It is recorded as a sign-in attempt (channel "cli"); a locked account
cannot release. Every refusal (role, QC, broken chain, four eyes, lock) is one line, exit 2.
"""

from __future__ import annotations

import argparse

from printmed.cli.records import print_record
from printmed.cli.store_access import (
    add_store_options,
    add_user_options,
    open_cli_store,
    signer_by_password,
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
    settings, store = open_cli_store(args)
    try:
        with store.session() as session:
            record = load_record(session, args.batch)
        print_record(record)
        signer = signer_by_password(
            store, settings, args, "released", f"Password for {username} to sign RELEASED: "
        )
        with store.session() as session:
            signature = release(session, args.batch, signer)
    finally:
        store.dispose()
    print(f"{args.batch}: RELEASED by {signature.printed_name} at {signature.signed_at}")
    return 0
