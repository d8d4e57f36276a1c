"""Who may do what: one rule per action, the same answer on the pages, the API and the CLI.

Roles only; the four-eyes rule (who entered, made or weighed a batch neither releases it) is
the records service's, on the batch itself.
"""

from __future__ import annotations

from enum import StrEnum

from printmed.auth.users import RECORD_ROLES

ANY_STAFF = frozenset({"technician", "pharmacist", "admin"})


class Action(StrEnum):
    """The things a staff member does, in the pharmacy's words."""

    ENTER_PRESCRIPTION = "enter a prescription"
    QUEUE = "queue a batch for its printer"
    REJECT = "reject a batch"
    CONTROL_PRINTER = "control printers"
    WEIGH = "weigh units"
    SIGN = "sign a batch record"
    RELEASE = "release a batch"
    READ_RECORD = "read a batch record"
    DOWNLOAD_LABEL = "download a dispensing label"
    MANAGE_USERS = "manage users and prescribing systems"


RULES: dict[Action, frozenset[str]] = {
    Action.ENTER_PRESCRIPTION: RECORD_ROLES,
    Action.QUEUE: RECORD_ROLES,
    Action.REJECT: RECORD_ROLES,
    Action.CONTROL_PRINTER: RECORD_ROLES,
    Action.WEIGH: RECORD_ROLES,
    Action.SIGN: frozenset({"pharmacist"}),
    Action.RELEASE: frozenset({"pharmacist"}),
    Action.READ_RECORD: ANY_STAFF,
    # the label goes on what is handed to the patient: printed by whoever dispenses it
    Action.DOWNLOAD_LABEL: RECORD_ROLES,
    Action.MANAGE_USERS: frozenset({"admin"}),
}


def roles_for(action: Action) -> frozenset[str]:
    """The roles that may take `action`."""
    return RULES[action]


def may(role: str, action: Action) -> bool:
    return role in RULES[action]
