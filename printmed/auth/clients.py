"""Prescribing systems (ePMA) as OAuth2 clients: an admin registers them with scopes; a client
trades its id and secret for a short-lived signed JWT (HS256, PyJWT) that names those scopes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.rules import Action, require
from printmed.auth.users import hash_password
from printmed.errors import InputError
from printmed.settings import Settings
from printmed.store.models import ApiClient, User

SCOPE_ORDER_WRITE = "prescriptions.write"
SCOPE_ORDER_READ = "prescriptions.read"
SCOPES = (SCOPE_ORDER_WRITE, SCOPE_ORDER_READ)
ISSUER = "printmed"
ALGORITHM = "HS256"
KEY_FILE = "token-signing.key"
_hasher = PasswordHasher()


class ClientRefused(InputError):
    """Unknown or inactive client, wrong secret, or a scope it was not given."""


@dataclass(frozen=True)
class ClientToken:
    access_token: str
    expires_in_s: int
    scopes: tuple[str, ...]


def signing_key(settings: Settings) -> str:
    """PRINTMED_TOKEN_SECRET, else a random key kept in the data folder (made on first use)."""
    if settings.token_secret:
        return settings.token_secret
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48))
            path.chmod(0o600)
        except FileExistsError:
            pass  # another process made it first; read theirs
    return path.read_text(encoding="ascii").strip()


def parse_scopes(text: str | None) -> tuple[str, ...]:
    """Space-separated scopes, each one of SCOPES; none given means all the client has."""
    wanted = tuple(dict.fromkeys((text or "").split()))
    for scope in wanted:
        if scope not in SCOPES:
            raise ClientRefused("scope", scope, f"is not one of {', '.join(SCOPES)}")
    return wanted


def register_client(
    session: Session, by: User, *, client_id: str, name: str, scopes: tuple[str, ...]
) -> tuple[ApiClient, str]:
    """A new client and its secret (shown once; only its argon2 hash is kept)."""
    require(by, Action.MANAGE_USERS)
    if not client_id or len(client_id) > 48 or not client_id.replace("-", "").isalnum():
        raise InputError("client_id", client_id, "is not 1-48 letters, digits or '-'")
    if session.scalar(select(ApiClient).where(ApiClient.client_id == client_id)) is not None:
        raise InputError("client_id", client_id, "is taken")
    if not name.strip() or len(name) > 200:
        raise InputError("name", name, "is empty or longer than 200 characters")
    if not scopes:
        raise InputError("scopes", "", f"must name at least one of {', '.join(SCOPES)}")
    parse_scopes(" ".join(scopes))
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id=client_id,
        name=name.strip(),
        secret_hash=hash_password(secret),
        scopes=" ".join(scopes),
        active=True,
        created_by=by.username,
        created_at=audit.utc_now(),
    )
    session.add(client)
    session.flush()
    audit.append(
        session,
        actor=by.username,
        action="client.create",
        entity="api_client",
        entity_id=client_id,
        new={"client_id": client_id, "name": client.name, "scopes": client.scopes},
        reason="prescribing system registered",
    )
    return client, secret


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.client_id)))


def get_client(session: Session, client_id: str) -> ApiClient:
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        raise InputError("client_id", client_id, "is not a registered client")
    return client


def set_client_active(
    session: Session, by: User, client_id: str, active: bool, reason: str
) -> ApiClient:
    """Revoke (or restore) a client; its tokens stop working at once."""
    require(by, Action.MANAGE_USERS)
    client = get_client(session, client_id)
    audit.set_audited(
        session,
        client,
        "active",
        active,
        actor=by.username,
        action="client.active",
        entity="api_client",
        entity_id=client_id,
        reason=reason,
    )
    return client


def rotate_client_secret(
    session: Session, by: User, client_id: str, reason: str
) -> tuple[ApiClient, str]:
    """A new secret for an active client (shown once; only its hash is kept): the old secret
    is refused from now on. Tokens already issued run to their expiry; revoke the client
    (`set_client_active`) to stop them at once."""
    require(by, Action.MANAGE_USERS)
    client = get_client(session, client_id)
    if not client.active:
        raise InputError("client_id", client_id, "is revoked; restore it before a new secret")
    secret = secrets.token_urlsafe(32)
    audit.set_audited(
        session,
        client,
        "secret_hash",
        hash_password(secret),
        actor=by.username,
        action="client.secret",
        entity="api_client",
        entity_id=client_id,
        reason=reason,
        shown=(None, "(rotated)"),
    )
    return client, secret


def authenticate_client(session: Session, client_id: str, secret: str) -> ApiClient:
    """The active client `client_id` whose secret is `secret`, or ClientRefused (field
    client_id). The token endpoint calls it through printmed.auth.lockout.admit."""
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None or not client.active or not _secret_matches(client, secret):
        raise ClientRefused("client_id", client_id, "is unknown, revoked or the secret is wrong")
    return client


def issue_token(
    session: Session, settings: Settings, client_id: str, secret: str, scope: str | None
) -> ClientToken:
    """The client-credentials grant: a JWT for the asked scopes (all the client's if none)."""
    return token_for(settings, authenticate_client(session, client_id, secret), scope)


def token_for(settings: Settings, client: ApiClient, scope: str | None) -> ClientToken:
    """A JWT for an authenticated client and the asked scopes (all it holds if none);
    ClientRefused (field scope) for a scope it was not given."""
    client_id = client.client_id
    held = tuple(client.scopes.split())
    wanted = parse_scopes(scope) or held
    for name in wanted:
        if name not in held:
            raise ClientRefused("scope", name, f"was not granted to {client_id}")
    now = dt.datetime.now(dt.UTC)
    lifetime_s = int(settings.token_minutes * 60)
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "scope": " ".join(wanted),
        "iat": now,
        "exp": now + dt.timedelta(seconds=lifetime_s),
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)
    return ClientToken(token, lifetime_s, wanted)


def client_claims(session: Session, settings: Settings, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token of an active client, or None."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == claims["sub"]))
    if client is None or not client.active:
        return None
    return dict(claims)


def _secret_matches(client: ApiClient, secret: str) -> bool:
    try:
        return _hasher.verify(client.secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
