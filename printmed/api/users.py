"""/api/v1/users and /api/v1/clients: staff accounts and prescribing systems, managed by an
admin; anyone may change their own password. Accounts are deactivated, never deleted.
Admins also see the sign-in defence's alerts (locked accounts, bursts of failures by address)
and unlock accounts, with a reason.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from printmed.api import idempotency
from printmed.api.dependencies import ReadSessionDep, SessionDep
from printmed.api.idempotency import IdempotencyKey
from printmed.api.wire import Responses
from printmed.auth import (
    SCOPES,
    Forbidden,
    clients,
    current_user,
    lockout,
    require_action,
    settings_of,
    store_of,
    users,
)
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action, may, roles_for
from printmed.store.models import User

router = APIRouter(prefix="/api/v1", tags=["users"])
Admin = Annotated[User, Depends(require_action(Action.MANAGE_USERS))]
NOT_FOUND: Responses = {404: {"description": "no such account"}}


def account_holder(username: str, user: Annotated[User, Depends(current_user)]) -> User:
    """The caller, if the account `username` is their own or they may manage users; else 403."""
    if user.username != username and not may(user.role, Action.MANAGE_USERS):
        needs = " or ".join(sorted(roles_for(Action.MANAGE_USERS)))
        raise Forbidden(f"role {user.role} may not act on another's account (needs {needs})")
    return user


AccountHolder = Annotated[User, Depends(account_holder)]


class UserView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    full_name: str
    role: str
    active: bool
    created_at: str
    locked_at: str | None = Field(None, description="set while locked after failed sign-ins")
    locked_reason: str | None = None


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    role: str = Field(description=f"one of {', '.join(users.ROLES)}")
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    reason: str = Field(min_length=1, max_length=2000)
    # Your own password changed with the current one keeps your signing key (resealed); without
    # it, or an admin's reset, a new key pair is issued and the old one retired.
    current_password: str | None = Field(default=None, min_length=1, max_length=1024)


class ActiveChange(BaseModel):
    active: bool
    reason: str = Field(min_length=1, max_length=2000)


class Unlock(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class LockedAccountView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    full_name: str
    locked_at: str
    locked_reason: str


class FailureBurstView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    address: str
    failures: int = Field(description="failed sign-ins from the address in the window")
    first_at: str
    last_at: str
    usernames: list[str] = Field(description="the names it tried")
    retry_after_s: int = Field(description="how long it must still wait (0: it may try)")


class SignInAlertsView(BaseModel):
    window_minutes: int = Field(description="failures are counted over this many minutes")
    locked: list[LockedAccountView]
    bursts: list[FailureBurstView] = Field(
        description="addresses that failed at least address_free_failures times, latest first"
    )


class ClientView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    scopes: list[str]
    active: bool
    created_by: str
    created_at: str

    @field_validator("scopes", mode="before")
    @classmethod
    def _listed(cls, scopes: object) -> object:
        # The table keeps a client's scopes as one space-separated text (as OAuth2 sends them).
        return scopes.split() if isinstance(scopes, str) else scopes


class NewClient(BaseModel):
    client_id: str = Field(min_length=1, max_length=48)
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, description=f"of {', '.join(SCOPES)}")


class ClientCreated(ClientView):
    client_secret: str = Field(description="shown once; only its hash is kept")


@router.get("/users", response_model=list[UserView], summary="Staff accounts")
def list_users(admin: Admin, session: ReadSessionDep) -> list[UserView]:
    """Admins."""
    return [UserView.model_validate(u) for u in users.list_users(session)]


@router.post(
    "/users",
    status_code=201,
    response_model=UserView,
    summary="Create a staff account",
)
def create_user(
    request: Request, new: NewUser, admin: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Admins."""

    def write(session: Session) -> idempotency.Answer:
        user = users.create_user(
            session,
            admin,
            username=new.username,
            full_name=new.full_name,
            role=new.role,
            password=new.password,
        )
        return idempotency.json_answer(
            201, UserView.model_validate(user).model_dump_json(), f"/api/v1/users/{user.username}"
        )

    fingerprint = new.model_dump_json(exclude={"password"})
    return idempotency.model_once(store_of(request), request, admin.username, fingerprint, write)


