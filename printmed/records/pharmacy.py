"""Who the pharmacy is, as pages, labels and records print it: the environment's
PRINTMED_PHARMACY_NAME when set, else what an admin stored at first sign-in, else a placeholder.

Every reader of the name goes through `pharmacy_of`; an admin sets it with `set_pharmacy`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.errors import InputError
from printmed.settings import DEFAULT_PHARMACY_NAME, Settings
from printmed.store import Store
from printmed.store.models import Pharmacy as PharmacyRow
from printmed.store.models import User

NAME_MAX_CHARS = 120
ADDRESS_MAX_CHARS = 200
ROW_ID = 1


@dataclass(frozen=True)
class Pharmacy:
    """The name and address to print. source: "environment", "store" or "unset" (the
    placeholder, which asks for PRINTMED_PHARMACY_NAME)."""

    name: str
    address: str
    source: str

    @property
    def is_set(self) -> bool:
        return self.source != "unset"


def from_environment(settings: Settings) -> bool:
    return settings.pharmacy_name != DEFAULT_PHARMACY_NAME


def stored_pharmacy(session: Session) -> PharmacyRow | None:
    return session.get(PharmacyRow, ROW_ID)


def pharmacy_of(settings: Settings, store: Store) -> Pharmacy:
    """The pharmacy: the environment wins; else the row in `store`; else the placeholder."""
    if from_environment(settings):
        return Pharmacy(settings.pharmacy_name, settings.pharmacy_address, "environment")
    with store.read_session() as session:
        row = stored_pharmacy(session)
    if row is None:
        return Pharmacy(settings.pharmacy_name, settings.pharmacy_address, "unset")
    return Pharmacy(row.name, row.address, "store")


def checked_text(field: str, text: str, max_chars: int) -> str:
    """`text` stripped; refused (InputError naming `field`) when empty, longer than
    `max_chars` or holding control characters (a line break, a tab, an escape)."""
    value = text.strip()
    if not value:
        raise InputError(field, text, "is empty")
    if len(value) > max_chars:
        raise InputError(field, value, f"is longer than {max_chars} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InputError(field, value, "holds a control character (a line break, tab or escape)")
    return value


def set_pharmacy(session: Session, by: User, name: str, address: str, reason: str = "") -> Pharmacy:
    """Store the pharmacy's name and address (an admin only), with an audit entry."""
    require(by, Action.MANAGE_USERS)
    name = checked_text("name", name, NAME_MAX_CHARS)
    address = checked_text("address", address, ADDRESS_MAX_CHARS)
    row = stored_pharmacy(session)
    old = None if row is None else {"name": row.name, "address": row.address}
    if row is None:
        row = PharmacyRow(id=ROW_ID)
        session.add(row)
    row.name, row.address = name, address
    row.set_by, row.set_at = by.username, audit.utc_now()
    session.flush()
    audit.append(
        session,
        actor=by.username,
        action="pharmacy.set",
        entity="pharmacy",
        entity_id=ROW_ID,
        old=old,
        new={"name": name, "address": address},
        reason=reason or "the pharmacy's name and address set",
    )
    return Pharmacy(name, address, "store")
