"""The master-file pages: every document (product, lot, printer profile) with its version in
force, its history with each difference and the proposals awaiting a decision; proposing a change
(technicians and pharmacists: the document's key fields, or its whole JSON, and a reason);
approving (password re-entered as an e-signature) or rejecting it (a second pharmacist holding the
control-site role); and the signed export to download as JSON or PDF.

The rules are records.masterfile's; a refusal is shown beside its field and records nothing;
every form redirects (Post/Redirect/Get), a refused one too (web.refused_form).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed.auth import store_of
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action, may, may_act
from printmed.errors import InputError
from printmed.records import masterfile
from printmed.store.models import MasterVersion, User
from printmed.web.batch_pages import PASSWORD_REFUSALS, page_signer, signing_refused
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import forget_refused, refused_redirect, take_refused
from printmed.web.rendering import problem_page, render
from printmed.web.session import CSRF_FIELD, CheckedForm, MayRead, PageRoute, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayPropose = Annotated[User, page_may(Action.PROPOSE_MASTER_CHANGE)]
MayDecide = Annotated[User, page_may(Action.APPROVE_MASTER_CHANGE)]
FIELD_PREFIX = "field:"
KIND_LABELS = {"product": "Product", "lot": "Lot", "profile": "Printer profile"}


def key_fields(content: dict[str, Any]) -> list[tuple[str, Any]]:
    """The document's top-level numbers and words, which the page offers as fields of their own
    (the rest is edited in the JSON)."""
    return [
        (name, value)
        for name, value in sorted(content.items())
        if isinstance(value, (int, float, str)) and not isinstance(value, bool)
    ]


def _not_found(request: Request, user: User, exc: InputError) -> Response:
    return problem_page(
        request,
        user,
        "No such document",
        sentence(exc),
        status_code=404,
        back="/master-file",
        section="master-file",
    )


@router.get("/master-file")
def master_file_page(request: Request, user: MayRead) -> Response:
    with store_of(request).read_session() as session:
        documents = masterfile.documents(session)
        pending = masterfile.pending(session)
    return render(
        request,
        "masterfile.html",
        user,
        title="Master file",
        section="master-file",
        documents=documents,
        pending=pending,
        kind_labels=KIND_LABELS,
    )


def _document_page(
    request: Request,
    user: User,
    kind: str,
    key: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    try:
        with store_of(request).read_session() as session:
            versions = [masterfile.describe(row) for row in masterfile.history(session, kind, key)]
    except masterfile.UnknownDocument as exc:
        return _not_found(request, user, exc)
    in_force = next((v for v in reversed(versions) if v["status"] == masterfile.APPROVED), None)
    base = (in_force or versions[-1])["content"]
    return render(
        request,
        "master_document.html",
        user,
        title=f"{KIND_LABELS.get(kind, kind)} {key}",
        section="master-file",
        kind=kind,
        key=key,
        kind_label=KIND_LABELS.get(kind, kind),
        versions=list(reversed(versions)),
        in_force=in_force,
        fields=key_fields(base),
        content_text=json.dumps(base, indent=2, sort_keys=True),
        may_propose=may(user.role, Action.PROPOSE_MASTER_CHANGE),
        values=values or {},
        errors=errors or {},
    )


@router.get("/master-file/documents/{kind}/{key}")
def document_page(request: Request, kind: str, key: str, user: MayRead) -> Response:
    refused = take_refused(request)  # a proposal refused: what was typed, and why
    page = _document_page(
        request, user, kind, key, values=refused.values or None, errors=refused.errors
    )
    return forget_refused(request, page)


def proposed_content(
    form: dict[str, str], base: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The content a proposal form asks for: its JSON, with each key field typed differently
    from the version it started from put in; or the refusals by field."""
    try:
        content = json.loads(form.get("content", ""))
    except json.JSONDecodeError as exc:
        return None, {"content": f"The JSON is not valid ({exc.msg}, line {exc.lineno})."}
    if not isinstance(content, dict):
        return None, {"content": "The JSON must be one document (an object in {…})."}
    errors = {}
    for name, before in key_fields(base):
        typed = form.get(FIELD_PREFIX + name)
        if typed is None or typed.strip() == str(before):
            continue
        if isinstance(before, str):
            content[name] = typed.strip()
            continue
        try:
            number = float(typed.strip().replace(",", "."))
        except ValueError:
            errors[FIELD_PREFIX + name] = f"{typed!r} is not a number."
            continue
        content[name] = int(number) if isinstance(before, int) and number.is_integer() else number
    return (None if errors else content), errors


def _field_of(exc: Exception, kind: str, names: set[str]) -> str:
    """The form field a refusal belongs beside: a key field it names, else the JSON."""
    named = str(getattr(exc, "field", ""))
    for candidate in (named, named.removeprefix(f"{kind}."), named.rsplit(".", 1)[-1]):
        if candidate in names:
            return FIELD_PREFIX + candidate
    return "reason" if named == "reason" else "content"


