"""/api/v1/users and /api/v1/clients: staff accounts and prescribing systems, managed by an
admin; anyone may change their own password. Accounts are deactivated, never deleted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from printmed.api import idempotency
from printmed.api.idempotency import IdempotencyKey
from printmed.api.wire import Responses
from printmed.auth import SCOPES, clients, current_user, require_roles, users
from printmed.auth.dependencies import store_of
from printmed.store.models import ApiClient, User

router = APIRouter(prefix="/api/v1", tags=["users"])
Staff = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(require_roles("admin"))]
NOT_FOUND: Responses = {404: {"description": "no such account"}}


class UserView(BaseModel):
    username: str
    full_name: str
    role: str
    active: bool
    created_at: str


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    role: str = Field(description=f"one of {', '.join(users.ROLES)}")
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    reason: str = Field(min_length=1, max_length=2000)


class ActiveChange(BaseModel):
    active: bool
    reason: str = Field(min_length=1, max_length=2000)


class ClientView(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    active: bool
    created_by: str
    created_at: str


class NewClient(BaseModel):
    client_id: str = Field(min_length=1, max_length=48)
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, description=f"of {', '.join(SCOPES)}")


class ClientCreated(ClientView):
    client_secret: str = Field(description="shown once; only its hash is kept")


def user_view(user: User) -> UserView:
    return UserView(
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        active=user.active,
        created_at=user.created_at,
    )


def client_view(client: ApiClient) -> ClientView:
    return ClientView(
        client_id=client.client_id,
        name=client.name,
        scopes=client.scopes.split(),
        active=client.active,
        created_by=client.created_by,
        created_at=client.created_at,
    )


@router.get("/users", response_model=list[UserView], summary="Staff accounts")
def list_users(request: Request, admin: Admin) -> list[UserView]:
    """Admins."""
    with store_of(request).read_session() as session:
        return [user_view(u) for u in users.list_users(session)]


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
            201, user_view(user).model_dump_json(), f"/api/v1/users/{user.username}"
        )

    fingerprint = new.model_dump_json(exclude={"password"})
    return idempotency.model_once(store_of(request), request, admin.username, fingerprint, write)


@router.get("/users/{username}", response_model=UserView, responses=NOT_FOUND)
def get_user(request: Request, username: str, user: Staff) -> UserView:
    """Admins, or the user themselves."""
    if user.username != username:
        users.require_role(user, {"admin"}, "read another user's account")
    with store_of(request).read_session() as session:
        return user_view(users.get_user(session, username))


@router.post(
    "/users/{username}/password",
    status_code=204,
    responses=NOT_FOUND,
    summary="Set a password (admins) or change your own",
)
def change_password(request: Request, username: str, change: PasswordChange, user: Staff) -> None:
    """Admins, or the user themselves."""
    with store_of(request).session() as session:
        users.set_password(session, user, username, change.password, change.reason)


@router.post(
    "/users/{username}/active",
    response_model=UserView,
    responses=NOT_FOUND,
    summary="Deactivate or reactivate an account",
)
def change_active(request: Request, username: str, change: ActiveChange, admin: Admin) -> UserView:
    """Admins."""
    with store_of(request).session() as session:
        users.set_active(session, admin, username, change.active, change.reason)
        return user_view(users.get_user(session, username))


@router.get("/clients", response_model=list[ClientView], summary="Prescribing systems")
def list_clients(request: Request, admin: Admin) -> list[ClientView]:
    """Admins."""
    with store_of(request).read_session() as session:
        return [client_view(c) for c in clients.list_clients(session)]


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
        created = ClientCreated(**client_view(client).model_dump(), client_secret=secret)
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
    request: Request, client_id: str, change: ActiveChange, admin: Admin
) -> ClientView:
    """Admins."""
    with store_of(request).session() as session:
        client = clients.set_client_active(session, admin, client_id, change.active, change.reason)
        return client_view(client)
