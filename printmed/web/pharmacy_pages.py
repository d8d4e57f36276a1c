"""The pharmacy's name and address on the pages: an admin sets them (asked at first sign-in when
neither the environment nor the store has them); everyone else sees who should. Saving answers
303, refused or not: back to the page, which says why beside the field (web.refused_form).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from printmed.auth import settings_of, store_of
from printmed.auth.rules import Action
from printmed.errors import InputError
from printmed.records.pharmacy import (
    ADDRESS_MAX_CHARS,
    NAME_MAX_CHARS,
    pharmacy_of,
    set_pharmacy,
)
from printmed.store.models import User
from printmed.web.admin_pages import FormField
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import render
from printmed.web.session import CheckedForm, PageRoute, page_may

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MayManagePharmacy = Annotated[User, page_may(Action.MANAGE_USERS)]
PAGE = "/pharmacy"
FIELDS = (
    FormField(
        "name",
        "Pharmacy name",
        "f-pharmacy-name",
        f"As on labels; at most {NAME_MAX_CHARS} characters.",
    ),
    FormField(
        "address",
        "Address",
        "f-pharmacy-address",
        f"One line; at most {ADDRESS_MAX_CHARS} characters.",
    ),
)
LABELS = {f.name: f.label for f in FIELDS}


def pharmacy_unset(request: Request) -> bool:
    """Neither the environment nor the store names the pharmacy (the admin is asked for it)."""
    return not pharmacy_of(settings_of(request), store_of(request)).is_set


def _page(request: Request, user: User, refused: RefusedForm) -> Response:
    """The page; `refused`: a change refused, beside its field, what was typed kept."""
    pharmacy = pharmacy_of(settings_of(request), store_of(request))
    notices = (
        [("ok", "The pharmacy's name and address are saved.")]
        if request.query_params.get("done")
        else []
    )
    return render(
        request,
        "pharmacy.html",
        user,
        title="Pharmacy",
        section="pharmacy",
        notices=notices,
        pharmacy=pharmacy,
        fields=FIELDS,
        values=refused.values
        if refused.errors
        else ({"name": pharmacy.name, "address": pharmacy.address} if pharmacy.is_set else {}),
        errors=refused.errors,
    )


@router.get(PAGE)
def pharmacy_page(request: Request, user: MayManagePharmacy) -> Response:
    return forget_refused(request, _page(request, user, take_refused(request)))


@router.post("/pharmacy")
def pharmacy_submit(request: Request, user: MayManagePharmacy, form: CheckedForm) -> Response:
    values = {f.name: form.get(f.name, "") for f in FIELDS}
    if pharmacy_of(settings_of(request), store_of(request)).source == "environment":
        errors = {"": "PRINTMED_PHARMACY_NAME names the pharmacy; change it there."}
        return refused_redirect(request, PAGE, errors, values)
    try:
        with store_of(request).session() as session:
            admin = session.get(User, user.id)
            assert admin is not None
            set_pharmacy(session, admin, values["name"], values["address"])
    except InputError as exc:
        label = LABELS.get(exc.field, exc.field)
        shown = f" {exc.value!r}" if exc.field in LABELS and str(exc.value).strip() else ""
        errors = {exc.field if exc.field in LABELS else "": f"{label}{shown} {exc.reason}."}
        return refused_redirect(request, PAGE, errors, values)
    return RedirectResponse(f"{PAGE}?done=set", status_code=303)
