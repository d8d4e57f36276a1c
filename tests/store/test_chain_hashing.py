"""The chain's hashing, as properties: one canonical text per value, any change to any hashed
column of an entry changes its hash, and the service's signature covers no edited entry."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from printmed.audit import ENTRY_PURPOSE, GENESIS_HASH, HASHED_COLUMNS, canonical_json, entry_hash
from printmed.keys import ServiceKey, key_id_of, verifies
from printmed.store.models import AuditEntry

_PRIVATE = Ed25519PrivateKey.generate()
_SERVICE_KEY = ServiceKey(_PRIVATE, key_id_of(_PRIVATE.public_key()))

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _entry(**overrides: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "seq": 1,
        "at": "2026-01-01T00:00:00.000000+00:00",
        "actor": "tech",
        "action": "job.create",
        "entity": "job",
        "entity_id": "1",
        "batch_number": "PM-1",
        "old_json": "null",
        "new_json": '{"state":"draft"}',
        "reason": "entered",
        "prev_hash": GENESIS_HASH,
    }
    fields.update(overrides)
    return AuditEntry(**fields)


@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_canonical_json_ignores_key_order_and_round_trips(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_json(value) == canonical_json(reordered)
    assert json.loads(canonical_json(value)) == value


@given(st.sampled_from([c for c in HASHED_COLUMNS if c != "seq"]), st.text(min_size=1))
def test_any_edit_of_a_hashed_column_changes_the_hash(column: str, suffix: str) -> None:
    original = _entry()
    edited = _entry(**{column: f"{getattr(original, column)}{suffix}"})
    assert entry_hash(edited) != entry_hash(original)


@given(st.integers(min_value=2, max_value=10**9))
def test_renumbering_an_entry_changes_its_hash(seq: int) -> None:
    assert entry_hash(_entry(seq=seq)) != entry_hash(_entry())


@given(st.sampled_from([c for c in HASHED_COLUMNS if c != "seq"]), st.text(min_size=1))
def test_the_service_signature_of_an_entry_does_not_cover_any_edit_of_it(
    column: str, suffix: str
) -> None:
    """Recomputing an edited entry's hash is open to anyone; its signature is not."""
    service = _SERVICE_KEY
    original = _entry()
    signature = service.sign(ENTRY_PURPOSE, entry_hash(original))
    edited = _entry(**{column: f"{getattr(original, column)}{suffix}"})
    public = service.private.public_key()
    assert verifies(public, ENTRY_PURPOSE, entry_hash(original), signature)
    assert not verifies(public, ENTRY_PURPOSE, entry_hash(edited), signature)