@router.post("/master-file/documents/{kind}/{key}")
def propose_change(
    request: Request, kind: str, key: str, user: MayPropose, form: CheckedForm
) -> Response:
    """A technician or pharmacist proposes a change; refused beside its field, nothing recorded."""
    page = f"/master-file/documents/{quote(kind, safe='')}/{quote(key, safe='')}"
    try:
        with store_of(request).read_session() as session:
            rows = masterfile.history(session, kind, key)
            in_force = [r for r in rows if r.status == masterfile.APPROVED]
            base = masterfile.describe((in_force or rows)[-1])["content"]
    except masterfile.UnknownDocument:
        return RedirectResponse(page, status_code=303)  # whose page says there is no such one
    values = {name: value for name, value in form.items() if name != CSRF_FIELD}
    content, errors = proposed_content(form, base)
    reason = form.get("reason", "").strip()
    if not reason:
        errors["reason"] = "Give the reason for the change; nothing was proposed."
    if content is not None and not errors:
        try:
            with store_of(request).session() as session:
                actor = session.get(User, user.id)
                assert actor is not None
                row = masterfile.propose(session, actor, kind, key, content, reason)
                version_id = row.id
        except refusals() as exc:
            names = {name for name, _ in key_fields(base)}
            errors[_field_of(exc, kind, names)] = sentence(exc) + "; nothing was proposed."
        else:
            return RedirectResponse(f"/master-file/versions/{version_id}?done=proposed", 303)
    return refused_redirect(request, page, errors, values)


def _version_page(
    request: Request,
    user: User,
    version_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    try:
        with store_of(request).read_session() as session:
            row: MasterVersion = masterfile.get_version(session, version_id)
            version = masterfile.describe(row)
    except masterfile.UnknownDocument as exc:
        return _not_found(request, user, exc)
    done = request.query_params.get("done", "")
    notices = {
        "proposed": "The change is proposed; a second pharmacist holding the control-site role "
        "approves or rejects it.",
        "approved": "The version is approved and in force; the version before is superseded.",
        "rejected": "The proposal is rejected.",
    }
    return render(
        request,
        "master_version.html",
        user,
        title=f"{version['kind']} {version['key']} version {version['version']}",
        section="master-file",
        notices=[("ok", notices[done])] if done in notices else [],
        v=version,
        content_text=json.dumps(version["content"], indent=2, sort_keys=True),
        may_decide=may_act(user, Action.APPROVE_MASTER_CHANGE)
        and version["status"] == masterfile.PROPOSED,
        errors=errors or {},
        values=values or {},
    )


@router.get("/master-file/versions/{version_id}")
def version_page(request: Request, version_id: int, user: MayRead) -> Response:
    refused = take_refused(request)
    page = _version_page(request, user, version_id, errors=refused.errors, values=refused.values)
    return forget_refused(request, page)


@router.post("/master-file/versions/{version_id}/approve")
def approve_version(
    request: Request, version_id: int, user: MayDecide, form: CheckedForm, clock: SignInClock
) -> Response:
    """Approve with the password re-entered (an e-signature) and a reason."""
    reason = form.get("reason", "").strip()
    page, typed = f"/master-file/versions/{version_id}", {"approve-reason": reason}
    if not reason:  # before the password is counted
        return refused_redirect(
            request,
            page,
            {"approve-reason": "Give the reason for approving; nothing was approved."},
            typed,
        )
    try:
        signer = page_signer(
            request, user, form.get("password", ""), masterfile.APPROVAL_MEANING, clock
        )
        with store_of(request).session() as session:
            masterfile.approve(session, version_id, signer, reason)
    except PASSWORD_REFUSALS as exc:
        return signing_refused(request, page, exc, values=typed)
    except refusals() as exc:
        message = sentence(exc) + "; nothing was approved."
        return refused_redirect(request, page, {"approve-reason": message}, typed)
    return RedirectResponse(f"{page}?done=approved", 303)


@router.post("/master-file/versions/{version_id}/reject")
def reject_version(
    request: Request, version_id: int, user: MayDecide, form: CheckedForm
) -> Response:
    reason = form.get("reason", "").strip()
    try:
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            masterfile.reject(session, version_id, actor, reason)
    except refusals() as exc:
        return refused_redirect(
            request,
            f"/master-file/versions/{version_id}",
            {"reject-reason": sentence(exc) + "; nothing was rejected."},
            {"reject-reason": reason},
        )
    return RedirectResponse(f"/master-file/versions/{version_id}?done=rejected", 303)


@router.get("/master-file/export.json")
def export_json(request: Request, user: MayRead) -> Response:
    with store_of(request).read_session() as session:
        signed = masterfile.export(session)
    return Response(
        signed.text,
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="master-file.json"'},
    )


@router.get("/master-file/export.pdf")
def export_pdf(request: Request, user: MayRead) -> Response:
    with store_of(request).read_session() as session:
        signed = masterfile.export(session)
    return Response(
        signed.pdf(),
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="master-file.pdf"'},
    )
