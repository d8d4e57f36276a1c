"""The pages of one batch after entry: the list of batches, review and queue (or reject), weighing
with live QC, and the pharmacist's release with the whole record, signature and documents.

Each route names the action it takes (printmed.auth.rules, through `page_may`); every change goes
through the job service and records packages, which check states and four eyes; a refusal
changes nothing. Every form answers 303, refused or not: a refused one back to its own page,
which says why beside the field (web.refused_form), so a reload sends nothing again (the live
QC panel and the balance's reading, which change nothing, answer the page's script). Weights are
read and judged by the records package alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from printmed.auth import lockout, printers_of, settings_of, store_of
from printmed.auth.dependencies import SignInClock, client_address
from printmed.auth.rules import Action
from printmed.auth.users import AuthenticationFailed, NotPermitted
from printmed.errors import InputError
from printmed.jobs import printers, service
from printmed.jobs.states import BatchState
from printmed.records import sites
from printmed.records.balance import read_weights
from printmed.records.batch_record import load_record
from printmed.records.label import label_pdf
from printmed.records.pharmacy import pharmacy_of
from printmed.records.qc import MIN_UNITS, unit_weights
from printmed.records.record_pdf import (
    batch_record_pdf,
    prescribed_maxima,
    recorded_measurements,
)
from printmed.records.release import check_releasable, release
from printmed.records.signatures import Signer, admit_signer, sign
from printmed.records.weighing import (
    StepTarget,
    qc_of,
    record_weights,
    step_targets,
    unit_count,
)
from printmed.store.models import User
from printmed.web.batch_view import BatchView, load_batch, with_people_named
from printmed.web.refusals import refusals, sentence
from printmed.web.refused_form import RefusedForm, forget_refused, refused_redirect, take_refused
from printmed.web.rendering import duration, problem_page, render, templates
from printmed.web.session import (
    CheckedForm,
    MayDownloadLabel,
    MayQueue,
    MayRead,
    MayReject,
    MaySign,
    MayWeigh,
    PageRoute,
    refuse_unless,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
BALANCE_UNIT_TIMEOUT_S = 60.0
WEIGHT_FIELD = re.compile(r"w[1-9][0-9]{0,2}")  # unit n's weight: w1, w2, …
BATCHES_LISTED = 200
WEIGHABLE = frozenset({BatchState.PRINTED, BatchState.WEIGHED})
REJECTABLE = frozenset(
    {BatchState.PRINTED, BatchState.WEIGHED, BatchState.FAILED, BatchState.INTERRUPTED}
)


def _batch(request: Request, batch_number: str) -> BatchView:
    with store_of(request).session() as session:
        return load_batch(session, batch_number)


def _no_such_batch(request: Request, user: User, exc: Exception) -> Response:
    """The page a batch's page gives for a batch it cannot load (409; 403 when not permitted)."""
    status = 403 if isinstance(exc, NotPermitted) else 409
    return problem_page(
        request,
        user,
        "No such batch",
        sentence(exc),
        status_code=status,
        back="/batches",
        section="batches",
    )


@router.get("/batches")
def batches_page(request: Request, user: MayRead) -> Response:
    with store_of(request).session() as session:
        scope = sites.site_scope(user)  # their site's (every site's: control-site role)
        jobs = service.list_batches(session, site_id=scope)[-BATCHES_LISTED:]
        batches = [BatchView.of(job) for job in reversed(jobs)]
    return render(
        request, "batches.html", user, title="Batches", section="batches", batches=batches
    )


@router.get("/batches/{batch_number}/review")
def review_page(request: Request, batch_number: str, user: MayRead) -> Response:
    refused = take_refused(request)  # queueing or rejecting refused: said beside its form
    try:
        b = _batch(request, batch_number)
    except refusals() as exc:
        return _no_such_batch(request, user, exc)
    printer_state = (
        printers.status(store_of(request), printers_of(request), b.printer).state_label
        if b.printer in printers.printer_names(store_of(request))
        else "not configured"
    )
    href, label = b.next_step
    page = render(
        request,
        "review.html",
        user,
        title=f"Review {batch_number}",
        section="prescriptions",
        b=b,
        maxima=prescribed_maxima(b.rx),
        measurements=recorded_measurements(b.rx),
        printer_state=printer_state,
        next_href=href,
        next_label=label,
        errors=refused.errors,
        values=refused.values,
    )
    return forget_refused(request, page)


@router.post("/batches/{batch_number}/queue")
def queue_batch(request: Request, batch_number: str, user: MayQueue, form: CheckedForm) -> Response:
    try:
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            service.queue(session, service.get_batch(session, batch_number, for_update=True), actor)
    except refusals() as exc:
        page = f"/batches/{batch_number}/review"
        return refused_redirect(request, page, {"queue": sentence(exc)})
    return RedirectResponse(f"/printers?queued={batch_number}", status_code=303)


