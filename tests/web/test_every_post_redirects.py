"""Post/Redirect/Get on every form of the pages (issue 15), through the app in this process (its
test client, no browser), on PostgreSQL (where sites can be added): every POST route of the
pages, enumerated from the app's routes, answers 303 whether it takes the form or refuses it; a
refused one goes back to the page the form is on, which says why beside the field and shows what
was typed (never a password), once: a reload shows the page afresh and sends nothing again.

A new POST route fails `test_every_post_route_of_the_pages_is_walked` until it is given a case
here (or a reason why it answers the page's script rather than the browser). What the route
class answers for every route alike (no session: 303 to /login; a form without its CSRF token
or a role that may not act: 403; another site's batch: 404) is tested in test_refusals.py.
"""

from __future__ import annotations

import base64
import json
import secrets
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import lxml.html
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from printmed.auth.clients import register_client
from printmed.auth.users import create_user
from printmed.jobs import register, service
from printmed.jobs.printers import simulated_printer
from printmed.records import masterfile, sites
from printmed.records.weighing import record_weights, step_targets, unit_count
from printmed.store import Store
from printmed.store.models import LotCalibration, User
from printmed.web.refused_form import COOKIE, KEPT
from tests.records.builders import (
    PASSWORD,
    PROFILE_ID,
    add_users,
    job,
    printed_job,
    queued_job,
    screened_job,
    verified_job,
)
from tests.store.conftest import fresh_postgres_database, postgres_url
from tests.web.in_process import (
    PRESCRIPTION_FORM,
    app_in_process,
    days_ago,
    form_token,
    sign_in,
)

__all__ = ["postgres_url"]  # the session's PostgreSQL server, a fixture
SSE_PROFILE = "sse-syringe-08"
DRIVEN = "sse-driven"  # a registered printer this process drives (nothing is queued for it)
CLEARED = ("fdm-bench", "fdm-bench-2")  # registered, calibrated, driven elsewhere
LOT = "LOT-TEST-001"  # the test batches' lot (tests.records.builders)
MASTER_LOT = "isoleucine-paste-20"  # a master-file document no test batch uses
WRONG_PASSWORD = "not the password at all"
CALIBRATED = {"e_steps": 100.2, "bed_level": 0.04, "nozzle_temperature": -1.5}
# routes that answer the page's own script (a fragment or JSON) and change nothing: a redirect
# would give the script a page where it asked for a value
ANSWER_THE_SCRIPT = {
    "/prescriptions/check": "the live check: messages by field and the tablet, as JSON",
    "/batches/{batch_number}/weigh/check": "the live QC panel, an HTML fragment",
    "/batches/{batch_number}/weigh/balance": "one reading from the bench balance, as JSON",
}


@dataclass
class Bench:
    """The app on PostgreSQL: a signed-in test client per person, the store, the people, and
    what the fixture made for the cases (printed and weighed batches, accounts, clients)."""

    app: Any
    store: Store
    people: dict[str, User]
    clients: dict[str, TestClient] = field(default_factory=dict)
    made: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> TestClient:
        """`who`'s signed-in client; a fresh one with no cookie for "" (nobody signed in)."""
        if not who:
            return TestClient(self.app)
        if who not in self.clients:
            self.clients[who] = TestClient(self.app)
            sign_in(self.clients[who], who)
        return self.clients[who]

    def user(self, name: str) -> User:
        return self.people[name]


