"""The `printmed` command line: one subcommand per module, listed with its help in COMMANDS.

Each module offers `register(subparsers)` and `run(args)`; adding a command means adding a module
and its row. Only the chosen command's module is imported, so `printmed --help` and a command
load no more than that command uses. Every refusal a user can cause ends as one line naming the
field and the value, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any


@dataclass(frozen=True)
class Command:
    """A subcommand as `printmed --help` lists it; `module` (in printmed.cli) registers the rest."""

    name: str
    module: str
    help: str
    aliases: tuple[str, ...] = ()


# The help here is what `printmed --help` shows without importing the module; a test holds it
# equal to the help the module registers.
COMMANDS: tuple[Command, ...] = (
    Command("dose", "dose", "calculate the dose of a prescription"),
    Command("design", "design", "design the tablet that holds the dose"),
    Command("demo", "demo", "dose and design every bundled prescription"),
    Command("batches", "batches", "batches: new, list, show, queue, reject", aliases=("jobs",)),
    Command("records", "records", "batch records: show, verify, pdf, label, sign, deviation"),
    Command("weigh", "weigh", "record unit weights (mg) and compute QC"),
    Command("release", "release", "release a weighed batch (pharmacist)"),
    Command("users", "users", "user accounts (admin)"),
    Command("sites", "sites", "sites and the control-site role (admin)"),
    Command(
        "printers",
        "printers",
        "printer register: add, list, status, calibrate, clear",
    ),
    Command("lots", "lots", "material lots: stock (receive, show) and calibration factors"),
    Command(
        "masterfile",
        "masterfile",
        "master file: show, propose, approve, import, export",
    ),
    Command("worker", "worker", "stream the queued jobs of one printer"),
    Command("serve", "serve", "run the web application (API, FHIR, pages)"),
    Command("print", "print_cmd", "stream a G-code file to a printer"),
    Command("make", "make", "design, slice and gate a prescription's G-code"),
    Command("analyze", "analyze", "read G-code back: volume per tablet"),
    Command("preview", "preview", "PNGs of a tablet and its layers' toolpaths"),
)

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _Subparsers = argparse._SubParsersAction


class LazyCommands(_Subparsers):
    """Subparsers that hold a placeholder per command until it is chosen on the command line.

    The placeholder carries the name, aliases and help for the listing; when argparse reaches the
    command, its module is imported and registers its real parser in the placeholder's stead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._placeholders: dict[str, Command] = {}

    def add_command(self, command: Command) -> None:
        self.add_parser(command.name, aliases=list(command.aliases), help=command.help)
        for key in (command.name, *command.aliases):
            self._placeholders[key] = command

    def load(self, name: str) -> None:
        """Import the command's module and let it register its parser (once)."""
        command = self._placeholders.get(name)
        if command is None:
            return
        for key in (command.name, *command.aliases):
            del self._name_parser_map[key]
            del self._placeholders[key]
        self._choices_actions[:] = [a for a in self._choices_actions if a.dest != command.name]
        importlib.import_module(f"printmed.cli.{command.module}").register(self)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; no command module is imported until its command is parsed."""
    parser = argparse.ArgumentParser(
        prog="printmed",
        description="Point-of-care printing of personalised tablets.",
    )
    subparsers = parser.add_subparsers(
        action=LazyCommands, dest="command", required=True, metavar="COMMAND"
    )
    assert isinstance(subparsers, LazyCommands)
    for command in COMMANDS:
        subparsers.add_command(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported only now: the error classes bring pydantic, which `--help` does not need.
    from printmed.errors import user_errors

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
