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

from typing import TYPE_CHECKING

from printmed.lazy_exports import lazy_exports

# Re-exported lazily: the command line's account commands use `printmed.auth.users` and must not
# load FastAPI, which only the dependencies and cookies need.
if TYPE_CHECKING:
    from printmed.auth.clients import SCOPE_ORDER_READ as SCOPE_ORDER_READ
    from printmed.auth.clients import SCOPE_ORDER_WRITE as SCOPE_ORDER_WRITE
    from printmed.auth.clients import SCOPES as SCOPES
    from printmed.auth.cookies import clear_session_cookie as clear_session_cookie
    from printmed.auth.cookies import set_session_cookie as set_session_cookie
    from printmed.auth.dependencies import Forbidden as Forbidden
    from printmed.auth.dependencies import NotAuthenticated as NotAuthenticated
    from printmed.auth.dependencies import current_principal as current_principal
    from printmed.auth.dependencies import current_user as current_user
    from printmed.auth.dependencies import printers_of as printers_of
    from printmed.auth.dependencies import require_action as require_action
    from printmed.auth.dependencies import require_roles as require_roles
    from printmed.auth.dependencies import require_scope as require_scope
    from printmed.auth.dependencies import settings_of as settings_of
    from printmed.auth.dependencies import store_of as store_of
    from printmed.auth.principal import Principal as Principal
    from printmed.auth.sessions import COOKIE_NAME as COOKIE_NAME
    from printmed.auth.sessions import login as login
    from printmed.auth.sessions import logout as logout

_EXPORTS = {
    "printmed.auth.clients": ("SCOPE_ORDER_READ", "SCOPE_ORDER_WRITE", "SCOPES"),
    "printmed.auth.cookies": ("clear_session_cookie", "set_session_cookie"),
    "printmed.auth.dependencies": (
        "Forbidden",
        "NotAuthenticated",
        "current_principal",
        "current_user",
        "printers_of",
        "require_action",
        "require_roles",
        "require_scope",
        "settings_of",
        "store_of",
    ),
    "printmed.auth.principal": ("Principal",),
    "printmed.auth.sessions": ("COOKIE_NAME", "login", "logout"),
}
__getattr__, __dir__, __all__ = lazy_exports(globals(), _EXPORTS)
