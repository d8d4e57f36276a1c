"""Start-up of the `printmed` command: the parser and a command load only what the command uses.

Which modules a command imports is read in a fresh interpreter, so other tests' imports cannot
hide one; the lazy re-exports of the packages are held to the names their modules define.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from printmed.catalog import fixtures_dir
from printmed.cli import COMMANDS, LazyCommands, build_parser
from printmed.intake import read_prescription

REPO = Path(__file__).resolve().parents[1]
CHILD = fixtures_dir() / "prescriptions" / "propranolol-child.json"
# Each takes tenths of a second to seconds to import, and neither listing the commands nor the
# dose arithmetic needs any of them.
HEAVY = ("numba", "trimesh", "matplotlib", "scipy", "sqlalchemy", "fhir.resources")
LAZY_PACKAGES = ("printmed.manufacture", "printmed.intake", "printmed.auth", "printers")


def modules_loaded_by(code: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module in sys.modules after `code` ran in a new interpreter (it may print)."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.splitlines()[-1])), result


def heavy_among(modules: set[str]) -> list[str]:
    return sorted(m for m in modules for h in HEAVY if m == h or m.startswith(h + "."))


def test_building_the_parser_imports_no_heavy_library() -> None:
    modules, _ = modules_loaded_by("from printmed.cli import build_parser; build_parser()")
    assert heavy_among(modules) == []


def test_building_the_parser_imports_no_command_module() -> None:
    modules, _ = modules_loaded_by("from printmed.cli import build_parser; build_parser()")
    commands = {f"printmed.cli.{command.module}" for command in COMMANDS}
    assert modules & commands == set()


def test_dose_of_a_native_prescription_imports_no_heavy_library() -> None:
    modules, result = modules_loaded_by(
        f"from printmed.cli import main; main(['dose', {str(CHILD)!r}, '--json'])"
    )
    assert json.loads(result.stdout)["dose_mg"] == 12.5
    assert heavy_among(modules) == []


@pytest.mark.parametrize("command", ["design", "demo", "make", "preview"])
def test_a_manufacturing_commands_help_imports_no_heavy_library(command: str) -> None:
    modules, result = modules_loaded_by(
        "from printmed.cli import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass"
    )
    assert result.stdout.startswith(f"usage: printmed {command} ")
    assert heavy_among(modules) == []


def test_help_lists_every_command_with_its_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    listing = capsys.readouterr().out
    for command in COMMANDS:
        assert command.name in listing
        assert command.help in listing
    assert "batches (jobs)" in listing


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_each_command_registers_the_help_and_aliases_it_is_listed_with(command) -> None:
    parser = argparse.ArgumentParser(prog="printmed")
    subparsers = parser.add_subparsers(dest="command")
    importlib.import_module(f"printmed.cli.{command.module}").register(subparsers)
    [listed] = subparsers._choices_actions
    assert (listed.dest, listed.help) == (command.name, command.help)
    assert set(subparsers.choices) == {command.name, *command.aliases}


def test_a_chosen_command_parses_its_own_options() -> None:
    args = build_parser().parse_args(["dose", "rx.json", "--json"])
    from printmed.cli import dose

    assert (args.command, args.run, args.prescription, args.json) == (
        "dose",
        dose.run,
        Path("rx.json"),
        True,
    )


def test_an_alias_loads_the_command_it_names() -> None:
    args = build_parser().parse_args(["jobs", "list", "--json"])
    from printmed.cli import batches

    assert (args.command, args.action, args.run) == ("jobs", "list", batches.run)


def test_an_unknown_command_is_refused_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["dosage", "rx.json"])
    assert exited.value.code == 2
    assert "invalid choice: 'dosage'" in capsys.readouterr().err


def test_a_command_is_loaded_once_and_leaves_the_others_placeholders() -> None:
    parser = build_parser()
    parser.parse_args(["dose", "rx.json"])
    [subparsers] = [a for a in parser._actions if isinstance(a, LazyCommands)]
    listed = [action.dest for action in subparsers._choices_actions]
    assert sorted(listed) == sorted(command.name for command in COMMANDS)
    assert set(subparsers._placeholders) == {
        key for c in COMMANDS if c.name != "dose" for key in (c.name, *c.aliases)
    }


def type_checking_imports(package: ModuleType) -> dict[str, str]:
    """name → module of the `from M import name as name` lines under `if TYPE_CHECKING:`."""
    assert package.__file__ is not None
    tree = ast.parse(Path(package.__file__).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for line in node.body:
                assert isinstance(line, ast.ImportFrom) and line.module is not None
                for alias in line.names:
                    found[alias.asname or alias.name] = line.module
    return found


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_lazy_reexports_are_the_names_their_modules_define(name: str) -> None:
    package = importlib.import_module(name)
    declared = type_checking_imports(package)
    exports = {name: module for module, names in package._EXPORTS.items() for name in names}
    assert declared == exports
    assert sorted(package.__all__) == sorted(declared)
    for export, module in declared.items():
        assert getattr(package, export) is getattr(importlib.import_module(module), export)


def test_an_unknown_name_of_a_lazy_package_is_an_attribute_error() -> None:
    import printmed.manufacture

    with pytest.raises(AttributeError, match="dose_for_all"):
        printmed.manufacture.dose_for_all  # noqa: B018


def test_the_dose_only_path_gives_the_dose_the_manufacture_path_gives() -> None:
    from printmed.manufacture import batch, dosing_path

    for path in sorted((fixtures_dir() / "prescriptions").glob("*.json")):
        if path.name.startswith("Observation-"):
            continue
        rx = read_prescription(path)
        plan = batch.plan_tablet(rx)
        if rx.schedule is None:
            lot, dose = dosing_path.dose_for(rx)
            assert (lot, dose) == (plan.formulation, plan.dose), path.name
        else:  # a schedule: the same dose, trail and days for every step
            lot, steps = dosing_path.doses_for(rx)
            assert lot == plan.formulation, path.name
            assert steps == [step.dose for step in plan.steps], path.name
            assert len(steps) == len(rx.schedule), path.name