@router.get("/users/{username}", response_model=UserView, responses=NOT_FOUND)
def get_user(username: str, user: AccountHolder, session: ReadSessionDep) -> UserView:
    """Admins, or the user themselves."""
    return UserView.model_validate(users.get_user(session, username))


@router.post(
    "/users/{username}/password",
    status_code=204,
    responses=NOT_FOUND,
    summary="Set a password (admins) or change your own",
)
def change_password(
    username: str, change: PasswordChange, user: AccountHolder, session: SessionDep
) -> None:
    """Admins, or the user themselves."""
    users.set_password(
        session,
        user,
        username,
        change.password,
        change.reason,
        current_password=change.current_password,
    )


@router.post(
    "/users/{username}/active",
    response_model=UserView,
    responses=NOT_FOUND,
    summary="Deactivate or reactivate an account",
)
def change_active(
    username: str, change: ActiveChange, admin: Admin, session: SessionDep
) -> UserView:
    """Admins."""
    users.set_active(session, admin, username, change.active, change.reason)
    return UserView.model_validate(users.get_user(session, username))


@router.post(
    "/users/{username}/unlock",
    response_model=UserView,
    responses=NOT_FOUND,
    summary="Unlock an account locked after failed sign-ins",
)
def unlock(
    username: str, change: Unlock, admin: Admin, session: SessionDep, clock: SignInClock
) -> UserView:
    """Admins; the reason goes into the audit trail."""
    return UserView.model_validate(
        lockout.unlock(session, admin, username, change.reason, clock=clock)
    )


@router.get(
    "/auth/sign-in-alerts",
    response_model=SignInAlertsView,
    summary="Locked accounts and bursts of failed sign-ins",
)
def sign_in_alerts(
    request: Request, admin: Admin, session: ReadSessionDep, clock: SignInClock
) -> SignInAlertsView:
    """Admins."""
    policy = settings_of(request).sign_in
    found = lockout.alerts(session, policy, clock())
    return SignInAlertsView(
        window_minutes=policy.window_minutes,
        locked=[LockedAccountView.model_validate(a) for a in found.locked],
        bursts=[FailureBurstView.model_validate(b) for b in found.bursts],
    )


@router.get("/clients", response_model=list[ClientView], summary="Prescribing systems")
def list_clients(admin: Admin, session: ReadSessionDep) -> list[ClientView]:
    """Admins."""
    return [ClientView.model_validate(c) for c in clients.list_clients(session)]


@router.post(
    "/clients",
    status_code=201,
    response_model=ClientCreated,
    summary="Register a prescribing system; its secret is shown once",
)
def create_client(
    request: Request, new: NewClient, admin: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Admins. A retry with the same Idempotency-Key returns the same secret."""

    def write(session: Session) -> idempotency.Answer:
        client, secret = clients.register_client(
            session, admin, client_id=new.client_id, name=new.name, scopes=tuple(new.scopes)
        )
        created = ClientCreated(
            **ClientView.model_validate(client).model_dump(), client_secret=secret
        )
        return idempotency.json_answer(
            201, created.model_dump_json(), f"/api/v1/clients/{client.client_id}"
        )

    return idempotency.model_once(
        store_of(request), request, admin.username, new.model_dump_json(), write
    )


@router.post(
    "/clients/{client_id}/active",
    response_model=ClientView,
    responses={404: {"description": "no such client"}},
    summary="Revoke or restore a prescribing system (its tokens stop at once)",
)
def change_client_active(
    client_id: str, change: ActiveChange, admin: Admin, session: SessionDep
) -> ClientView:
    """Admins."""
    client = clients.set_client_active(session, admin, client_id, change.active, change.reason)
    return ClientView.model_validate(client)
