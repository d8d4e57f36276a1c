"""Who is calling: a staff member (by session cookie or bearer token) or a prescribing system
(by client JWT), with the role or scopes that decide what they may do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed.auth.clients import SCOPE_ORDER_READ, SCOPE_ORDER_WRITE
from printmed.auth.rules import Action, may
from printmed.store.models import ApiClient, User

# A staff member holds a scope when the rule for what the scope lets a client do allows their
# role: sending an order is entering a prescription; reading orders is reading the record.
SCOPE_ACTIONS = {SCOPE_ORDER_WRITE: Action.ENTER_PRESCRIPTION, SCOPE_ORDER_READ: Action.READ_RECORD}
CLIENT_PREFIX = "client:"
# What a prescribing system does in the job service (enter an order, have it verified) is what a
# technician does; its entries in the trail name the client, never a person.
CLIENT_ACTS_AS = "technician"


@dataclass(frozen=True)
class Principal:
    """kind: "user" or "client"; name: username or client id; via: cookie, bearer or jwt."""

    kind: str
    name: str
    role: str | None
    scopes: frozenset[str]
    user_id: int | None
    via: str

    @property
    def label(self) -> str:
        """The name written in records: the username, or "client:<id>"."""
        return self.name if self.kind == "user" else CLIENT_PREFIX + self.name

    def holds(self, scope: str) -> bool:
        if self.kind == "client":
            return scope in self.scopes
        action = SCOPE_ACTIONS.get(scope)
        return action is not None and self.role is not None and may(self.role, action)

    def actor(self, session: Session) -> User:
        """The User the job service records as actor: the staff member's own account, or for a
        client an unsaved stand-in named "client:<id>" with the technician's role."""
        if self.kind == "user" and self.user_id is not None:
            user = session.get(User, self.user_id)
            if user is not None:
                return user
        registered = session.scalar(select(ApiClient).where(ApiClient.client_id == self.name))
        return User(
            username=self.label,
            full_name=self.label,
            role=CLIENT_ACTS_AS,
            active=True,
            # its orders are made at the client's site
            site_id=registered.site_id if registered is not None else 1,
            control_site=False,
        )


def staff(user: User, via: str) -> Principal:
    return Principal("user", user.username, user.role, frozenset(), user.id, via)


def client(client_id: str, scopes: str, via: str = "jwt") -> Principal:
    return Principal("client", client_id, None, frozenset(scopes.split()), None, via)
