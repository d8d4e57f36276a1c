"""Two sites on one PostgreSQL database: each site's staff see only their own batches (API and
pages; another site's batch is 404, as if it did not exist), a control-site user sees both, and a
printer of site B never takes a batch of site A. On SQLite a second site is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from printmed.app import create_app
from printmed.auth import COOKIE_NAME, clients, login
from printmed.errors import InputError
from printmed.jobs import register, service
from printmed.jobs.register import Connection, LineNotCleared
from printmed.records import sites
from printmed.store import Store, open_store
from printmed.store.models import AuditEntry, User
from tests.api.conftest import Callers, api_settings, client_token
from tests.api.payloads import as_recorded, native_order
from tests.records.builders import FIRMWARE, PASSWORD, PROFILE_ID, add_users, queued_job
from tests.store.conftest import fresh_postgres_database, postgres_url

__all__ = ["postgres_url"]  # the session's PostgreSQL server, a fixture


@dataclass
class TwoSites:
    """A store with sites main (the control site) and ward-b: tech and pharm (who holds the
    control-site role) at main, tech2 and pharm2 at ward-b, boss the admin; one batch made at
    each site; bearer tokens and page cookies by username."""

    url: str
    store: Store
    batch_a: str
    batch_b: str
    tokens: dict[str, str]
    cookies: dict[str, str]

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def _user(store: Store, name: str) -> User:
    with store.read_session() as session:
        user = session.scalar(select(User).where(User.username == name))
        assert user is not None
        return user


@pytest.fixture(scope="module")
def two_sites(postgres_url: str) -> Iterator[TwoSites]:
    url = fresh_postgres_database(postgres_url)
    store = open_store(url)
    people = add_users(store)
    with store.session() as session:
        boss = session.get(User, people["boss"].id)
        assert boss is not None
        sites.create_site(session, boss, code="ward-b", name="Ward B clinic")
        for name in ("tech2", "pharm2"):
            sites.assign_user(session, boss, name, "ward-b", "works on ward B")
        sites.set_control_role(session, boss, "pharm", True, "control-site pharmacist")
    batch_a = queued_job(store, _user(store, "tech"), printer=PROFILE_ID, units=2)
    batch_b = queued_job(store, _user(store, "tech2"), printer=PROFILE_ID, units=2)
    tokens, cookies = {}, {}
    with store.session() as session:
        for name in people:
            tokens[name] = login(session, name, PASSWORD, kind="bearer")[1]
            cookies[name] = login(session, name, PASSWORD, kind="cookie")[1]
    yield TwoSites(url, store, batch_a, batch_b, tokens, cookies)
    store.dispose()


@pytest.fixture(scope="module")
def pg_app(two_sites: TwoSites, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("two-sites")
    with TestClient(create_app(api_settings(folder, DATABASE_URL=two_sites.url))) as client:
        yield client


def _listed(client: TestClient, two: TwoSites, name: str) -> set[str]:
    answer = client.get("/api/v1/batches", headers=two.headers(name))
    assert answer.status_code == 200, answer.text
    return {b["batch_number"] for b in answer.json()}


def test_each_site_lists_only_its_own_batches_and_the_control_site_both(
    pg_app: TestClient, two_sites: TwoSites
) -> None:
    a, b = two_sites.batch_a, two_sites.batch_b
    assert _listed(pg_app, two_sites, "tech") == {a}
    assert _listed(pg_app, two_sites, "tech2") == {b}
    assert _listed(pg_app, two_sites, "pharm2") == {b}
    assert _listed(pg_app, two_sites, "pharm") == {a, b}  # the control-site role


@pytest.mark.parametrize("path", ["", "/record", "/progress", "/screening", "/integrity"])
def test_another_sites_batch_is_not_found_not_forbidden(
    pg_app: TestClient, two_sites: TwoSites, path: str
) -> None:
    other = pg_app.get(
        f"/api/v1/batches/{two_sites.batch_a}{path}", headers=two_sites.headers("tech2")
    )
    assert other.status_code == 404, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["field"] == "batch" and other.json()["value"] == two_sites.batch_a
    own = pg_app.get(
        f"/api/v1/batches/{two_sites.batch_b}{path}", headers=two_sites.headers("tech2")
    )
    assert own.status_code == 200, own.text


def test_another_sites_batch_cannot_be_rejected_and_nothing_is_recorded(
    pg_app: TestClient, two_sites: TwoSites
) -> None:
    with two_sites.store.read_session() as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry))
    answer = pg_app.post(
        f"/api/v1/batches/{two_sites.batch_a}/reject",
        json={"reason": "not mine"},
        headers=two_sites.headers("tech2"),
    )
    assert answer.status_code == 404
    with two_sites.store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before
        assert service.get_batch(session, two_sites.batch_a).state == "queued"


def test_an_order_a_prescribing_system_sends_is_made_at_its_site(
    pg_app: TestClient, two_sites: TwoSites
) -> None:
    with two_sites.store.session() as session:
        boss = session.scalar(select(User).where(User.username == "boss"))
        assert boss is not None
        _, secret = clients.register_client(
            session,
            boss,
            client_id="ward-b-epma",
            name="Ward B ePMA",
            scopes=(clients.SCOPE_ORDER_WRITE, clients.SCOPE_ORDER_READ),
        )
        sites.assign_client(session, boss, "ward-b-epma", "ward-b", "Ward B's prescribing system")
    token = client_token(pg_app, "ward-b-epma", secret)
    sent = pg_app.post(
        "/api/v1/prescriptions",
        json=as_recorded(native_order(rx_id="RX-WARD-B-1")),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sent.status_code == 201, sent.text
    batch = sent.json()["batch"]["batch_number"]
    assert batch in _listed(pg_app, two_sites, "tech2")
    assert batch not in _listed(pg_app, two_sites, "tech")
    order = sent.json()["id"]
    other = pg_app.get(f"/api/v1/prescriptions/{order}", headers=two_sites.headers("tech"))
    assert other.status_code == 404
    own = pg_app.get(f"/api/v1/prescriptions/{order}", headers=two_sites.headers("tech2"))
    assert own.status_code == 200, own.text


def test_staff_see_their_own_sites_printers(pg_app: TestClient, two_sites: TwoSites) -> None:
    new = {
        "name": "ward-b-2",
        "profile_id": PROFILE_ID,
        "serial_number": "WB-0002",
        "location": "Ward B",
        "connection": {"kind": "sim"},
        "site": "ward-b",
    }
    refused = pg_app.post("/api/v1/printers", json=new, headers=two_sites.headers("pharm"))
    assert refused.status_code == 403  # another site's printer: an admin's to register
    made = pg_app.post("/api/v1/printers", json=new, headers=two_sites.headers("boss"))
    assert made.status_code == 201, made.text
    listed = pg_app.get("/api/v1/printers", headers=two_sites.headers("tech2")).json()
    assert "ward-b-2" in {p["id"] for p in listed}
    listed = pg_app.get("/api/v1/printers", headers=two_sites.headers("tech")).json()
    assert "ward-b-2" not in {p["id"] for p in listed}
    other = pg_app.get("/api/v1/printers/ward-b-2/equipment", headers=two_sites.headers("tech"))
    assert other.status_code == 404
    own = pg_app.get("/api/v1/printers/ward-b-2/equipment", headers=two_sites.headers("tech2"))
    assert own.status_code == 200


def _page(client: TestClient, two: TwoSites, name: str, path: str) -> tuple[int, str]:
    client.cookies.set(COOKIE_NAME, two.cookies[name])
    try:
        answer = client.get(path, follow_redirects=False)
    finally:
        client.cookies.clear()
    return answer.status_code, answer.text


def test_batch_pages_show_each_site_its_own_batches(
    pg_app: TestClient, two_sites: TwoSites
) -> None:
    a, b = two_sites.batch_a, two_sites.batch_b
    status, page = _page(pg_app, two_sites, "tech2", "/batches")
    assert status == 200 and b in page and a not in page
    status, page = _page(pg_app, two_sites, "tech", "/batches")
    assert status == 200 and a in page and b not in page
    status, page = _page(pg_app, two_sites, "pharm", "/batches")
    assert status == 200 and a in page and b in page
    status, page = _page(pg_app, two_sites, "tech2", f"/batches/{a}/release")
    assert status == 404 and "No such batch" in page
    status, _ = _page(pg_app, two_sites, "tech2", f"/batches/{a}/tablet.png")
    assert status == 404
    status, page = _page(pg_app, two_sites, "pharm", f"/batches/{b}/release")
    assert status == 200 and b in page


def test_the_overview_is_the_control_sites_alone(pg_app: TestClient, two_sites: TwoSites) -> None:
    refused = pg_app.get("/api/v1/sites/overview", headers=two_sites.headers("pharm2"))
    assert refused.status_code == 403
    answer = pg_app.get("/api/v1/sites/overview", headers=two_sites.headers("pharm"))
    assert answer.status_code == 200, answer.text
    by_site = {s["code"]: s for s in answer.json()["sites"]}
    # each site's batches, counted by state: as many as that site's own staff list
    for code, staff in (("main", "tech"), ("ward-b", "tech2")):
        assert by_site[code]["batches_by_state"]["queued"] == 1
        counted = sum(by_site[code]["batches_by_state"].values())
        assert counted == len(_listed(pg_app, two_sites, staff))
    assert (by_site["main"]["control"], by_site["ward-b"]["control"]) == (True, False)
    status, page = _page(pg_app, two_sites, "pharm", "/overview")
    assert status == 200 and "Ward B clinic" in page
    status, _ = _page(pg_app, two_sites, "tech2", "/overview")
    assert status == 403


def test_a_printer_of_site_b_never_takes_a_batch_of_site_a(two_sites: TwoSites) -> None:
    store = two_sites.store
    with store.session() as session:
        ward_b = sites.get_site(session, "ward-b")
        printer = register.add_printer(
            session,
            session.get(User, _user(store, "pharm2").id),  # type: ignore[arg-type]
            name="ward-b-1",
            profile_id=PROFILE_ID,
            serial_number="WB-0001",
            location="Ward B",
            connection=Connection("sim"),
            calibration_due_on=register.today() + dt.timedelta(days=90),
        )
        assert printer.site_id == ward_b.id  # registered at the registering pharmacist's site
    tech2 = _user(store, "tech2")
    with store.session() as session, pytest.raises(LineNotCleared, match="not a printer of your"):
        batch = service.get_batch(session, two_sites.batch_b)
        register.clear_line(
            session,
            _user(store, "tech"),
            "ward-b-1",
            two_sites.batch_b,
            plate_clear=True,
            lot_number=register.batch_lot(batch),
        )
    with store.session() as session, pytest.raises(LineNotCleared, match="site"):
        register.clear_line(
            session, tech2, "ward-b-1", two_sites.batch_a, plate_clear=True, lot_number="x"
        )
    with store.session() as session:  # a clearance forged beside the service: still not taken
        forged = register.get(session, "ward-b-1")
        forged.cleared_batch = two_sites.batch_a
    with store.session() as session:
        assert service.claim_next(session, "ward-b-1", "wb", FIRMWARE) is None
    with store.session() as session:
        register.get(session, "ward-b-1").cleared_batch = None
    with store.session() as session:
        lot = register.batch_lot(service.get_batch(session, two_sites.batch_b))
        register.clear_line(
            session, tech2, "ward-b-1", two_sites.batch_b, plate_clear=True, lot_number=lot
        )
    with store.session() as session:
        taken = service.claim_next(session, "ward-b-1", "wb", FIRMWARE)
        assert taken is not None and taken.batch_number == two_sites.batch_b
        assert service.get_batch(session, two_sites.batch_a).state == "queued"


def test_a_second_site_is_refused_on_sqlite(client: TestClient, callers: Callers) -> None:
    answer = client.post(
        "/api/v1/sites", json={"code": "ward-b", "name": "Ward B"}, headers=callers["admin"]
    )
    assert answer.status_code == 422
    problem = answer.json()
    assert (problem["field"], problem["value"]) == ("code", "ward-b")
    assert "PostgreSQL" in problem["detail"]
    listed = client.get("/api/v1/sites", headers=callers["tech"]).json()
    assert [s["code"] for s in listed] == ["main"]


def test_site_administration_is_the_admins(client: TestClient, callers: Callers) -> None:
    answer = client.put(
        "/api/v1/users/tech/control-site",
        json={"held": True, "reason": "x"},
        headers=callers["pharm"],
    )
    assert answer.status_code == 403


def test_granting_the_control_site_role_is_audited(client: TestClient, callers: Callers) -> None:
    answer = client.put(
        "/api/v1/users/pharm/control-site",
        json={"held": True, "reason": "oversees the ward units"},
        headers=callers["admin"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "username": "pharm",
        "role": "pharmacist",
        "site": "main",
        "control_site": True,
    }
    again = client.put(
        "/api/v1/users/pharm/control-site",
        json={"held": True, "reason": "twice"},
        headers=callers["admin"],
    )
    assert again.status_code == 422 and again.json()["field"] == "control_site"
    admin = client.put(
        "/api/v1/users/admin/control-site",
        json={"held": True, "reason": "x"},
        headers=callers["admin"],
    )
    assert admin.status_code == 403


def test_a_site_code_is_refused_naming_it() -> None:
    with pytest.raises(InputError, match="'Ward B' is not 1-32 lower-case"):
        sites.site_code("Ward B")
