"""What the record-keeping commands share: opening the store, and who is acting (by password).

Not a command itself. The first command that opens a new store creates the admin account and
prints its random password once, on standard error.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy.orm import Session

from printmed.auth.users import FIRST_ADMIN, authenticate, ensure_first_admin
from printmed.errors import InputError
from printmed.settings import Settings, load_settings
from printmed.store import Store, open_store
from printmed.store.models import User


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data folder (default: $PRINTMED_DATA_DIR or ./data)")


def add_user_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        default=os.environ.get("PRINTMED_USER"),
        help="your username (default: $PRINTMED_USER)",
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def settings_for(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    if getattr(args, "data_dir", None):
        environ["PRINTMED_DATA_DIR"] = args.data_dir
    return load_settings(environ)


def open_cli_store(args: argparse.Namespace) -> tuple[Settings, Store]:
    """The migrated store of the settings; a new store gets its admin (password shown once)."""
    settings = settings_for(args)
    store = open_store(settings.database_url)
    with store.session() as session:
        password = ensure_first_admin(session)
    if password is not None:
        print(
            f"printmed: created user {FIRST_ADMIN!r} with one-time password: {password}\n"
            "printmed: it is not stored anywhere readable; change it with "
            "`printmed users passwd admin`",
            file=sys.stderr,
        )
    return settings, store


def read_password(args: argparse.Namespace, prompt: str = "Password: ") -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(prompt)


def username_of(args: argparse.Namespace) -> str:
    """--user (or $PRINTMED_USER), which every command that changes a record needs."""
    if not args.user:
        raise InputError("--user", "(missing)", "is required (or set PRINTMED_USER)")
    return str(args.user)


def acting_user(session: Session, args: argparse.Namespace, prompt: str = "Password: ") -> User:
    """The user named by --user, after their password."""
    return authenticate(session, username_of(args), read_password(args, prompt))
