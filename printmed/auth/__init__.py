"""Sign-in for staff (session cookie or bearer token) and prescribing systems (client JWT).

How to use it (pages and API):
- Sign in: `user, token = login(session, username, password)` inside `store.session()`;
  set `token` in the cookie COOKIE_NAME (HttpOnly, SameSite=Strict; `set_session_cookie`
  does it). Sign out: `logout(session, token)`. Sessions end after
  settings.session_idle_minutes without a request.
- Guard a route with a dependency: `user: User = Depends(current_user)` (any staff member),
  `Depends(require_roles("pharmacist"))`, or `Depends(require_scope(SCOPE_ORDER_WRITE))`
  (a client JWT with that scope, or staff whose role allows it). They raise NotAuthenticated
  (401) or Forbidden (403), both HTTPException; the app needs `app.state.store` and
  `app.state.settings` (printmed.app.create_app sets them).
- Prescribing systems: an admin registers them (`register_client`); they POST
  client_credentials to /oauth/token and send the JWT as a bearer token.
"""

from printmed.auth.clients import SCOPE_ORDER_READ, SCOPE_ORDER_WRITE, SCOPES
from printmed.auth.cookies import clear_session_cookie, set_session_cookie
from printmed.auth.dependencies import (
    Forbidden,
    NotAuthenticated,
    current_principal,
    current_user,
    printers_of,
    require_action,
    require_roles,
    require_scope,
    settings_of,
    store_of,
)
from printmed.auth.principal import Principal
from printmed.auth.sessions import COOKIE_NAME, login, logout

__all__ = [
    "COOKIE_NAME",
    "SCOPES",
    "SCOPE_ORDER_READ",
    "SCOPE_ORDER_WRITE",
    "Forbidden",
    "NotAuthenticated",
    "Principal",
    "clear_session_cookie",
    "current_principal",
    "current_user",
    "login",
    "logout",
    "printers_of",
    "require_action",
    "require_roles",
    "require_scope",
    "set_session_cookie",
    "settings_of",
    "store_of",
]
