"""The API's own tables: orders received (native or FHIR) and the answers kept per Idempotency-Key.

An order links what the prescribing system sent to the batch (job) made for it.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from printmed.store.models import Base


class Order(Base):
    """One accepted prescription: `id` is also the FHIR MedicationRequest and Task id.

    source: "native" or "fhir"; resource_json: the stored MedicationRequest (FHIR orders).
    """

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    prescription_id: Mapped[str] = mapped_column(String(128), index=True)
    resource_json: Mapped[str | None] = mapped_column(Text)
    batch_number: Mapped[str] = mapped_column(ForeignKey("jobs.batch_number"), unique=True)
    received_from: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[str] = mapped_column(String(40))


class IdempotentAnswer(Base):
    """The first answer to a creating POST, replayed for a retry with the same key and body."""

    __tablename__ = "idempotent_answers"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))
