"""The sites pages: the admin's page of sites (add a site, move a user or a printer to a site,
grant or revoke the control-site role) and the control site's overview of every site (batches by
state, QC failures, deviations, master-file changes awaiting a decision).

The rules are records.sites'; a refusal is shown beside its field and changes nothing; every
POST redirects (Post/Redirect/Get), a refused one back to the page with what was typed
(web.refused_form).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from printmed.auth import store_of
from printmed.auth.rules import Action, NotPermitted
from printmed.auth.users import list_users
from printmed.errors import InputError
from printmed.jobs import register
from printmed.records import masterfile, sites
from printmed.store.models import User
from printmed.web.admin_pages import FormField
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import problem_page, render
from printmed.web.session import CheckedForm, PageRoute, PageUser, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayManageSites = Annotated[User, page_may(Action.MANAGE_SITES)]
PAGE = "/sites"

# form → its fields, as the `field` macro draws them (dom ids unique on the page)
FORMS: dict[str, tuple[FormField, ...]] = {
    "site": (
        FormField("code", "Code", "site-code", "1-32 of a-z, 0-9 or '-', e.g. ward-b."),
        FormField("name", "Name", "site-name", "As staff call it, e.g. Ward B clinic."),
    ),
    "user": (
        FormField("username", "User", "user-username", kind="select"),
        FormField("site", "Site", "user-site", kind="select"),
        FormField("reason", "Reason", "user-reason", "Recorded in the audit trail."),
    ),
    "printer": (
        FormField("name", "Printer", "printer-name", kind="select"),
        FormField("site", "Site", "printer-site", kind="select"),
        FormField("reason", "Reason", "printer-reason", "Recorded in the audit trail."),
    ),
    "control": (
        FormField("username", "User", "control-username", kind="select"),
        FormField("held", "Control-site role", "control-held", kind="select"),
        FormField("reason", "Reason", "control-reason", "Recorded in the audit trail."),
    ),
}
DONE = {
    "site": "The site is added.",
    "user": "The user is moved.",
    "printer": "The printer is moved.",
    "control": "The control-site role is changed.",
}
HELD_OPTIONS = [("grant", "Grant"), ("revoke", "Revoke")]


def _sites_page(request: Request, user: User, refused: RefusedForm) -> Response:
    """The page; `refused`: a change refused, on the form `refused.form`, beside its field."""
    with store_of(request).read_session() as session:
        every_site = sites.list_sites(session)
        code_of = {site.id: site.code for site in every_site}
        accounts = list_users(session)
        printers = register.all_printers(session)
        sqlite = session.get_bind().dialect.name == "sqlite"
    staff = [u for u in accounts if u.role != "admin"]
    options = {
        "username": [(u.username, f"{u.username} ({u.role}, {code_of[u.site_id]})") for u in staff],
        "site": [(s.code, f"{s.code} — {s.name}") for s in every_site],
        "name": [(p.name, f"{p.name} ({code_of[p.site_id]})") for p in printers],
        "held": HELD_OPTIONS,
    }
    done = DONE.get(request.query_params.get("done", ""))
    return render(
        request,
        "sites.html",
        user,
        title="Sites",
        section="sites",
        notices=[("ok", done)] if done else [],
        sites=every_site,
        code_of=code_of,
        accounts=accounts,
        printers=printers,
        sqlite=sqlite,
        forms=FORMS,
        options=options,
        form=refused.form,
        values=refused.values,
        errors=refused.errors,
    )


@router.get(PAGE)
def sites_page(request: Request, user: MayManageSites) -> Response:
    return forget_refused(request, _sites_page(request, user, take_refused(request)))


def _change(
    request: Request,
    user: User,
    form_name: str,
    form: dict[str, str],
    change: Callable[[Session, User, dict[str, str]], Any],
) -> Response:
    """`change` in a transaction of its own as the admin; 303 back to the page, a refusal
    carried to it to be shown beside its field."""
    typed = {f.name: form.get(f.name, "").strip() for f in FORMS[form_name]}
    try:
        with store_of(request).session() as session:
            admin = session.get(User, user.id)
            assert admin is not None
            change(session, admin, typed)
    except refusals() as exc:
        names = {f.name for f in FORMS[form_name]}
        field = getattr(exc, "field", "")
        field = {"code": "code", "user": "username", "printer": "name"}.get(field, field)
        shown = field if field in names else FORMS[form_name][0].name
        message = exc.sentence if isinstance(exc, NotPermitted) else sentence(exc)
        errors = {shown: message + "; nothing was changed."}
        return refused_redirect(request, PAGE, errors, typed, form=form_name)
    return RedirectResponse(f"{PAGE}?done={form_name}", status_code=303)


@router.post("/sites")
def add_site(request: Request, user: MayManageSites, form: CheckedForm) -> Response:
    return _change(
        request,
        user,
        "site",
        form,
        lambda session, admin, t: sites.create_site(session, admin, code=t["code"], name=t["name"]),
    )


@router.post("/sites/users")
def move_user(request: Request, user: MayManageSites, form: CheckedForm) -> Response:
    return _change(
        request,
        user,
        "user",
        form,
        lambda session, admin, t: sites.assign_user(
            session, admin, t["username"], t["site"], t["reason"]
        ),
    )


@router.post("/sites/printers")
def move_printer(request: Request, user: MayManageSites, form: CheckedForm) -> Response:
    return _change(
        request,
        user,
        "printer",
        form,
        lambda session, admin, t: sites.assign_printer(
            session, admin, t["name"], t["site"], t["reason"]
        ),
    )


def _control(session: Session, admin: User, typed: dict[str, str]) -> None:
    if typed["held"] not in ("grant", "revoke"):
        raise InputError("held", typed["held"], "is not grant or revoke")
    sites.set_control_role(
        session, admin, typed["username"], typed["held"] == "grant", typed["reason"]
    )


@router.post("/sites/control")
def control_role(request: Request, user: MayManageSites, form: CheckedForm) -> Response:
    return _change(request, user, "control", form, _control)


@router.get("/overview")
def overview_page(request: Request, user: PageUser) -> Response:
    """Every site at once, for staff holding the control-site role (else the 403 page)."""
    try:
        with store_of(request).read_session() as session:
            found = sites.overview(session, user, [])
            pending = masterfile.pending(session)
    except NotPermitted as exc:
        return problem_page(request, user, "Not permitted", exc.sentence, status_code=403, back="/")
    states = sorted({state for s in found.sites for state in s.batches_by_state})
    return render(
        request,
        "overview.html",
        user,
        title="Overview of every site",
        section="overview",
        overview=found,
        states=states,
        pending=pending,
    )