@pytest.fixture(scope="module")
def bench(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """Every person (tech, tech2, pharm holding the control-site role, pharm2, boss), a printed
    and a weighed batch (made before any printer is registered, so the profile's own name
    claims them), two registered FDM printers driven elsewhere, one SSE printer driven by this
    process (connected here; no worker: nothing is queued for it), a second site, accounts and
    a prescribing system for the admin's forms, two locked accounts."""
    database = fresh_postgres_database(postgres_url)
    folder = tmp_path_factory.mktemp("every-post")
    with app_in_process(folder, pharmacy=None, database_url=database) as (client, store):
        people = add_users(store)
        bench = Bench(client.app, store, people)
        bench.made["printed"] = printed_job(store, people["tech"], printer=PROFILE_ID)
        for weighed in ("weighed", "releasable"):
            batch = printed_job(store, people["tech"], printer=PROFILE_ID)
            with store.session() as session:
                printed = service.get_batch(session, batch)
                on_target = [step_targets(printed)[0].target_unit_mass_mg] * unit_count(printed)
                record_weights(session, printed, people["tech2"], on_target)
            bench.made[weighed] = batch
        with store.session() as session:
            boss, pharm = people["boss"], people["pharm"]
            sites.set_control_role(session, boss, "pharm", True, "control-site pharmacist")
            sites.create_site(session, boss, code="ward-b", name="Ward B clinic")
            for name, profile in (*((n, PROFILE_ID) for n in CLEARED), (DRIVEN, SSE_PROFILE)):
                register.add_printer(
                    session,
                    pharm,
                    name=name,
                    profile_id=profile,
                    serial_number=f"SN-{name.upper()}",
                    location="clean room 2",
                    connection=register.Connection("sim"),
                )
                register.record_calibration(session, pharm, name, CALIBRATED)
            for name in ("fdm-spare", "fdm-mover"):
                register.add_printer(
                    session,
                    pharm,
                    name=name,
                    profile_id=PROFILE_ID,
                    serial_number=f"SN-{name.upper()}",
                    location="store room",
                    connection=register.Connection("sim"),
                )
            for name in (
                "walk-reset",
                "walk-leaver",
                "walk-mover",
                "walk-logout",
                "walk-locked",
                "walk-locked2",
            ):
                create_user(
                    session,
                    None,
                    username=name,
                    full_name=name,
                    role="technician",
                    password=PASSWORD,
                )
            session.execute(
                update(User)
                .where(User.username.in_(("walk-locked", "walk-locked2")))
                .values(locked_at="2026-11-29T10:00:00+00:00", locked_reason="4 failed sign-ins")
            )
            for client_id in ("walk-rotate", "walk-revoke"):
                register_client(
                    session,
                    boss,
                    client_id=client_id,
                    name=client_id,
                    scopes=("prescriptions.read",),
                )
        printer = simulated_printer(SSE_PROFILE)
        printer.connect()
        client.app.state.printers[DRIVEN] = printer
        try:
            yield bench
        finally:
            printer.disconnect()


def page_routes(app: Any) -> set[str]:
    """The path of every POST route of the pages (printmed.web), as the app routes it."""

    def routes(routed: list[Any]) -> Iterator[APIRoute]:
        for route in routed:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # an included router, as FastAPI keeps it
                yield from routes(route.original_router.routes)

    return {
        route.path
        for route in routes(app.routes)
        if "POST" in route.methods and route.endpoint.__module__.startswith("printmed.web.")
    }


# --- what a case sends and what the page then shows ------------------------------------------


@dataclass(frozen=True)
class Told:
    """A refusal as its page says it: the element at `said` (XPath) holds `text`, beside the
    input at `field` (XPath; "" for a form without one), which it describes."""

    said: str
    text: str
    field: str = ""


@dataclass(frozen=True)
class Sent:
    """A form `who` sends from `page` (its CSRF token) to `path`; for a refused one, where it
    comes back (`back`, default `page`), what that page then tells and what it keeps typed (by
    input id: its value; "" for an empty one), and a secret it must hold nowhere."""

    who: str
    page: str
    path: str
    form: dict[str, str]
    told: tuple[Told, ...] = ()
    kept: dict[str, str] = field(default_factory=dict)
    back: str = ""
    secret: str = ""


def send(bench: Bench, sent: Sent) -> tuple[TestClient, httpx.Response]:
    client = bench.client(sent.who)
    page = client.get(sent.page)
    assert page.status_code == 200, (sent.page, page.text[:500])
    answer = client.post(
        sent.path, data={**sent.form, "csrf_token": form_token(page)}, follow_redirects=False
    )
    return client, answer


def by_id(element_id: str) -> str:
    return f'//*[@id="{element_id}"]'


def beside(field_id: str, text: str) -> tuple[Told, ...]:
    """The refusal a page says beside one input: in the element `<field_id>-error`."""
    return (Told(by_id(f"{field_id}-error"), text, by_id(field_id)),)


def text_of(tree: Any, xpath: str) -> str:
    (element,) = tree.xpath(xpath)
    return " ".join(element.text_content().split())


def value_of(tree: Any, element_id: str) -> str:
    (element,) = tree.xpath(by_id(element_id))
    if element.tag == "select":
        chosen = element.xpath("./option[@selected]")
        return str(chosen[0].get("value")) if chosen else ""
    if element.tag == "textarea":
        return str(element.text or "")
    return str(element.get("value", ""))


def cookie_body(answer: httpx.Response) -> str:
    """What the refusal's cookie carries, opened (a kept refusal: only the id it names)."""
    cookie = SimpleCookie(answer.headers["set-cookie"])[COOKIE].value
    body = cookie.rpartition(".")[0]
    if body.startswith(KEPT):
        return body
    return zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))).decode()


# --- the cases: an accepted and a refused form of every POST route ---------------------------

Case = Callable[[Bench], Sent]


def _login(bench: Bench) -> Sent:
    return Sent("", "/login", "/login", {"username": "tech2", "password": PASSWORD})


def _login_refused(bench: Bench) -> Sent:
    return Sent(
        "",
        "/login",
        "/login",
        {"username": "tech2", "password": WRONG_PASSWORD},
        told=(
            Told(by_id("login-error"), "The username or password is not right.", by_id("username")),
        ),
        kept={"username": "tech2", "password": ""},
        secret=WRONG_PASSWORD,
    )


def _logout(bench: Bench) -> Sent:
    return Sent("walk-logout", "/printers", "/logout", {})  # a session no other case uses


def _prescription(bench: Bench) -> Sent:
    form = PRESCRIPTION_FORM | {"id": "RX-WALK-ACCEPTED"}
    return Sent("tech", "/prescriptions/new", "/prescriptions", form)


