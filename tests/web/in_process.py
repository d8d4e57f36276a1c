"""The app in this process on a fresh data folder, for page tests that need no browser: its test
client (signed in through the login form, as a browser is) and its store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from printmed.app import create_app
from printmed.settings import load_settings
from printmed.store import Store, open_store
from tests.records.builders import PASSWORD, PROFILE_ID

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHARMACY = "St Elsewhere Pharmacy"


def days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()


# a prescription as the new-prescription form sends it: one tablet of propranolol 1 mg/kg for a
# 12.4 kg child of 2.5 years weighed three days ago, on the FDM profile
PRESCRIPTION_FORM = {
    "id": "RX-PAGE-1",
    "patient.id": "TEST-PATIENT-41",
    "patient.weight_kg": "12.4",
    "patient.weighed_on": days_ago(3),
    "patient.age_years": "2.5",
    "formulation": "propranolol-pva-10",
    "drug.name": "propranolol",
    "dose.value": "1",
    "dose.unit": "mg/kg",
    "bsa_formula": "mosteller",
    "frequency_per_day": "2",
    "units": "1",
    "shape": "round",
    "printer": PROFILE_ID,
}


@contextlib.contextmanager
def app_in_process(
    folder: Path, *, pharmacy: str | None = PHARMACY, database_url: str | None = None
) -> Iterator[tuple[TestClient, Store]]:
    """printmed's app on the data folder `folder` (its service key in a folder beside it, never
    the user's own; the pharmacy named by the environment unless `pharmacy` is None; the store
    at `database_url`, default SQLite in the folder), started; its test client and its store."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("PRINTMED_KEY_DIR", f"{folder}-keys")
        env = {"PRINTMED_DATA_DIR": str(folder)}
        if pharmacy is not None:
            env["PRINTMED_PHARMACY_NAME"] = pharmacy
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        settings = load_settings(env)
        with TestClient(create_app(settings)) as client:
            store = open_store(settings.database_url)
            try:
                yield client, store
            finally:
                store.dispose()


def form_token(page: httpx.Response) -> str:
    """The CSRF token of the page's forms."""
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form; the client keeps the session cookie."""
    login = client.get("/login")
    signed_in = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token(login)},
    )
    assert signed_in.status_code == 200, signed_in.text[:500]