# the pages a batch may be rejected from (the form says which: `from`), by that name
REJECTED_FROM = ("review", "screen", "release")
REJECT_REASON = "reject-reason"  # the reason's name on those pages (each has forms of its own)
# what each says of a rejection refused for the batch's state: "reject", above the page


def _reject_back(batch_number: str, sent_from: str) -> str:
    """The page the reject form was on; the record page when the form does not say."""
    return f"/batches/{batch_number}/{sent_from if sent_from in REJECTED_FROM else 'release'}"


@router.get("/batches/{batch_number}/reject/confirm")
def reject_confirmation(request: Request, batch_number: str, user: MayReject) -> Response:
    """The confirmation asked before a batch is rejected, for a browser without the page's
    script (which asks in a dialog): the reason typed, and the page it came from, carried here
    by the POST that asked (web.refused_form); a reload asks again with the reason empty."""
    carried = take_refused(request)
    sent_from = carried.values.get("from", "")
    page = render(
        request,
        "confirm.html",
        user,
        title="Reject batch",
        section="batches",
        heading=f"Reject batch {batch_number}",
        message=f"Reject batch {batch_number}? It can never be printed or released.",
        action=f"/batches/{batch_number}/reject",
        carry={"from": sent_from},
        reason={"label": "Reason", "value": carried.values.get(REJECT_REASON, "")},
        back=_reject_back(batch_number, sent_from),
        confirm_label="Reject batch",
    )
    return forget_refused(request, page)


@router.post("/batches/{batch_number}/reject")
def reject_batch(
    request: Request, batch_number: str, user: MayReject, form: CheckedForm
) -> Response:
    reason = form.get("reason", "").strip()
    sent_from = form.get("from", "")
    typed = {REJECT_REASON: reason, "from": sent_from}
    if form.get("confirmed") != "yes":  # not confirmed in the page's dialog: asked on a page
        confirmation = f"/batches/{batch_number}/reject/confirm"
        return refused_redirect(request, confirmation, {}, typed)
    try:
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            service.reject(
                session, service.get_batch(session, batch_number, for_update=True), actor, reason
            )
    except refusals() as exc:
        # the reason, beside it; anything else (its state, meanwhile) above the page, whose
        # reject form the batch's state may no longer offer
        beside = isinstance(exc, InputError) and exc.field == "reason"
        told = {
            REJECT_REASON if beside else "reject": f"{sentence(exc)}; the batch was not rejected."
        }
        return refused_redirect(request, _reject_back(batch_number, sent_from), told, typed)
    return RedirectResponse(f"/batches/{batch_number}/release", status_code=303)


def _source(form: dict[str, str], weighed: int) -> str:
    """Where the weights came from: `manual`, `balance`, or which units the balance gave."""
    units = sorted({int(u) for u in form.get("balance_units", "").split(",") if u.isdigit()})
    if not units:
        return "manual"
    if len(units) >= weighed:
        return "balance"
    return f"balance: units {', '.join(map(str, units))}; manual"


@dataclass(frozen=True)
class Weighing:
    """The weighing form of one batch as the records package judges it: the weights read from
    what was typed (`unit_weights`) and their QC against the dose each unit holds (`qc_of`)."""

    batch: BatchView
    units: int
    typed: list[str]  # one entry per unit, as typed
    targets: list[StepTarget]  # per step (one for one dose); empty: the lot gives no fraction
    weights: list[float]
    qc: dict[str, Any] | None  # None until two units are weighed
    problem: str  # the first typed weight refused, or why there is no QC


def _weighing(request: Request, batch_number: str, form: Mapping[str, str] | None) -> Weighing:
    """The form as posted, or (no form) the weights on record, none before the first weighing."""
    with store_of(request).session() as session:
        job = service.get_batch(session, batch_number)
        b, units = BatchView.of(job), unit_count(job)
        if form is None:
            typed = [str(w) for w in b.recorded_weights_mg]
        else:
            typed = [form.get(f"w{n}", "") for n in range(1, units + 1)]
        targets: list[StepTarget] = []
        weights: list[float] = []
        qc: dict[str, Any] | None = None
        problem = ""
        try:
            targets = step_targets(job)
            weights = unit_weights(typed, in_plate_order=len(targets) > 1)
            qc = qc_of(job, weights) if len(weights) >= MIN_UNITS else None
        except refusals() as exc:
            problem = sentence(exc)
        return Weighing(b, units, typed, targets, weights, qc, problem)


