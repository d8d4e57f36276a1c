"""The banner every page shows an admin while accounts are locked or an address is failing to
sign in over and over (Part 11 §11.300(d): attempts at unauthorised use reported urgently).
"""

from __future__ import annotations

from fastapi import Request

from printmed.auth import lockout, settings_of, store_of
from printmed.auth.dependencies import sign_in_clock
from printmed.auth.rules import Action, may
from printmed.store.models import User


def sign_in_alerts(request: Request, user: User | None) -> lockout.SignInAlerts | None:
    """The alerts for an admin (None for anyone else), read at the clock the defence reads."""
    if user is None or not may(user.role, Action.MANAGE_USERS):
        return None
    clock = request.app.dependency_overrides.get(sign_in_clock, sign_in_clock)()
    with store_of(request).read_session() as session:
        return lockout.alerts(session, settings_of(request).sign_in, clock())
