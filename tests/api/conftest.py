"""An app on its own SQLite store per test, with staff holding bearer tokens and two registered
prescribing systems (one may order and read, one may only read)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from printmed.app import create_app
from printmed.auth import clients, login
from printmed.auth.users import create_user
from printmed.settings import Settings, load_settings
from printmed.store import Store, open_store
from printmed.store.models import User

PASSWORD = "correct horse battery"
STAFF = {
    "admin": "admin",
    "tech": "technician",
    "tech2": "technician",
    "pharm": "pharmacist",
}


@dataclass
class Callers:
    """Authorization headers by name: staff usernames, "epma" (write+read), "viewer" (read)."""

    headers: dict[str, dict[str, str]]
    secrets: dict[str, str]

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


SEED_DB = "printmed.sqlite"


def api_settings(tmp_path: Path, **environ: str) -> Settings:
    return load_settings(
        {
            "PRINTMED_DATA_DIR": str(tmp_path),
            "PRINTMED_TOKEN_SECRET": "test-signing-key-not-for-production",
            "PRINTMED_SESSION_IDLE_MINUTES": "1440",
            **environ,
        }
    )


def add_staff(store: Store) -> None:
    with store.session() as session:
        admin = None
        for username, role in STAFF.items():
            user = create_user(
                session,
                admin,
                username=username,
                full_name=username.title(),
                role=role,
                password=PASSWORD,
            )
            admin = admin or user


def register_clients(store: Store) -> dict[str, str]:
    with store.session() as session:
        admin = session.query(User).filter_by(username="admin").one()
        _, epma = clients.register_client(
            session,
            admin,
            client_id="epma",
            name="Ward ePMA",
            scopes=(clients.SCOPE_ORDER_WRITE, clients.SCOPE_ORDER_READ),
        )
        _, viewer = clients.register_client(
            session,
            admin,
            client_id="viewer",
            name="Status board",
            scopes=(clients.SCOPE_ORDER_READ,),
        )
    return {"epma": epma, "viewer": viewer}


def keys_beside(folder: Path) -> Path:
    """The key folder that goes with the data folder `folder`: beside it, never inside."""
    return Path(f"{folder}-keys")


@contextmanager
def key_folder(folder: Path) -> Iterator[None]:
    """PRINTMED_KEY_DIR set to `folder` for the block: the audit trail signs with that key."""
    before = os.environ.get("PRINTMED_KEY_DIR")
    os.environ["PRINTMED_KEY_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            del os.environ["PRINTMED_KEY_DIR"]
        else:
            os.environ["PRINTMED_KEY_DIR"] = before


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Callers]:
    """A migrated store with the staff, both clients and their tokens, made once (argon2 is
    slow on purpose); each test gets a copy of the file and of its key folder."""
    folder = tmp_path_factory.mktemp("seed")
    settings = api_settings(folder)
    with key_folder(keys_beside(folder)):
        store = open_store(settings.database_url)
        add_staff(store)
        secrets = register_clients(store)
        headers = {}
        with store.session() as session:
            for name in STAFF:
                _, token = login(session, name, PASSWORD, kind="bearer")
                headers[name] = {"Authorization": f"Bearer {token}"}
            for name, secret in secrets.items():
                issued = clients.issue_token(session, settings, name, secret, None)
                headers[name] = {"Authorization": f"Bearer {issued.access_token}"}
        store.dispose()  # the last connection to close checkpoints the WAL into the file
    return folder / SEED_DB, Callers(headers, secrets)


def copy_seed(seed: Path, folder: Path) -> Path:
    """The seeded store into `folder`, where api_settings(folder) will find it, and its key
    folder beside it (a store and its keys restored together, as from one backup: copies that
    shared one folder would write two different histories of one chain into its checkpoints,
    which is what a verifier must call a forgery). Returns the copied key folder."""
    for suffix in ("", "-wal"):
        if Path(f"{seed}{suffix}").exists():
            shutil.copyfile(f"{seed}{suffix}", folder / f"{SEED_DB}{suffix}")
    keys = keys_beside(folder)
    shutil.copytree(keys_beside(seed.parent), keys)
    return keys


@pytest.fixture
def settings(
    tmp_path: Path, seeded: tuple[Path, Callers], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("PRINTMED_KEY_DIR", str(copy_seed(seeded[0], tmp_path)))
    return api_settings(tmp_path)


@pytest.fixture
def callers(seeded: tuple[Path, Callers]) -> Callers:
    return seeded[1]


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def client_token(client: TestClient, client_id: str, secret: str) -> str:
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def staff_token(client: TestClient, username: str) -> str:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])
