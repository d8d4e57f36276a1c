"""The tables of sign-in: staff sessions (page cookies and bearer tokens) and API clients.

Only a SHA-256 of a session token is stored, so a copy of the database opens no session.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from printmed.store.models import Base


class StaffSession(Base):
    """A signed-in staff member: `kind` is "cookie" (pages) or "bearer" (API use).

    Times are ISO-8601 UTC text; the session ends `session_idle_minutes` after last_seen_at.
    """

    __tablename__ = "staff_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[str] = mapped_column(String(40))
    last_seen_at: Mapped[str] = mapped_column(String(40))
    ended_at: Mapped[str | None] = mapped_column(String(40))


class ApiClient(Base):
    """A prescribing system allowed the OAuth2 client-credentials grant, with its scopes."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
