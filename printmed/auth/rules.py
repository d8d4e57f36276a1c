"""Who may do what: one rule per action, the same answer on the pages, the API and the CLI.

The services check it (`require`), and the pages and the API ask the same table before they
call them (`auth.require_action`, the pages' own dependency), so no entry point has a rule of
its own. Roles only: the four-eyes rule (who entered, made or weighed a batch neither releases
it) belongs to the records service, on the batch itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from printmed.errors import InputError

ROLES = ("technician", "pharmacist", "admin")
RECORD_ROLES = frozenset({"technician", "pharmacist"})
ANY_STAFF = frozenset(ROLES)


class Action(StrEnum):
    """The things a staff member does, in the pharmacy's words."""

    ENTER_PRESCRIPTION = "enter a prescription"
    SCREEN = "screen a batch clinically, or return it"
    QUEUE = "queue a batch for its printer"
    REJECT = "reject a batch"
    CONTROL_PRINTER = "control printers"
    WEIGH = "weigh units"
    RECORD_DEVIATION = "record a deviation"
    SIGN = "sign a batch record"
    RELEASE = "release a batch"
    READ_RECORD = "read a batch record"
    DOWNLOAD_LABEL = "download a dispensing label"
    MANAGE_USERS = "manage users and prescribing systems"
    ENGINEERING_PRINT = "stream an engineering print (not a batch)"
    MANAGE_PRINTERS = "manage the printer register and calibrations"
    CLEAR_LINE = "clear a printer's line for a batch"
    REJECT_UNITS = "reject units of a batch (with the reason)"
    RECEIVE_STOCK = "receive stock into a material lot"
    PROPOSE_CALIBRATION = "propose a lot's calibration factor"
    APPROVE_CALIBRATION = "approve a lot's calibration factor"
    PROPOSE_MASTER_CHANGE = "propose a change to the master file"
    APPROVE_MASTER_CHANGE = "approve or reject a change to the master file"
    VIEW_ALL_SITES = "see every site's batches on the control-site overview"
    MANAGE_SITES = "manage sites and the control-site role"


RULES: dict[Action, frozenset[str]] = {
    Action.ENTER_PRESCRIPTION: RECORD_ROLES,
    # the clinical check of the order before anything is made: a pharmacist's alone
    Action.SCREEN: frozenset({"pharmacist"}),
    Action.QUEUE: RECORD_ROLES,
    Action.REJECT: RECORD_ROLES,
    Action.CONTROL_PRINTER: RECORD_ROLES,
    Action.WEIGH: RECORD_ROLES,
    Action.RECORD_DEVIATION: RECORD_ROLES,
    # performed, checked, reviewed; admins sign nothing (they cannot change records)
    Action.SIGN: RECORD_ROLES,
    Action.RELEASE: frozenset({"pharmacist"}),
    Action.READ_RECORD: ANY_STAFF,
    # the label goes on what is handed over: printed by whoever dispenses, not by an admin
    Action.DOWNLOAD_LABEL: RECORD_ROLES,
    Action.MANAGE_USERS: frozenset({"admin"}),
    # test prints and calibration on a printer, outside any batch: the engineer's, audited
    Action.ENGINEERING_PRINT: frozenset({"admin"}),
    # equipment: the engineer (admin) and the pharmacist answer for it; technicians report
    Action.MANAGE_PRINTERS: frozenset({"pharmacist", "admin"}),
    # at the printer, before each batch: plate clear and the batch's own lot loaded
    Action.CLEAR_LINE: RECORD_ROLES,
    # at weighing: a unit lifted, chipped or off weight is set aside, so the batch reconciles
    Action.REJECT_UNITS: RECORD_ROLES,
    # goods in: whoever books the material into the pharmacy's stock
    Action.RECEIVE_STOCK: RECORD_ROLES,
    # a calibration changes every later dose of the lot: proposed by staff, approved by a
    # second pharmacist (four eyes held in records.calibration)
    Action.PROPOSE_CALIBRATION: RECORD_ROLES,
    Action.APPROVE_CALIBRATION: frozenset({"pharmacist"}),
    # the master file (product, lot, profile, process): proposed by the staff who make batches
    # to it, approved by a second pharmacist who also holds the control-site role
    # (`require_control_site`; four eyes held in records.masterfile)
    Action.PROPOSE_MASTER_CHANGE: RECORD_ROLES,
    Action.APPROVE_MASTER_CHANGE: frozenset({"pharmacist"}),
    # the control site oversees every site: any role, with the control-site role beside it
    Action.VIEW_ALL_SITES: ANY_STAFF,
    Action.MANAGE_SITES: frozenset({"admin"}),
}
# Actions that need the control-site role (users.control_site) besides the role above.
CONTROL_SITE_ACTIONS = frozenset({Action.APPROVE_MASTER_CHANGE, Action.VIEW_ALL_SITES})


class NotPermitted(InputError):
    """The user's role, or the four-eyes rule, does not allow the action.

    `field`, `value` and the text name the user for the API's problem document and the CLI;
    `sentence` says it in the pharmacy's words for a person at a page."""

    def __init__(
        self, username: str, action: str, reason: str, *, sentence: str | None = None
    ) -> None:
        super().__init__("user", username, f"may not {action}: {reason}")
        self.sentence = sentence or f"{username} may not {action}: {reason}."


class Staff(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...


def roles_for(action: Action) -> frozenset[str]:
    """The roles that may take `action`."""
    return RULES[action]


def may(role: str, action: Action) -> bool:
    return role in RULES[action]


def require(user: Staff, action: Action) -> None:
    """Refuse `user` (NotPermitted, naming the action and the roles) unless the rule allows."""
    if not may(user.role, action):
        allowed = " or ".join(sorted(RULES[action]))
        raise NotPermitted(
            user.username,
            action.value,
            f"role {user.role} is not {allowed}",
            sentence=f"You are signed in as {_a(user.role)}, and {_a(user.role)} may not "
            f"{action.value}: only {' or '.join(_a(r) for r in sorted(RULES[action]))} may.",
        )


class ControlSiteStaff(Staff, Protocol):
    @property
    def control_site(self) -> bool: ...


def may_act(user: ControlSiteStaff, action: Action) -> bool:
    """The role allows `action`, and the control-site role is held where the action needs it."""
    return may(user.role, action) and (action not in CONTROL_SITE_ACTIONS or user.control_site)


def require_control_site(user: ControlSiteStaff, action: Action) -> None:
    """`require`, and for the control site's actions the control-site role too (NotPermitted)."""
    require(user, action)
    if action in CONTROL_SITE_ACTIONS and not user.control_site:
        raise NotPermitted(
            user.username,
            action.value,
            "the control-site role is not held",
            sentence=f"Only staff holding the control-site role may {action.value}; "
            "an admin grants it.",
        )


def _a(role: str) -> str:
    """`a pharmacist`, `an admin`."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"