def _weigh_page(request: Request, user: User, weighing: Weighing, refused: RefusedForm) -> Response:
    b = weighing.batch
    return render(
        request,
        "weigh.html",
        user,
        title=f"Weigh {b.batch_number}",
        section="batches",
        b=b,
        units=weighing.units,
        weights=weighing.typed,
        qc=weighing.qc,
        qc_error=weighing.problem,
        error=refused.errors.get("", ""),
        reason=refused.values.get("reason", ""),
        targets=weighing.targets,
        unit_step={
            unit: t for t in weighing.targets for unit in range(t.first_unit, t.last_unit + 1)
        }
        if len(weighing.targets) > 1
        else {},
        balance=settings_of(request).balance_port is not None,
    )


@router.get("/batches/{batch_number}/weigh")
def weigh_page(request: Request, batch_number: str, user: MayWeigh) -> Response:
    refused = take_refused(request)  # the weights typed, refused: shown again with why
    try:
        weighing = _weighing(request, batch_number, refused.values or None)
    except refusals() as exc:
        return _no_such_batch(request, user, exc)
    b = weighing.batch
    if b.state not in WEIGHABLE:
        href = b.next_step[0]
        return problem_page(
            request,
            user,
            f"Batch {batch_number} is {b.state}",
            "Units are weighed once the batch is printed (and may be weighed again, "
            "with a reason, until it is released).",
            status_code=409,
            back=href,
            section="batches",
            title="Not ready to weigh",
        )
    return forget_refused(request, _weigh_page(request, user, weighing, refused))


