"""Test data for the master file: staff with and without the control-site role, a change
proposed and approved through the real functions, a batch made from the store's master file.

Passwords are test values; the approver's key is opened by the password as at a real prompt.
"""

from __future__ import annotations

import json
from typing import Any

from dosing.prescription import parse_prescription
from printmed.jobs.making import enter_prescription
from printmed.records import masterfile
from printmed.records.signatures import authenticate_signer
from printmed.store import Store
from printmed.store.models import Batch, MasterVersion, User
from tests.records.builders import PASSWORD, PRESCRIPTION, add_users

LOT = "propranolol-pva-10"
PROFILE = "fdm-pharma-04"
CHECKED = "checked against the certificate of analysis"


def control_site_staff(store: Store) -> dict[str, User]:
    """tech (technician), pharm (a pharmacist holding the control-site role), pharm2 (a
    pharmacist without it)."""
    users = add_users(store, "tech", "pharm", "pharm2")
    with store.session() as session:
        user = session.get(User, users["pharm"].id)
        assert user is not None
        user.control_site = True
        users["pharm"] = user
    return users


def lot_content(store: Store, lot: str = LOT, **changes: Any) -> dict[str, Any]:
    """The lot's content in force, with `changes`."""
    with store.read_session() as session:
        row = masterfile.in_force(session, "lot", lot)[0]
        return {**json.loads(row.content_json), **changes}


def propose(store: Store, author: User, kind: str, key: str, content: dict[str, Any]) -> int:
    with store.session() as session:
        return masterfile.propose(session, author, kind, key, content, "new lot delivered").id


def approve(store: Store, version_id: int, approver: str = "pharm") -> MasterVersion:
    with store.session() as session:
        signer = authenticate_signer(session, approver, PASSWORD, masterfile.APPROVAL_MEANING)
        return masterfile.approve(session, version_id, signer, CHECKED)


def changed_and_approved(store: Store, author: User, kind: str, key: str, content: Any) -> int:
    version_id = propose(store, author, kind, key, content)
    approve(store, version_id)
    return version_id


def made_batch(store: Store, maker: User, units: int = 2, rx_id: str = "RX-MASTER-1") -> Batch:
    """A verified batch of PRESCRIPTION (`units` tablets) made from the store's master file."""
    rx = parse_prescription({**PRESCRIPTION, "id": rx_id, "units": units})
    with store.session() as session:
        return enter_prescription(session, maker, rx, printer=PROFILE, profile_id=PROFILE)


def pins(batch: Batch) -> dict[str, Any]:
    return json.loads(batch.master_pins_json or "{}")