def _prescription_refused(bench: Bench) -> Sent:
    form = PRESCRIPTION_FORM | {
        "id": "RX-WALK-REFUSED",
        "printer_name": DRIVEN,
        "patient.weighed_on": days_ago(120),
    }
    return Sent(
        "tech",
        "/prescriptions/new",
        "/prescriptions",
        form,
        told=(
            Told(
                by_id("f-printer-name-error"),
                f"Which machine: {DRIVEN} is a printer of profile {SSE_PROFILE}, not "
                f"{PROFILE_ID} (chosen under Printer)",
                by_id("f-printer-name"),
            ),
            Told(
                by_id("f-patient-weighed-on-error"),
                f"Weighed on: {days_ago(120)} is 120 days old; for a patient aged 2.5 years it "
                "must be at most 90 days old",
                by_id("f-patient-weighed-on"),
            ),
        ),
        kept={
            "f-id": "RX-WALK-REFUSED",
            "f-patient-id": PRESCRIPTION_FORM["patient.id"],
            "f-patient-weight-kg": "12.4",
            "f-patient-weighed-on": days_ago(120),
            "f-formulation": "propranolol-pva-10",
            "f-printer-name": DRIVEN,
            "f-units": "1",
        },
        back="/prescriptions/new",
    )


def _queue(bench: Bench) -> Sent:
    batch = screened_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    return Sent("tech", f"/batches/{batch}/review", f"/batches/{batch}/queue", {})


