"""The `printmed` command line: one subcommand per module listed in COMMAND_MODULES.

Each module offers `register(subparsers)`; adding a command means adding a module and its name.
Every refusal a user can cause ends as one line naming the field and the value, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from printmed.errors import user_errors

COMMAND_MODULES: tuple[str, ...] = (
    "dose",
    "design",
    "demo",
    "batches",
    "records",
    "weigh",
    "release",
    "users",
    "worker",
    "serve",
    "print_cmd",
    "make",
    "analyze",
    "preview",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printmed",
        description="Point-of-care printing of personalised tablets.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"printmed.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except user_errors() as exc:
        print(f"printmed {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"printmed {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
