"""A change that would make a product unsafe or unusable is refused naming the field, and
nothing is recorded; unknown documents are refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from printmed.records import masterfile
from printmed.store import Store
from printmed.store.models import AuditEntry, MasterVersion
from tests.masterfile.builders import LOT, control_site_staff, lot_content


def _content(store: Store, kind: str, key: str) -> dict[str, Any]:
    with store.read_session() as session:
        return json.loads(masterfile.in_force(session, kind, key)[0].content_json)


def _counts(store: Store) -> tuple[int, int]:
    with store.read_session() as session:
        return (
            session.scalar(select(func.count()).select_from(MasterVersion)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


CASES = [
    ("lot", LOT, {"density_g_cm3": 0.0}, "lot.density_g_cm3"),
    ("lot", LOT, {"density_g_cm3": -1.1}, "lot.density_g_cm3"),
    ("lot", LOT, {"loading_percent_w_w": 120.0}, "lot.loading_percent_w_w"),
    ("lot", LOT, {"loading_percent_w_w": 0.0}, "lot.loading_percent_w_w"),
    ("lot", LOT, {"assay_percent": 0.0}, "lot.assay_percent"),
    ("lot", LOT, {"nozzle_temp_c": [250.0, 270.0]}, "lot.nozzle_temp_c"),
    ("lot", LOT, {"bed_temp_c": 105.0}, "lot.bed_temp_c"),
    ("lot", LOT, {"expiry": "2020-01-31"}, "lot.expiry"),
    ("lot", "hydrocortisone-paste-5", {"paste_temp_c": 85.0}, "lot.paste_temp_c"),
    (
        "product",
        "propranolol",
        {"shapes": ["round"], "dose_range_mg": [140, 160]},
        "product.dose_range_mg",
    ),
    ("product", "propranolol", {"dose_range_mg": [0, 10]}, "product.dose_range_mg"),
    ("product", "propranolol", {"shapes": ["hexagon"]}, "product.shapes"),
    (
        "product",
        "propranolol",
        {"qc": {"gate_tolerance_percent": 5.0}},
        "product.qc.gate_tolerance_percent",
    ),
    ("profile", "fdm-pharma-04", {"max_nozzle_temp_c": 200.0}, "profile.max_nozzle_temp_c"),
    ("profile", "sse-syringe-08", {"max_nozzle_temp_c": 90.0}, "profile.max_nozzle_temp_c"),
]


@pytest.mark.parametrize(("kind", "key", "changes", "field"), CASES)
def test_an_unsafe_change_is_refused_naming_the_field_and_nothing_is_recorded(
    store: Store, kind: str, key: str, changes: dict[str, Any], field: str
) -> None:
    users = control_site_staff(store)
    content = _content(store, kind, key)
    if kind == "profile":
        content = {**content, "profile": {**content["profile"], **changes}}
    elif "qc" in changes:
        content = {**content, "qc": {**content["qc"], **changes["qc"]}}
    else:
        content = {**content, **changes}
    before = _counts(store)
    with pytest.raises(masterfile.MasterChangeRefused) as refused, store.session() as session:
        masterfile.propose(session, users["tech"], kind, key, content, "a change")
    assert refused.value.field == field
    assert _counts(store) == before


@pytest.mark.parametrize(
    ("kind", "key", "field"),
    [("process", "fdm", "kind"), ("lot", "Not A Key!", "key"), ("lot", "other-lot", "lot.id")],
)
def test_an_unknown_kind_or_key_is_refused(store: Store, kind: str, key: str, field: str) -> None:
    users = control_site_staff(store)
    content = lot_content(store)
    refusals = (masterfile.UnknownDocument, masterfile.MasterChangeRefused)
    with pytest.raises(refusals) as refused, store.session() as session:
        masterfile.propose(session, users["tech"], kind, key, content, "x")
    assert refused.value.field == field
    with pytest.raises(masterfile.UnknownDocument), store.read_session() as session:
        masterfile.history(session, "lot", "no-such-lot")


def test_an_unchanged_document_is_not_a_new_version(store: Store) -> None:
    users = control_site_staff(store)
    content = lot_content(store)
    unchanged = pytest.raises(masterfile.MasterChangeRefused, match="unchanged")
    with unchanged, store.session() as session:
        masterfile.propose(session, users["tech"], "lot", LOT, content, "same")


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
DOCUMENTS = st.recursive(
    JSON_LEAVES,
    lambda inner: st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), inner, max_size=4),
    max_leaves=12,
).filter(lambda d: isinstance(d, dict))


@given(DOCUMENTS, DOCUMENTS)
def test_the_difference_is_empty_exactly_when_the_canonical_hashes_agree(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    reordered = dict(reversed(list(after.items())))
    assert masterfile.content_sha256(reordered) == masterfile.content_sha256(after)
    changes = masterfile.difference(before, after)
    same = masterfile.content_sha256(before) == masterfile.content_sha256(after)
    assert (changes == []) == same
    assert masterfile.difference(after, after) == []
    for change in changes:
        assert change["before"] != change["after"]
