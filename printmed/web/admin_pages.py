"""The admins' pages for accounts and prescribing systems: list, add (a password shown once),
deactivate or reactivate with a reason, reset a password; register a prescribing system (its
secret shown once), give it a new secret, revoke or restore it.

The services (printmed.auth.users, .clients) check the rule and audit every change; a refusal is
shown beside its field and changes nothing; every POST redirects (Post/Redirect/Get), a refused
one back to its page with what was typed (printmed.web.refused_form), and a new password or
secret travels to the next page sealed in a cookie (printmed.web.shown_once).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from printmed.auth import store_of
from printmed.auth.clients import (
    SCOPES,
    get_client,
    list_clients,
    register_client,
    rotate_client_secret,
    set_client_active,
)
from printmed.auth.rules import ROLES, Action, NotPermitted
from printmed.auth.users import create_user, get_user, list_users, set_active, set_password
from printmed.errors import InputError
from printmed.store.models import User
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import problem_page, render
from printmed.web.session import CheckedForm, PageRoute, page_may
from printmed.web.shown_once import OneTimeSecret, forget_shown_once, show_once, take_shown_once

router = APIRouter(route_class=PageRoute, include_in_schema=False)
USERS, CLIENTS = "/users", "/clients"
T = TypeVar("T")
MayManageUsers = Annotated[User, page_may(Action.MANAGE_USERS)]
PASSWORD_BYTES = 15  # 20 URL-safe characters, as the first admin's
SCOPE_LABELS = {
    "prescriptions.write": "send prescriptions (prescriptions.write)",
    "prescriptions.read": "read back its orders and their batches (prescriptions.read)",
}


@dataclass(frozen=True)
class FormField:
    """A field as the `field` macro of _macros.html draws it."""

    name: str
    label: str
    dom_id: str
    hint: str = ""
    kind: str = "text"
    required: bool = True
    wide: bool = False


NEW_USER_FIELDS = (
    FormField("username", "Username", "f-username", "Letters, digits, '.', '-' or '_'."),
    FormField("full_name", "Full name", "f-full-name", "As printed on signatures."),
    FormField("role", "Role", "f-role", kind="select"),
)
NEW_CLIENT_FIELDS = (
    FormField("client_id", "Client id", "f-client-id", "Letters, digits or '-', e.g. ward-epma."),
    FormField("name", "Name", "f-client-name", "The prescribing system, e.g. Ward ePMA."),
)
LABELS = {f.name: f.label for f in NEW_USER_FIELDS + NEW_CLIENT_FIELDS} | {
    "reason": "Reason",
    "scopes": "Permissions",
}
# what the page after a change says, by the `done` its redirect names (no secret goes there)
ACCOUNT_DONE = {
    "added": "{0.username} is added as {0.role}.",
    "reset": "{0.username}'s password is reset.",
    "deactivated": "{0.username} is deactivated and may not log in.",
    "reactivated": "{0.username} is active again and may log in.",
}
CLIENT_DONE = {
    "added": "{0.client_id} is registered.",
    "rotated": "{0.client_id} has a new secret; its old secret is refused from now on.",
    "revoked": "{0.client_id} is revoked: its secret and its tokens are refused.",
    "restored": "{0.client_id} is restored and may get tokens again.",
}


def message(exc: InputError) -> str:
    """A refusal as the sentence beside its field: `Username 'tina' is taken.`"""
    if isinstance(exc, NotPermitted):
        return exc.sentence
    label = LABELS.get(exc.field, exc.field.replace("_", " ").capitalize())
    shown = f" {exc.value!r}" if exc.value not in ("", None) else ""
    return f"{label}{shown} {exc.reason}."


def scope_field(scope: str) -> str:
    """The form name of a scope's tick box (one name per box: the checked form keeps one value
    per name)."""
    return f"scope-{scope}"


def _as_admin(request: Request, user: User, change: Callable[[Session, User], T]) -> T:
    """`change(session, admin)` in one transaction of its own."""
    with store_of(request).session() as session:
        admin = session.get(User, user.id)
        assert admin is not None
        return change(session, admin)


def _changed(
    request: Request, path: str, done: str, shown: OneTimeSecret | None = None
) -> Response:
    """The redirect after a change: to `path`, which says `done` and shows `shown` once."""
    response = RedirectResponse(f"{path}?done={done}", status_code=303)
    if shown is not None:
        show_once(request, response, path, shown)
    return response


def _list_page(
    request: Request,
    user: User,
    template: str,
    title: str,
    section: str,
    refused: RefusedForm,
    **context: Any,
) -> Response:
    """A list with its form to add one; `refused`: an addition refused, beside its field."""
    page = render(
        request,
        template,
        user,
        title=title,
        section=section,
        values=refused.values,
        errors=refused.errors,
        **context,
    )
    return forget_refused(request, page)


def _thing_page(
    request: Request,
    user: User,
    template: str,
    title: str,
    section: str,
    thing: Any,
    done: dict[str, str],
    **context: Any,
) -> Response:
    """One account's or client's page: what the last change did, the secret it made (shown
    once), and its forms with a change refused beside its reason (errors and values by the
    form's name)."""
    said = done.get(request.query_params.get("done", ""), "").format(thing)
    refused = take_refused(request)
    response = render(
        request,
        template,
        user,
        title=title,
        section=section,
        notices=[("ok", said)] if said and not refused.errors else [],
        shown=take_shown_once(request),
        errors=refused.errors,
        values=refused.values,
        **context,
    )
    forget_shown_once(request, response)
    return forget_refused(request, response)


def _not_found(request: Request, user: User, exc: InputError, back: str) -> Response:
    return problem_page(request, user, "Not found", message(exc), status_code=404, back=back)


# accounts


@router.get(USERS)
def users_page(request: Request, user: MayManageUsers) -> Response:
    with store_of(request).read_session() as session:
        accounts = list_users(session)
    return _list_page(
        request,
        user,
        "users.html",
        "Users",
        "users",
        take_refused(request),
        accounts=accounts,
        fields=NEW_USER_FIELDS,
        role_options=[(role, role) for role in ROLES],
    )


@router.post("/users")
def add_user(request: Request, user: MayManageUsers, form: CheckedForm) -> Response:
    values = {f.name: form.get(f.name, "").strip() for f in NEW_USER_FIELDS}
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        username = _as_admin(
            request,
            user,
            lambda session, admin: (
                create_user(
                    session,
                    admin,
                    username=values["username"],
                    full_name=values["full_name"],
                    role=values["role"],
                    password=password,
                ).username
            ),
        )
    except InputError as exc:
        errors = {exc.field if exc.field in LABELS else "": message(exc)}
        return refused_redirect(request, USERS, errors, values)
    shown = OneTimeSecret(f"password for {username}", password)
    return _changed(request, _account_path(username), "added", shown)


def _account_path(username: str) -> str:
    return f"{USERS}/{quote(username, safe='')}"


def _account_page(request: Request, user: User, username: str) -> Response:
    """The account's page; the not-found page when there is no such account."""
    try:
        with store_of(request).read_session() as session:
            account = get_user(session, username)
    except InputError as exc:
        return _not_found(request, user, exc, "/users")
    title = f"User {account.username}"
    return _thing_page(
        request, user, "user.html", title, "users", account, ACCOUNT_DONE, account=account
    )


@router.get("/users/{username}")
def account_page(request: Request, username: str, user: MayManageUsers) -> Response:
    return _account_page(request, user, username)


def _refused_on(request: Request, page: str, form: str, exc: InputError, reason: str) -> Response:
    """303 back to the account's or client's `page`, which says why beside the reason of
    `form` (the reason typed kept); nothing changed. No such account or client: that page
    says so."""
    return refused_redirect(request, page, {form: message(exc)}, {form: reason})


@router.post("/users/{username}/password")
def reset_password(
    request: Request, username: str, user: MayManageUsers, form: CheckedForm
) -> Response:
    """A new password, made here and shown once; the account gets a new signing key pair."""
    reason = form.get("reason", "")
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        _as_admin(
            request,
            user,
            lambda session, admin: set_password(session, admin, username, password, reason),
        )
    except InputError as exc:
        return _refused_on(request, _account_path(username), "reset", exc, reason)
    shown = OneTimeSecret(f"new password for {username}", password)
    return _changed(request, _account_path(username), "reset", shown)


@router.post("/users/{username}/active")
def change_active(
    request: Request, username: str, user: MayManageUsers, form: CheckedForm
) -> Response:
    reason = form.get("reason", "")
    active = form.get("active") == "yes"
    try:
        _as_admin(
            request,
            user,
            lambda session, admin: set_active(session, admin, username, active, reason),
        )
    except InputError as exc:
        return _refused_on(request, _account_path(username), "active", exc, reason)
    done = "reactivated" if active else "deactivated"
    return _changed(request, _account_path(username), done)


# prescribing systems


@router.get(CLIENTS)
def clients_page(request: Request, user: MayManageUsers) -> Response:
    with store_of(request).read_session() as session:
        registered = list_clients(session)
    refused = take_refused(request)
    # every permission offered ticked; after a refusal, the boxes as they were sent
    chosen = (
        tuple(scope for scope in SCOPES if refused.values.get(scope_field(scope)) == "yes")
        if refused.errors
        else SCOPES
    )
    return _list_page(
        request,
        user,
        "clients.html",
        "Prescribing systems",
        "clients",
        refused,
        clients=registered,
        fields=NEW_CLIENT_FIELDS,
        scope_labels=SCOPE_LABELS,
        chosen_scopes=chosen,
    )


@router.post("/clients")
def add_client(request: Request, user: MayManageUsers, form: CheckedForm) -> Response:
    values = {f.name: form.get(f.name, "").strip() for f in NEW_CLIENT_FIELDS}
    scopes = tuple(scope for scope in SCOPES if form.get(scope_field(scope)) == "yes")

    def register(session: Session, admin: User) -> tuple[str, str]:
        client, secret = register_client(
            session, admin, client_id=values["client_id"], name=values["name"], scopes=scopes
        )
        return client.client_id, secret

    try:
        client_id, secret = _as_admin(request, user, register)
    except InputError as exc:
        errors = {exc.field if exc.field in LABELS else "": message(exc)}
        ticked = {scope_field(scope): "yes" for scope in scopes}
        return refused_redirect(request, CLIENTS, errors, values | ticked)
    shown = OneTimeSecret(f"client secret of {client_id}", secret)
    return _changed(request, _client_path(client_id), "added", shown)


def _client_path(client_id: str) -> str:
    return f"{CLIENTS}/{quote(client_id, safe='')}"


def _client_page(request: Request, user: User, client_id: str) -> Response:
    """The client's page; the not-found page when there is no such client."""
    try:
        with store_of(request).read_session() as session:
            client = get_client(session, client_id)
    except InputError as exc:
        return _not_found(request, user, exc, "/clients")
    title = f"Prescribing system {client.client_id}"
    return _thing_page(
        request,
        user,
        "client.html",
        title,
        "clients",
        client,
        CLIENT_DONE,
        client=client,
        scope_labels=SCOPE_LABELS,
    )


@router.get("/clients/{client_id}")
def client_page(request: Request, client_id: str, user: MayManageUsers) -> Response:
    return _client_page(request, user, client_id)


@router.post("/clients/{client_id}/rotate")
def rotate_secret(
    request: Request, client_id: str, user: MayManageUsers, form: CheckedForm
) -> Response:
    reason = form.get("reason", "")
    try:
        secret = _as_admin(
            request,
            user,
            lambda session, admin: rotate_client_secret(session, admin, client_id, reason)[1],
        )
    except InputError as exc:
        return _refused_on(request, _client_path(client_id), "rotate", exc, reason)
    shown = OneTimeSecret(f"new client secret of {client_id}", secret)
    return _changed(request, _client_path(client_id), "rotated", shown)


@router.post("/clients/{client_id}/active")
def change_client_active(
    request: Request, client_id: str, user: MayManageUsers, form: CheckedForm
) -> Response:
    reason = form.get("reason", "")
    active = form.get("active") == "yes"
    try:
        _as_admin(
            request,
            user,
            lambda session, admin: set_client_active(session, admin, client_id, active, reason),
        )
    except InputError as exc:
        return _refused_on(request, _client_path(client_id), "active", exc, reason)
    return _changed(request, _client_path(client_id), "restored" if active else "revoked")
