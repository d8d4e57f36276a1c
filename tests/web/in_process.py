"""The app in this process on a fresh data folder, for page tests that need no browser: its test
client (signed in through the login form, as a browser is) and its store.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from printmed.app import create_app
from printmed.settings import load_settings
from printmed.store import Store, open_store
from tests.records.builders import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHARMACY = "St Elsewhere Pharmacy"


@contextlib.contextmanager
def app_in_process(folder: Path) -> Iterator[tuple[TestClient, Store]]:
    """printmed's app on the data folder `folder` (its service key in a folder beside it, never
    the user's own; the pharmacy named), started; its test client and its store."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("PRINTMED_KEY_DIR", f"{folder}-keys")
        settings = load_settings(
            {"PRINTMED_DATA_DIR": str(folder), "PRINTMED_PHARMACY_NAME": PHARMACY}
        )
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
