"""Rendering the pages: the Jinja2 templates shipped in the package, the navigation by role,
and the few number and time formats every page shares.

Templates ask the role rules themselves: `{% if may(user.role, Action.REJECT) %}`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from printmed.auth import settings_of, store_of
from printmed.auth.rules import Action, may, may_act
from printmed.records.pharmacy import pharmacy_of
from printmed.store.models import User
from printmed.web.sign_in_banner import sign_in_alerts

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# (path, label, section, the action it is for: shown to the roles that may take it)
NAV: tuple[tuple[str, str, str, Action | None], ...] = (
    ("/prescriptions/new", "New prescription", "prescriptions", Action.ENTER_PRESCRIPTION),
    ("/batches", "Batches", "batches", Action.READ_RECORD),
    ("/printers", "Printers", "printers", None),  # every signed-in user may watch them
    # staff who make batches to it; an admin (whose menu is full) opens it from the Sites page
    ("/master-file", "Master file", "master-file", Action.PROPOSE_MASTER_CHANGE),
    ("/overview", "Overview", "overview", Action.VIEW_ALL_SITES),  # the control-site role
    ("/sign-ins", "Sign-ins", "sign-ins", Action.MANAGE_USERS),
    ("/users", "Users", "users", Action.MANAGE_USERS),
    ("/clients", "Prescribing systems", "clients", Action.MANAGE_USERS),
)


def duration(seconds: float | None) -> str:
    """`1 h 04 min`, `12 min 30 s`, `45 s`."""
    if seconds is None:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def when(iso_text: str | None) -> str:
    """An ISO-8601 UTC time as `2026-11-25 16:40:12 UTC`."""
    if not iso_text:
        return "–"
    moment = dt.datetime.fromisoformat(iso_text).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def mg(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g} mg"


# Pages hold patient data: not cached, never framed by another site (no clickjacking of the
# controls), scripts and everything else only from the app itself, no referrer sent on.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(duration=duration, when=when, mg=mg)
templates.env.globals.update(may=may, may_act=may_act, Action=Action)


def render(
    request: Request,
    name: str,
    user: User | None,
    *,
    title: str,
    section: str = "",
    status_code: int = 200,
    notices: list[tuple[str, str]] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page with the shared layout: navigation for the user's role, CSRF token, notices."""
    pharmacy = pharmacy_of(settings_of(request), store_of(request))
    nav = [
        (href, label, key)
        for href, label, key, action in NAV
        if user is not None and (action is None or may_act(user, action))
    ]
    return templates.TemplateResponse(
        request,
        name,
        {
            "title": title,
            "section": section,
            "user": user,
            "nav": nav,
            "pharmacy_name": pharmacy.name,
            "csrf_token": getattr(request.state, "csrf_token", ""),
            "notices": (notices or [])
            + _pharmacy_unset(user, pharmacy.is_set or section == "pharmacy"),
            "sign_in_alerts": sign_in_alerts(request, user),
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


def _pharmacy_unset(user: User | None, is_set: bool) -> list[tuple[str, str]]:
    """Until the pharmacy's name is set, every signed-in page says who sets it and where."""
    if is_set or user is None:
        return []
    if may(user.role, Action.MANAGE_USERS):
        return [
            ("info", "The pharmacy's name is not set yet: set it on the Pharmacy page, /pharmacy.")
        ]
    return [
        (
            "info",
            "The pharmacy's name is not set yet: ask an administrator to set the pharmacy's name.",
        )
    ]


def problem_page(
    request: Request,
    user: User,
    heading: str,
    message: str,
    *,
    status_code: int,
    back: str,
    section: str = "",
    title: str | None = None,
) -> HTMLResponse:
    """The page that says why nothing was done, with a way back (title: the heading's)."""
    return render(
        request,
        "problem.html",
        user,
        title=title or heading,
        section=section,
        status_code=status_code,
        heading=heading,
        message=message,
        back=back,
    )


def not_permitted(request: Request, user: User, what: str) -> HTMLResponse:
    """The 403 page: this role may not do this."""
    return problem_page(
        request,
        user,
        "Not permitted",
        f"Your role ({user.role}) may not {what}.",
        status_code=403,
        back="/",
    )
