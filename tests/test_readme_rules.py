"""The README's table of who may do what is the rule table the services check, row for row."""

from __future__ import annotations

from pathlib import Path

from printmed.auth.rules import ROLES, RULES

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_table() -> dict[str, frozenset[str]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| action | technician | pharmacist | admin |")
    rows: dict[str, frozenset[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        action, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        rows[action] = frozenset(
            role for role, cell in zip(ROLES, cells, strict=True) if cell == "yes"
        )
    return rows


def test_the_readme_states_every_rule_as_the_services_apply_it() -> None:
    assert _readme_table() == {action.value: roles for action, roles in RULES.items()}
