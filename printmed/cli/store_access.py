"""What the record-keeping commands share: opening the store, and who is acting (by password).

Not a command itself. The first command that opens a new store creates the admin account and
prints its random password once, on standard error. Every password typed here goes through the
sign-in defence as channel "cli": recorded, a locked account refused, never made to wait.
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from printmed.auth import lockout
from printmed.auth.users import FIRST_ADMIN, authenticate, ensure_first_admin
from printmed.errors import InputError
from printmed.records.signatures import Signer, admit_signer
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
    """The migrated store of the settings; a new store gets its admin (password shown once) and
    its master file (the fixtures as version 1)."""
    settings = settings_for(args)
    store = open_store(settings.database_url)
    with store.session() as session:
        password = ensure_first_admin(session)
    from printmed.records import masterfile

    masterfile.start(store)
    if password is not None:
        print(
            f"printmed: created user {FIRST_ADMIN!r} with one-time password: {password}\n"
            "printmed: it is not stored anywhere readable; change it with "
            "`printmed users passwd admin`",
            file=sys.stderr,
        )
    return settings, store


def read_password(args: argparse.Namespace, prompt: str = "Password: ") -> str:
    """The password from stdin (--password-stdin) or asked at the terminal; none given (end of
    input, e.g. no terminal and no --password-stdin) is a refusal, not a traceback."""
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("password", None, "was not given on stdin (--password-stdin)")
        return line.rstrip("\r\n")
    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise InputError(
            "password", None, "was not given (no terminal to ask: use --password-stdin)"
        ) from None


def username_of(args: argparse.Namespace) -> str:
    """--user (or $PRINTMED_USER), which every command that changes a record needs."""
    if not args.user:
        raise InputError("--user", "(missing)", "is required (or set PRINTMED_USER)")
    return str(args.user)


def cli_address() -> str:
    """Where a command-line attempt comes from, as the attempts table keeps it: the shell's
    account on this machine (several machines may share one PostgreSQL)."""
    try:
        account = getpass.getuser()
    except OSError:  # no login name in the environment or the password database
        account = str(os.getuid())
    return f"cli:{account}@{socket.gethostname()}"


def acting_user(session: Session, args: argparse.Namespace, prompt: str = "Password: ") -> User:
    """The user named by --user, after their password, as `session` reads them.

    The password is checked through the sign-in defence in a transaction of its own, committed
    whatever the outcome (so `session` must not have begun: call this before using it);
    AccountLocked for a locked account even with the right password.
    """
    username, password = username_of(args), read_password(args, prompt)
    bind = session.get_bind()
    assert isinstance(bind, Engine), "acting_user needs a session on an engine"
    # the command's own store: same engine, another transaction for the attempt
    store = Store(engine=bind, sessions=sessionmaker(bind, expire_on_commit=False))
    admitted = lockout.admit(
        store,
        settings_for(args).sign_in,
        lockout.Attempt(username, cli_address(), "cli"),
        lambda checking: authenticate(checking, username, password),
    )
    user = session.get(User, admitted.id)
    if user is None:  # removed in between: accounts are never deleted, so never in practice
        raise InputError("--user", username, "is not a user")
    return user


def signer_by_password(
    store: Store, settings: Settings, args: argparse.Namespace, meaning: str, prompt: str
) -> Signer:
    """The --user as a signer for `meaning`, after their password (asked with `prompt`),
    checked through the sign-in defence in a transaction of its own; sign in the next one."""
    return admit_signer(
        store,
        settings.sign_in,
        username_of(args),
        read_password(args, prompt),
        meaning,
        address=cli_address(),
        channel="cli",
    )