def _queue_refused(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    return Sent(
        "tech",
        f"/batches/{batch}/review",
        f"/batches/{batch}/queue",
        {},
        told=(
            Told(
                by_id("queue-error"),
                f"State: 'verified' is not screened: no pharmacist has screened {batch} (a "
                "'screened' signature), so it is not queued",
            ),
        ),
    )


def _reject(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    form = {"reason": "prescription cancelled", "confirmed": "yes", "from": "review"}
    return Sent("tech", f"/batches/{batch}/review", f"/batches/{batch}/reject", form)


def _reject_refused(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    return Sent(
        "tech",
        f"/batches/{batch}/review",
        f"/batches/{batch}/reject",
        {"reason": "  ", "confirmed": "yes", "from": "review"},
        told=beside(
            "reject-reason", "Reason: '' is required to reject a batch; the batch was not rejected."
        ),
        kept={"reject-reason": ""},
    )


def _weights(weights: list[str]) -> dict[str, str]:
    return {f"w{n}": weight for n, weight in enumerate(weights, start=1)}


def _weigh(bench: Bench) -> Sent:
    batch = bench.made["printed"]
    form = _weights(["126.8"] * 10)
    return Sent("tech2", f"/batches/{batch}/weigh", f"/batches/{batch}/weigh", form)


def _weigh_refused(bench: Bench) -> Sent:
    batch = bench.made["printed"]
    return Sent(
        "tech2",
        f"/batches/{batch}/weigh",
        f"/batches/{batch}/weigh",
        _weights(["126.5", "5x", "127.0"]),
        told=(Told(by_id("weigh-error"), "Unit 2: '5x' is not a mass in mg"),),
        kept={"w1": "126.5", "w2": "5x", "w3": "127.0", "w4": ""},
    )


def _sign(bench: Bench) -> Sent:
    batch = bench.made["weighed"]
    form = {"meaning": "reviewed", "password": PASSWORD}
    return Sent("pharm2", f"/batches/{batch}/release", f"/batches/{batch}/sign", form)


def _sign_refused(bench: Bench) -> Sent:
    batch = bench.made["releasable"]  # its signing prompt offers release
    return Sent(
        "pharm2",
        f"/batches/{batch}/release",
        f"/batches/{batch}/sign",
        {"meaning": "released", "password": WRONG_PASSWORD},
        told=beside("sign-password", "The password is not right; nothing was signed."),
        kept={"meaning": "released", "sign-password": ""},
        secret=WRONG_PASSWORD,
    )


def _screen(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    form = {"note": "dose checked against the chart", "password": PASSWORD}
    return Sent("pharm", f"/batches/{batch}/screen", f"/batches/{batch}/screen", form)


def _screen_refused(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    return Sent(
        "pharm",
        f"/batches/{batch}/screen",
        f"/batches/{batch}/screen",
        {"note": " ", "password": PASSWORD},
        told=(
            Told(
                by_id("note-error"),
                "Write what you checked; nothing was signed.",
                by_id("screen-note"),
            ),
        ),
        kept={"screen-note": " ", "screen-password": ""},
        secret=PASSWORD,
    )


def _return(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    form = {"reason": "the weight is a month old"}
    return Sent("pharm", f"/batches/{batch}/screen", f"/batches/{batch}/return", form)


def _return_refused(bench: Bench) -> Sent:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    return Sent(
        "pharm",
        f"/batches/{batch}/screen",
        f"/batches/{batch}/return",
        {"reason": ""},
        told=(
            Told(
                by_id("reason-error"),
                "Say what must change; the batch was not returned.",
                by_id("return-reason"),
            ),
        ),
        kept={"return-reason": ""},
        back=f"/batches/{batch}/screen",
    )


def _clearance(batch: str, lot: str) -> dict[str, str]:
    return {"batch_number": batch, "lot_number": lot, "plate_clear": "yes"}


def _line_clearance(bench: Bench) -> Sent:
    batch = queued_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    form = _clearance(batch, LOT)
    return Sent("tech", "/printers", f"/printers/{CLEARED[0]}/line-clearance", form)


def _line_clearance_refused(bench: Bench) -> Sent:
    batch = queued_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    card = f'//section[@data-printer="{CLEARED[1]}"]'
    return Sent(
        "tech",
        "/printers",
        f"/printers/{CLEARED[1]}/line-clearance",
        _clearance(batch, "LOT-NOT-LOADED"),
        told=(
            Told(
                f"{card}//input[@name='lot_number']/following-sibling::p[@class='field-error']",
                "Lot number 'LOT-NOT-LOADED'",
                f"{card}//input[@name='lot_number']",
            ),
        ),
    )


def _register(bench: Bench) -> Sent:
    form = {
        "name": "fdm-walk-new",
        "profile_id": PROFILE_ID,
        "serial_number": "SN-WALK-NEW",
        "location": "Room 2, bench 3",
        "connection": "sim",
    }
    return Sent("pharm", "/printers/register", "/printers/register", form)


def _register_refused(bench: Bench) -> Sent:
    form = {
        "name": "bad name!",
        "profile_id": PROFILE_ID,
        "serial_number": "SN-WALK-BAD",
        "location": "Room 2, bench 4",
        "connection": "octoprint",
        "octoprint_url": "http://127.0.0.1:5000",
        "octoprint_api_key": "KEY-TYPED-NEVER-SHOWN",
    }
    return Sent(
        "pharm",
        "/printers/register",
        "/printers/register",
        form,
        told=beside("p-name", "Name 'bad name!'"),
        kept={
            "p-name": "bad name!",
            "p-serial": "SN-WALK-BAD",
            "p-location": "Room 2, bench 4",
            "p-connection": "octoprint",
            "p-url": "http://127.0.0.1:5000",
            "p-key": "",
        },
        secret="KEY-TYPED-NEVER-SHOWN",
    )


def _status(bench: Bench) -> Sent:
    form = {"status": "out_of_service", "reason": "nozzle replaced"}
    page = "/printers/register/fdm-spare"
    return Sent("pharm", page, f"{page}/status", form)


def _status_refused(bench: Bench) -> Sent:
    page = "/printers/register/fdm-spare"
    return Sent(
        "pharm",
        page,
        f"{page}/status",
        {"status": "out_of_service", "reason": ""},
        told=beside("s-reason", "Reason"),
        kept={"s-status": "out_of_service", "s-reason": ""},
    )


def _calibrate(bench: Bench) -> Sent:
    form = {"e_steps": "100.1", "bed_level": "0,05", "nozzle_temperature": "-1", "notes": "probe"}
    page = "/printers/register/fdm-spare"
    return Sent("pharm", page, f"{page}/calibrate", form)


def _calibrate_refused(bench: Bench) -> Sent:
    page = "/printers/register/fdm-spare"
    form = {"e_steps": "about 100", "bed_level": "0.04", "nozzle_temperature": "-1", "notes": "x"}
    return Sent(
        "pharm",
        page,
        f"{page}/calibrate",
        form,
        told=beside("c-e-steps", "E-steps (mm) 'about 100' is not a number."),
        kept={"c-e-steps": "about 100", "c-bed": "0.04", "c-notes": "x"},
    )


def _control(bench: Bench) -> Sent:
    return Sent("tech", "/printers", f"/printers/{DRIVEN}/pause", {})


def _control_refused(bench: Bench) -> Sent:
    card = f'//section[@data-printer="{CLEARED[0]}"]'
    return Sent(
        "tech",
        "/printers",
        f"/printers/{CLEARED[0]}/pause",
        {},
        told=(
            Told(
                f'{card}//p[@role="alert"]',
                f"The printer did not take the command: Printer: '{CLEARED[0]}' is driven by a "
                "worker in another process; stop it there",
            ),
        ),
    )


def _add_user(bench: Bench) -> Sent:
    form = {"username": "walk-new", "full_name": "Wanda Walker", "role": "technician"}
    return Sent("boss", "/users", "/users", form)


def _add_user_refused(bench: Bench) -> Sent:
    form = {"username": "walk new", "full_name": "Wanda Walker", "role": "technician"}
    return Sent(
        "boss",
        "/users",
        "/users",
        form,
        told=beside(
            "f-username", "Username 'walk new' is not 1-64 letters, digits, '.', '-' or '_'."
        ),
        kept={"f-username": "walk new", "f-full-name": "Wanda Walker", "f-role": "technician"},
    )


def _reason_refused(who: str, page: str, path: str, form_name: str, form: dict[str, str]) -> Sent:
    return Sent(
        who,
        page,
        path,
        form | {"reason": ""},
        told=(
            Told(by_id(f"{form_name}-error"), "Reason is required", by_id(f"{form_name}-reason")),
        ),
        kept={f"{form_name}-reason": ""},
    )


def _reset(bench: Bench) -> Sent:
    form = {"reason": "forgotten; identity checked in person"}
    return Sent("boss", "/users/walk-reset", "/users/walk-reset/password", form)


def _reset_refused(bench: Bench) -> Sent:
    return _reason_refused("boss", "/users/walk-reset", "/users/walk-reset/password", "reset", {})


def _deactivate(bench: Bench) -> Sent:
    form = {"active": "no", "reason": "left the pharmacy"}
    return Sent("boss", "/users/walk-leaver", "/users/walk-leaver/active", form)


def _deactivate_refused(bench: Bench) -> Sent:
    page, path = "/users/walk-reset", "/users/walk-reset/active"
    return _reason_refused("boss", page, path, "active", {"active": "no"})


def _add_client(bench: Bench) -> Sent:
    form = {"client_id": "walk-epma", "name": "Walk ePMA", "scope-prescriptions.read": "yes"}
    return Sent("boss", "/clients", "/clients", form)


def _add_client_refused(bench: Bench) -> Sent:
    form = {"client_id": "walk epma!", "name": "Walk ePMA", "scope-prescriptions.read": "yes"}
    return Sent(
        "boss",
        "/clients",
        "/clients",
        form,
        told=beside("f-client-id", "Client id 'walk epma!' is not 1-48 letters, digits or '-'."),
        kept={"f-client-id": "walk epma!", "f-client-name": "Walk ePMA"},
    )


def _rotate(bench: Bench) -> Sent:
    form = {"reason": "yearly rotation"}
    return Sent("boss", "/clients/walk-rotate", "/clients/walk-rotate/rotate", form)


def _rotate_refused(bench: Bench) -> Sent:
    page = "/clients/walk-rotate"
    return _reason_refused("boss", page, f"{page}/rotate", "rotate", {})


def _revoke(bench: Bench) -> Sent:
    form = {"active": "no", "reason": "replaced"}
    return Sent("boss", "/clients/walk-revoke", "/clients/walk-revoke/active", form)


def _revoke_refused(bench: Bench) -> Sent:
    page = "/clients/walk-rotate"
    return _reason_refused("boss", page, f"{page}/active", "active", {"active": "no"})


def _unlock(bench: Bench) -> Sent:
    form = {"username": "walk-locked", "reason": "confirmed by phone"}
    return Sent("boss", "/sign-ins", "/sign-ins/unlock", form)


def _unlock_refused(bench: Bench) -> Sent:
    unlock = '//form[@aria-label="Unlock walk-locked2"]'
    return Sent(
        "boss",
        "/sign-ins",
        "/sign-ins/unlock",
        {"username": "walk-locked2", "reason": ""},
        told=(
            Told(
                f'{unlock}//p[@class="field-error"]',
                "The reason is required for a change.",
                f'{unlock}//input[@name="reason"]',
            ),
        ),
    )


def _pharmacy(bench: Bench) -> Sent:
    form = {"name": "St Walk's Pharmacy", "address": "1 High Street"}
    return Sent("boss", "/pharmacy", "/pharmacy", form)


def _pharmacy_refused(bench: Bench) -> Sent:
    return Sent(
        "boss",
        "/pharmacy",
        "/pharmacy",
        {"name": "", "address": "2 Low Street"},
        told=beside("f-pharmacy-name", "Pharmacy name is empty."),
        kept={"f-pharmacy-name": "", "f-pharmacy-address": "2 Low Street"},
    )


def _site(bench: Bench) -> Sent:
    return Sent("boss", "/sites", "/sites", {"code": "ward-walk", "name": "Ward Walk"})


def _site_refused(bench: Bench) -> Sent:
    return Sent(
        "boss",
        "/sites",
        "/sites",
        {"code": "Ward Walk", "name": "Ward Walk clinic"},
        told=beside("site-code", "nothing was changed."),
        kept={"site-code": "Ward Walk", "site-name": "Ward Walk clinic"},
    )


def _move_user(bench: Bench) -> Sent:
    form = {"username": "walk-mover", "site": "ward-b", "reason": "works on ward B"}
    return Sent("boss", "/sites", "/sites/users", form)


def _move_user_refused(bench: Bench) -> Sent:
    form = {"username": "walk-mover", "site": "", "reason": "works on ward C"}
    return Sent(
        "boss",
        "/sites",
        "/sites/users",
        form,
        told=beside("user-site", "nothing was changed."),
        kept={"user-username": "walk-mover", "user-site": "", "user-reason": "works on ward C"},
    )


def _move_printer(bench: Bench) -> Sent:
    form = {"name": "fdm-mover", "site": "ward-b", "reason": "moved to ward B"}
    return Sent("boss", "/sites", "/sites/printers", form)


def _move_printer_refused(bench: Bench) -> Sent:
    form = {"name": "fdm-mover", "site": "", "reason": "moved to ward C"}
    return Sent(
        "boss",
        "/sites",
        "/sites/printers",
        form,
        told=beside("printer-site", "nothing was changed."),
        kept={"printer-name": "fdm-mover", "printer-reason": "moved to ward C"},
    )


def _control_role(bench: Bench) -> Sent:
    form = {"username": "pharm2", "held": "grant", "reason": "control-site pharmacist"}
    return Sent("boss", "/sites", "/sites/control", form)


def _control_role_refused(bench: Bench) -> Sent:
    form = {"username": "tech", "held": "", "reason": "covering"}
    return Sent(
        "boss",
        "/sites",
        "/sites/control",
        form,
        told=beside("control-held", "Held: '' is not grant or revoke; nothing was changed."),
        kept={"control-username": "tech", "control-reason": "covering"},
    )


def _stock(bench: Bench) -> Sent:
    form = {"grams": "500", "reason": "delivery note 4711"}
    return Sent("tech", f"/lots/{LOT}", f"/lots/{LOT}/stock", form)


def _stock_refused(bench: Bench) -> Sent:
    return Sent(
        "tech",
        f"/lots/{LOT}",
        f"/lots/{LOT}/stock",
        {"grams": "lots", "reason": "delivery note 4712"},
        told=beside("grams", "'lots' is not a quantity in g; nothing was booked."),
        kept={"grams": "lots", "reason": "delivery note 4712"},
    )


def _proposed_factor(bench: Bench) -> int:
    """A factor for the lot proposed by pharm2 (as jobs.calibration.propose records a fit's)."""
    with bench.store.session() as session:
        row = LotCalibration(
            lot=LOT,
            printer=CLEARED[0],
            profile_id=PROFILE_ID,
            factor_before=1.0,
            factor=1.0312,
            fit_json="{}",
            status="proposed",
            proposed_by="pharm2",
            proposed_at="2026-11-29T10:00:00+00:00",
            reason="",
        )
        session.add(row)
        session.flush()
        return row.id


def _approve_factor(bench: Bench) -> Sent:
    factor = _proposed_factor(bench)
    form = {"reason": "fit of 20 units", "password": PASSWORD}
    return Sent("pharm", f"/lots/{LOT}", f"/lots/{LOT}/calibrations/{factor}/approve", form)


def _approve_factor_refused(bench: Bench) -> Sent:
    factor = _proposed_factor(bench)
    key = f"calibration-{factor}"
    return Sent(
        "pharm",
        f"/lots/{LOT}",
        f"/lots/{LOT}/calibrations/{factor}/approve",
        {"reason": "", "password": PASSWORD},
        told=(
            Told(
                by_id(f"{key}-error"),
                "Give the reason for approving; nothing was approved.",
                by_id(f"{key}-reason"),
            ),
        ),
        kept={f"{key}-reason": "", f"{key}-password": ""},
        secret=PASSWORD,
    )


def _master_content(bench: Bench) -> dict[str, Any]:
    with bench.store.read_session() as session:
        rows = masterfile.history(session, "lot", MASTER_LOT)
        in_force = [r for r in rows if r.status == masterfile.APPROVED]
        return dict(masterfile.describe((in_force or rows)[-1])["content"])


def _proposal(bench: Bench, loading: float) -> int:
    content = _master_content(bench) | {"loading_percent_w_w": loading}
    with bench.store.session() as session:
        tech = session.get(User, bench.user("tech").id)
        assert tech is not None
        return masterfile.propose(session, tech, "lot", MASTER_LOT, content, "new paste").id


def _propose(bench: Bench) -> Sent:
    page = f"/master-file/documents/lot/{MASTER_LOT}"
    content = json.dumps(_master_content(bench))
    form = {"content": content, "field:loading_percent_w_w": "22", "reason": "new supplier"}
    return Sent("tech", page, page, form)


def _propose_refused(bench: Bench) -> Sent:
    page = f"/master-file/documents/lot/{MASTER_LOT}"
    content = json.dumps(_master_content(bench))
    return Sent(
        "tech",
        page,
        page,
        {"content": content, "field:loading_percent_w_w": "23", "reason": ""},
        told=beside("mf-reason", "Give the reason for the change; nothing was proposed."),
        kept={"mf-loading-percent-w-w": "23", "mf-reason": ""},
    )


def _approve_version(bench: Bench) -> Sent:
    page = f"/master-file/versions/{_proposal(bench, 24.0)}"
    form = {"reason": "supplier's certificate checked", "password": PASSWORD}
    return Sent("pharm", page, f"{page}/approve", form)


def _approve_version_refused(bench: Bench) -> Sent:
    page = f"/master-file/versions/{_proposal(bench, 25.0)}"
    return Sent(
        "pharm",
        page,
        f"{page}/approve",
        {"reason": "", "password": PASSWORD},
        told=beside("approve-reason", "Give the reason for approving; nothing was approved."),
        kept={"approve-reason": "", "approve-password": ""},
        secret=PASSWORD,
    )


def _reject_version(bench: Bench) -> Sent:
    page = f"/master-file/versions/{_proposal(bench, 26.0)}"
    return Sent("pharm", page, f"{page}/reject", {"reason": "no certificate"})


def _reject_version_refused(bench: Bench) -> Sent:
    page = f"/master-file/versions/{_proposal(bench, 27.0)}"
    return Sent(
        "pharm",
        page,
        f"{page}/reject",
        {"reason": ""},
        told=beside("reject-reason", "nothing was rejected."),
        kept={"reject-reason": ""},
    )


# route → (accepted, refused); refused None: the route refuses nothing of its own
CASES: dict[str, tuple[Case, Case | None]] = {
    "/login": (_login, _login_refused),
    "/logout": (_logout, None),  # nothing to refuse: ending a session
    "/prescriptions": (_prescription, _prescription_refused),
    "/batches/{batch_number}/queue": (_queue, _queue_refused),
    "/batches/{batch_number}/reject": (_reject, _reject_refused),
    "/batches/{batch_number}/weigh": (_weigh, _weigh_refused),
    "/batches/{batch_number}/sign": (_sign, _sign_refused),
    "/batches/{batch_number}/screen": (_screen, _screen_refused),
    "/batches/{batch_number}/return": (_return, _return_refused),
    "/printers/{name}/line-clearance": (_line_clearance, _line_clearance_refused),
    "/printers/register": (_register, _register_refused),
    "/printers/register/{name}/status": (_status, _status_refused),
    "/printers/register/{name}/calibrate": (_calibrate, _calibrate_refused),
    "/printers/{name}/{action}": (_control, _control_refused),
    "/users": (_add_user, _add_user_refused),
    "/users/{username}/password": (_reset, _reset_refused),
    "/users/{username}/active": (_deactivate, _deactivate_refused),
    "/clients": (_add_client, _add_client_refused),
    "/clients/{client_id}/rotate": (_rotate, _rotate_refused),
    "/clients/{client_id}/active": (_revoke, _revoke_refused),
    "/sign-ins/unlock": (_unlock, _unlock_refused),
    "/pharmacy": (_pharmacy, _pharmacy_refused),
    "/sites": (_site, _site_refused),
    "/sites/users": (_move_user, _move_user_refused),
    "/sites/printers": (_move_printer, _move_printer_refused),
    "/sites/control": (_control_role, _control_role_refused),
    "/lots/{lot}/stock": (_stock, _stock_refused),
    "/lots/{lot}/calibrations/{calibration_id}/approve": (_approve_factor, _approve_factor_refused),
    "/master-file/documents/{kind}/{key}": (_propose, _propose_refused),
    "/master-file/versions/{version_id}/approve": (_approve_version, _approve_version_refused),
    "/master-file/versions/{version_id}/reject": (_reject_version, _reject_version_refused),
}
REFUSING = [route for route, (_, refused) in CASES.items() if refused is not None]


def test_every_post_route_of_the_pages_is_walked(bench: Bench) -> None:
    routes = page_routes(bench.app)
    assert "/batches/{batch_number}/sign" in routes  # the walk sees the pages' own routes
    assert routes - set(ANSWER_THE_SCRIPT) == set(CASES)


@pytest.mark.parametrize("route", list(CASES))
def test_an_accepted_form_answers_303_to_a_page(bench: Bench, route: str) -> None:
    sent = CASES[route][0](bench)
    client, answer = send(bench, sent)
    assert answer.status_code == 303, (route, answer.status_code, answer.text[-1500:])
    assert COOKIE not in answer.headers.get("set-cookie", "")  # nothing refused to carry
    shown = client.get(answer.headers["location"])
    assert shown.status_code == 200, (route, answer.headers["location"], shown.text[:500])


@pytest.mark.parametrize("route", REFUSING)
def test_a_refused_form_answers_303_back_to_its_page_which_says_why_beside_the_field_once(
    bench: Bench, route: str
) -> None:
    refused = CASES[route][1]
    assert refused is not None
    sent = refused(bench)
    client, answer = send(bench, sent)
    assert answer.status_code == 303, (route, answer.status_code, answer.text[-1500:])
    location = answer.headers["location"]
    assert urlsplit(location).path == (sent.back or sent.page)
    if sent.secret:
        assert sent.secret not in location + cookie_body(answer)

    shown = client.get(location)
    assert shown.status_code == 200, shown.text[:500]
    tree = lxml.html.fromstring(shown.text)
    for told in sent.told:
        assert told.text in text_of(tree, told.said), (route, told.said)
        if told.field:
            (said,) = tree.xpath(told.said)
            (beside,) = tree.xpath(told.field)
            assert said.get("id") in beside.get("aria-describedby", "").split(), route
            assert beside.get("aria-invalid") == "true", route
    assert {name: value_of(tree, name) for name in sent.kept} == sent.kept
    if sent.secret:
        assert sent.secret not in shown.text

    again = lxml.html.fromstring(client.get(location).text)  # a reload: the page afresh
    for told in sent.told:
        said = again.xpath(told.said)
        assert not said or told.text not in text_of(again, told.said), (route, told.said)


def test_an_added_account_shows_its_password_once_after_the_redirect(bench: Bench) -> None:
    sent = Sent(
        "boss",
        "/users",
        "/users",
        {"username": "walk-once", "full_name": "W", "role": "technician"},
    )
    client, answer = send(bench, sent)
    assert (answer.status_code, answer.headers["location"]) == (303, "/users/walk-once?done=added")
    first = lxml.html.fromstring(client.get(answer.headers["location"]).text)
    password = text_of(first, by_id("shown-once-secret"))
    assert len(password) >= 20
    again = client.get(answer.headers["location"])
    assert password not in again.text


def test_a_reject_not_confirmed_in_the_dialog_is_asked_on_a_page_with_the_reason_kept(
    bench: Bench,
) -> None:
    batch = verified_job(bench.store, bench.user("tech"), printer=PROFILE_ID)
    sent = Sent(
        "tech",
        f"/batches/{batch}/screen",
        f"/batches/{batch}/reject",
        {"reason": "ward cancelled it", "from": "screen"},
    )
    client, answer = send(bench, sent)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/batches/{batch}/reject/confirm",
    )
    asked = client.get(answer.headers["location"])
    tree = lxml.html.fromstring(asked.text)
    assert value_of(tree, "confirm-reason") == "ward cancelled it"
    assert tree.xpath('//a[text()="Go back"]/@href') == [f"/batches/{batch}/screen"]
    assert job(bench.store, batch).state == "verified"  # asked, not done
    confirmed = client.post(
        f"/batches/{batch}/reject",
        data={
            "csrf_token": form_token(asked),
            "confirmed": "yes",
            "reason": value_of(tree, "confirm-reason"),
            "from": tree.xpath('//input[@name="from"]/@value')[0],
        },
        follow_redirects=False,
    )
    assert (confirmed.status_code, confirmed.headers["location"]) == (
        303,
        f"/batches/{batch}/release",
    )
    assert job(bench.store, batch).state == "rejected"


def test_a_cancel_not_confirmed_in_the_dialog_is_asked_on_a_page(bench: Bench) -> None:
    sent = Sent("tech", "/printers", f"/printers/{DRIVEN}/cancel", {})
    client, answer = send(bench, sent)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/printers/{DRIVEN}/cancel/confirm",
    )
    asked = lxml.html.fromstring(client.get(answer.headers["location"]).text)
    assert text_of(asked, "//h1/following-sibling::p[1]") == (
        f"Cancel the print on {DRIVEN}? The batch cannot be finished and will have to be rejected."
    )
    assert asked.xpath("//main//form/@action") == [f"/printers/{DRIVEN}/cancel"]


def test_a_long_prescription_form_keeps_every_value_typed_across_the_redirect(
    bench: Bench, tmp_path: Path
) -> None:
    """Longer than a cookie holds, even compressed: kept sealed in the data folder under a
    random id the cookie names, and deleted once the form has shown it."""
    long = {
        name: f"{name}-{secrets.token_urlsafe(600)}"
        for name in ("id", "patient.id", "patient.measured_with", "drug.name", "drug.code")
    }
    form = PRESCRIPTION_FORM | long | {"patient.weight_kg": "heavy"}
    sent = Sent("tech", "/prescriptions/new", "/prescriptions", form)
    client, answer = send(bench, sent)
    assert (answer.status_code, answer.headers["location"]) == (303, "/prescriptions/new")
    carried = cookie_body(answer)
    assert carried.startswith(KEPT)  # an id, not the form
    kept = bench.app.state.settings.data_dir / "refused-forms" / carried.removeprefix(KEPT)
    assert kept.is_file()
    assert long["patient.id"].encode() not in kept.read_bytes()  # sealed

    tree = lxml.html.fromstring(client.get("/prescriptions/new").text)
    dom = {name: "f-" + name.replace(".", "-").replace("_", "-") for name in form}
    assert {name: value_of(tree, dom[name]) for name in form} == form
    assert "not a number" in text_of(tree, by_id("f-patient-weight-kg-error"))
    assert not kept.exists()  # shown once
    again = lxml.html.fromstring(client.get("/prescriptions/new").text)
    assert value_of(again, "f-patient-id") == ""


def test_a_login_form_without_its_token_is_sent_back_to_a_fresh_form_that_says_it_expired(
    bench: Bench,
) -> None:
    browser = bench.client("")
    answer = browser.post(
        "/login",
        data={"username": "tech2", "password": PASSWORD, "csrf_token": "from another page"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?expired=1")
    assert "set-cookie" not in answer.headers  # no session, nothing carried
    form = lxml.html.fromstring(browser.get(answer.headers["location"]).text)
    assert text_of(form, by_id("login-error")) == "The login form expired; please try again."
