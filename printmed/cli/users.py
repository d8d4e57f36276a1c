"""`printmed users list|add|passwd|deactivate|activate`: accounts, managed by an admin.

Every change is an audit entry; accounts are deactivated, never deleted, since records name them.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from printmed.auth import lockout
from printmed.auth.users import (
    ROLES,
    authenticate,
    create_user,
    list_users,
    set_active,
    set_password,
)
from printmed.cli.store_access import (
    add_store_options,
    add_user_options,
    open_cli_store,
    read_password,
    username_of,
)
from printmed.errors import InputError
from printmed.records.sites import assign_user, list_sites


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("users", help="user accounts (admin)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every account and its role")
    add = actions.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="full name, printed on signatures")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--site", help="the site's code (default: main; `printmed sites` moves)")
    passwd = actions.add_parser("passwd", help="set a password (yours, or any as admin)")
    passwd.add_argument("username")
    passwd.add_argument("--reason", default="password changed")
    deactivate = actions.add_parser("deactivate", help="lock an account")
    activate = actions.add_parser("activate", help="unlock an account")
    unlock = actions.add_parser("unlock", help="unlock an account locked by failed sign-ins")
    for sub in (deactivate, activate, unlock):
        sub.add_argument("username")
        sub.add_argument("--reason", required=True)
    for sub in (add, passwd, deactivate, activate, unlock):
        add_user_options(sub)
    for sub in (listing, add, passwd, deactivate, activate, unlock):
        add_store_options(sub)
    parser.set_defaults(run=run)


def _new_password(args: argparse.Namespace) -> str:
    """The new account's password: second stdin line with --password-stdin, else asked twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New password for {args.username}: ")
    if getpass.getpass("Again: ") != first:
        raise InputError("password", "(hidden)", "was not the same twice")
    return first


def run(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args)
    try:
        if args.action == "list":
            with store.session() as session:
                codes = {site.id: site.code for site in list_sites(session)}
                for user in list_users(session):
                    state = "" if user.active else "  (inactive)"
                    state += f"  (locked {user.locked_at})" if user.locked_at else ""
                    state += "  (control-site role)" if user.control_site else ""
                    site = codes.get(user.site_id, "?")
                    print(f"{user.username:<20} {user.role:<11} {site:<10} {user.full_name}{state}")
            return 0
        with store.session() as session:
            password = read_password(args)
            admin = authenticate(session, username_of(args), password)
            if args.action == "add":
                user = create_user(
                    session,
                    admin,
                    username=args.username,
                    full_name=args.name,
                    role=args.role,
                    password=_new_password(args),
                )
                if args.site:
                    assign_user(session, admin, user.username, args.site, "account created there")
                print(f"created {user.username} ({user.role})")
            elif args.action == "passwd":
                # Your own password: your signing key is resealed (you typed the current one);
                # someone else's: a reset, which issues them a new signing key.
                own = admin.username == args.username
                set_password(
                    session,
                    admin,
                    args.username,
                    _new_password(args),
                    args.reason,
                    current_password=password if own else None,
                )
                print(f"password of {args.username} changed")
            elif args.action == "unlock":
                lockout.unlock(session, admin, args.username, args.reason)
                print(f"{args.username} unlocked")
            else:
                active = args.action == "activate"
                set_active(session, admin, args.username, active, args.reason)
                print(f"{args.username} {'activated' if active else 'deactivated'}")
        return 0
    finally:
        store.dispose()