@router.post("/batches/{batch_number}/weigh/check")
def weigh_check(request: Request, batch_number: str, user: MayWeigh, form: CheckedForm) -> Response:
    """The live QC panel (an HTML fragment) for the weights typed so far."""
    try:
        weighing = _weighing(request, batch_number, form)
        qc, problem = weighing.qc, weighing.problem
    except refusals() as exc:
        qc, problem = None, sentence(exc)
    return templates.TemplateResponse(
        request,
        "_qc_panel.html",
        {"qc": qc, "qc_error": problem},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/batches/{batch_number}/weigh/balance")
def weigh_from_balance(
    request: Request, batch_number: str, user: MayWeigh, form: CheckedForm
) -> Response:
    """One stable reading (mg) from the bench balance, as JSON; nothing is recorded yet."""
    settings = settings_of(request)
    if settings.balance_port is None:
        return JSONResponse({"error": "No balance is configured."}, status_code=404)
    try:
        (weight_mg,) = read_weights(
            settings.balance_port,
            1,
            baud=settings.balance_baud,
            unit_timeout_s=BALANCE_UNIT_TIMEOUT_S,
        )
    except refusals() as exc:
        return JSONResponse({"error": sentence(exc)}, status_code=409)
    return JSONResponse({"weight_mg": weight_mg})


@router.post("/batches/{batch_number}/weigh")
def weigh_submit(
    request: Request, batch_number: str, user: MayWeigh, form: CheckedForm
) -> Response:
    page = f"/batches/{batch_number}/weigh"
    try:
        weighing = _weighing(request, batch_number, form)
    except refusals() as exc:  # no such batch: the weighing page says so
        return refused_redirect(request, page, {"": sentence(exc)})
    typed = {name: value for name, value in form.items() if WEIGHT_FIELD.fullmatch(name)}
    typed["reason"] = form.get("reason", "")
    if weighing.problem:
        return refused_redirect(request, page, {"": weighing.problem}, typed)
    try:
        with store_of(request).session() as session:
            actor = session.get(User, user.id)
            assert actor is not None
            job = service.get_batch(session, batch_number, for_update=True)
            record_weights(
                session,
                job,
                actor,
                weighing.weights,
                source=_source(form, len(weighing.weights)),
                reason=form.get("reason", ""),
            )
    except refusals() as exc:
        return refused_redirect(request, page, {"": sentence(exc)}, typed)
    return RedirectResponse(f"/batches/{batch_number}/release", status_code=303)


def _release_page(
    request: Request, user: User, batch_number: str, refused: RefusedForm | None = None
) -> Response:
    """The record and its signing prompt; `refused`: a signing refused, told beside the password
    field (errors["password"]) or above the record (errors[""]), the meaning chosen kept."""
    refused = refused or RefusedForm()
    with store_of(request).session() as session:
        b = load_batch(session, batch_number)
        record = with_people_named(session, load_record(session, batch_number))
        job = service.get_batch(session, batch_number)
        actor = session.get(User, user.id)
        assert actor is not None
        cannot_sign = ""
        try:
            check_releasable(session, job, actor)
        except refusals() as exc:
            cannot_sign = sentence(exc)
    return render(
        request,
        "release.html",
        user,
        title=f"Batch record {batch_number}",
        section="batches",
        b=b,
        maxima=prescribed_maxima(b.rx),
        measurements=recorded_measurements(b.rx),
        record=record,
        error=refused.errors.get("", ""),
        password_error=refused.errors.get("password", ""),
        meaning=refused.values.get("meaning", "released"),
        errors=refused.errors,  # the reject form's, by REJECT_REASON
        values=refused.values,
        firmware=b.firmware.get("name", ""),
        stream=b.stream_report,
        can_sign=not cannot_sign,
        cannot_sign=cannot_sign,
        reject_states=[s.value for s in REJECTABLE],
    )


@router.get("/batches/{batch_number}/release")
def release_page(request: Request, batch_number: str, user: MayRead) -> Response:
    try:
        page = _release_page(request, user, batch_number, take_refused(request))
    except refusals() as exc:
        return _no_such_batch(request, user, exc)
    return forget_refused(request, page)


# what the sign-in defence (or the password itself) refuses at a signing prompt
PASSWORD_REFUSALS = (lockout.SignInThrottled, lockout.AccountLocked, AuthenticationFailed)


@dataclass(frozen=True)
class PasswordRefused:
    """What a signing prompt says beside its password field, and the answer's headers."""

    message: str
    headers: dict[str, str]


def page_signer(
    request: Request, user: User, password: str, meaning: str, clock: lockout.Clock
) -> Signer:
    """`user` admitted to sign with `meaning` by the password typed at a page's signing prompt,
    through the sign-in defence (the attempt recorded from this address, channel "page");
    raises one of PASSWORD_REFUSALS."""
    return admit_signer(
        store_of(request),
        settings_of(request).sign_in,
        user.username,
        password,
        meaning,
        address=client_address(request),
        channel="page",
        clock=clock,
    )


def password_refused(exc: Exception) -> PasswordRefused:
    """The page's words for one of PASSWORD_REFUSALS (nothing was signed in any of them)."""
    if isinstance(exc, lockout.SignInThrottled):
        where = "from this computer" if exc.field == "address" else "for your account"
        return PasswordRefused(
            f"Too many wrong passwords {where}. Wait {duration(exc.retry_after_s)} before "
            "trying again; nothing was signed.",
            {"Retry-After": str(exc.retry_after_s)},
        )
    if isinstance(exc, lockout.AccountLocked):
        return PasswordRefused(
            "Your account is locked after repeated wrong passwords and cannot sign. Ask an "
            "administrator to unlock it.",
            {},
        )
    return PasswordRefused("The password is not right; nothing was signed.", {})


def signing_refused(
    request: Request,
    page: str,
    exc: Exception,
    field: str = "password",
    values: dict[str, str] | None = None,
) -> Response:
    """A signing prompt's answer to one of PASSWORD_REFUSALS: 303 back to `page`, the prompt's
    own page, which says it beside `field` with `values` typed again (never the password)."""
    told = password_refused(exc)
    return refused_redirect(request, page, {field: told.message}, values, told.headers)


@router.post("/batches/{batch_number}/sign")
def sign_batch(
    request: Request, batch_number: str, user: MaySign, form: CheckedForm, clock: SignInClock
) -> Response:
    """Sign the record as reviewed, or release it (pharmacists): the signer re-enters their
    password, checked through the sign-in defence (waits, locks, every attempt recorded)."""
    meaning = form.get("meaning", "released")
    if meaning == "released":
        refuse_unless(user, Action.RELEASE)
    page, typed = f"/batches/{batch_number}/release", {"meaning": meaning}
    try:
        signer = page_signer(request, user, form.get("password", ""), meaning, clock)
        with store_of(request).session() as session:
            if meaning == "released":
                release(session, batch_number, signer)
            else:
                job = service.get_batch(session, batch_number, for_update=True)
                sign(session, job, signer, meaning)
    except PASSWORD_REFUSALS as exc:
        return signing_refused(request, page, exc, values=typed)
    except refusals() as exc:
        return refused_redirect(request, page, {"": sentence(exc)}, typed)
    return RedirectResponse(page, status_code=303)


def _pdf(request: Request, batch_number: str, kind: str) -> Response:
    with store_of(request).session() as session:
        record = load_record(session, batch_number)
    make = batch_record_pdf if kind == "record" else label_pdf
    content = make(record, pharmacy_of(settings_of(request), store_of(request)))
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{batch_number}-{kind}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/batches/{batch_number}/record.pdf")
def record_pdf(request: Request, batch_number: str, user: MayRead) -> Response:
    return _pdf(request, batch_number, "record")


@router.get("/batches/{batch_number}/label.pdf")
def label_pdf_page(request: Request, batch_number: str, user: MayDownloadLabel) -> Response:
    return _pdf(request, batch_number, "label")
