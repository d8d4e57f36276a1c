"""/api/v1/master-file: documents and their versions, a change proposed by a technician and
approved (password re-entered) by a second pharmacist holding the control-site role, the signed
export as JSON and PDF, and its import at another site; every refusal a problem naming the
field, with nothing recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from printmed.app import create_app
from printmed.auth import login
from printmed.auth.users import create_user
from printmed.store import open_store
from tests.api.conftest import PASSWORD, Callers, api_settings, key_folder

PROBLEM = "application/problem+json"
LOT = "isoleucine-paste-20"
BASE = "/api/v1/master-file"


def _lot(client: TestClient, callers: Callers) -> dict[str, Any]:
    versions = client.get(f"{BASE}/documents/lot/{LOT}", headers=callers["tech"])
    assert versions.status_code == 200, versions.text
    return dict(versions.json()[-1]["content"])


def _versions(client: TestClient, callers: Callers) -> list[dict[str, Any]]:
    return list(client.get(f"{BASE}/documents/lot/{LOT}", headers=callers["tech"]).json())


def _propose(client: TestClient, callers: Callers, who: str, **changes: Any) -> Any:
    content = _lot(client, callers) | changes
    return client.post(
        f"{BASE}/documents/lot/{LOT}/versions",
        json={"content": content, "reason": "new supplier's paste"},
        headers=callers[who],
    )


def _grant_control(client: TestClient, callers: Callers, username: str) -> None:
    answer = client.put(
        f"/api/v1/users/{username}/control-site",
        json={"held": True, "reason": "control-site pharmacist"},
        headers=callers["admin"],
    )
    assert answer.status_code == 200, answer.text


def _approve(client: TestClient, callers: Callers, who: str, version_id: int, password: str) -> Any:
    return client.post(
        f"{BASE}/versions/{version_id}/approval",
        json={"password": password, "reason": "certificate checked"},
        headers=callers[who],
    )


def test_every_document_is_listed_with_its_version_in_force(
    client: TestClient, callers: Callers
) -> None:
    answer = client.get(f"{BASE}/documents", headers=callers["tech"])
    assert answer.status_code == 200, answer.text
    documents = {(d["kind"], d["key"]): d for d in answer.json()}
    assert {kind for kind, _ in documents} == {"lot", "product", "profile"}
    lot = documents[("lot", LOT)]
    assert (lot["in_force"]["version"], lot["in_force"]["status"], lot["pending"]) == (
        1,
        "approved",
        0,
    )
    assert lot["in_force"]["content"]["loading_percent_w_w"] == 20.0


def test_a_change_is_proposed_then_approved_by_a_control_site_pharmacist(
    client: TestClient, callers: Callers
) -> None:
    proposed = _propose(client, callers, "tech", loading_percent_w_w=21.0)
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    assert (version["status"], version["version"], version["proposed_by"]) == (
        "proposed",
        2,
        "tech",
    )
    assert version["difference"] == [{"path": "loading_percent_w_w", "before": 20.0, "after": 21.0}]
    pending = client.get(f"{BASE}/versions", headers=callers["pharm"]).json()
    assert [p["id"] for p in pending] == [version["id"]]

    no_role = _approve(client, callers, "pharm", version["id"], PASSWORD)
    assert no_role.status_code == 403  # a pharmacist without the control-site role
    _grant_control(client, callers, "pharm")
    wrong = _approve(client, callers, "pharm", version["id"], "not the password")
    assert wrong.status_code == 401
    assert _versions(client, callers)[-1]["status"] == "proposed"
    approved = _approve(client, callers, "pharm", version["id"], PASSWORD)
    assert approved.status_code == 201, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "pharm")
    assert approved.json()["approval_signature"]
    assert [v["status"] for v in _versions(client, callers)] == ["superseded", "approved"]


def test_the_author_may_not_approve_their_own_change(client: TestClient, callers: Callers) -> None:
    _grant_control(client, callers, "pharm")
    version = _propose(client, callers, "pharm", loading_percent_w_w=19.5).json()
    own = _approve(client, callers, "pharm", version["id"], PASSWORD)
    assert own.status_code == 403
    assert own.headers["content-type"] == PROBLEM
    assert "four eyes" in own.json()["detail"]
    assert _versions(client, callers)[-1]["status"] == "proposed"
    technician = _approve(client, callers, "tech", version["id"], PASSWORD)
    assert technician.status_code == 403


def test_an_unsafe_change_is_refused_naming_the_field_and_nothing_is_recorded(
    client: TestClient, callers: Callers
) -> None:
    refused = _propose(client, callers, "tech", density_g_cm3=0)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["field"] == "lot.density_g_cm3"
    assert len(_versions(client, callers)) == 1
    missing = client.get(f"{BASE}/documents/lot/no-such-lot", headers=callers["tech"])
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    admin = _propose(client, callers, "admin", loading_percent_w_w=21.0)
    assert admin.status_code == 403


def test_a_proposal_is_rejected_with_its_reason(client: TestClient, callers: Callers) -> None:
    _grant_control(client, callers, "pharm")
    version = _propose(client, callers, "tech", loading_percent_w_w=22.0).json()
    rejected = client.post(
        f"{BASE}/versions/{version['id']}/rejection",
        json={"reason": "no certificate"},
        headers=callers["pharm"],
    )
    assert rejected.status_code == 201, rejected.text
    assert (rejected.json()["status"], rejected.json()["decision_reason"]) == (
        "rejected",
        "no certificate",
    )


def test_the_signed_export_imports_at_another_site_as_proposals(
    client: TestClient, callers: Callers, tmp_path: Path
) -> None:
    _grant_control(client, callers, "pharm")
    version = _propose(client, callers, "tech", loading_percent_w_w=21.0).json()
    assert _approve(client, callers, "pharm", version["id"], PASSWORD).status_code == 201
    exported = client.get(f"{BASE}/export", headers=callers["tech"])
    assert exported.status_code == 200
    document = exported.json()
    pdf = client.get(f"{BASE}/export.pdf", headers=callers["tech"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    other = tmp_path / "other-site"
    other.mkdir()
    with key_folder(tmp_path / "other-site-keys"):
        settings = api_settings(other)
        store = open_store(settings.database_url)
        with store.session() as session:
            create_user(
                session, None, username="olga", full_name="Olga", role="admin", password=PASSWORD
            )
            create_user(
                session, None, username="tom", full_name="Tom", role="technician", password=PASSWORD
            )
            token = login(session, "tom", PASSWORD, kind="bearer")[1]
        store.dispose()
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(settings)) as there:
            tampered = json.loads(json.dumps(document))
            for entry in tampered["versions"]:
                if entry["key"] == LOT:
                    entry["content"]["loading_percent_w_w"] = 50.0
            refused = there.post(
                f"{BASE}/import",
                json={"document": tampered, "reason": "from the control site"},
                headers=headers,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"]
            assert there.get(f"{BASE}/versions", headers=headers).json() == []
            imported = there.post(
                f"{BASE}/import/file",
                files={"file": ("master-file.json", exported.content, "application/json")},
                data={"reason": "from the control site"},
                headers=headers,
            )
            assert imported.status_code == 201, imported.text
            proposed = imported.json()["proposed"]
            assert [(p["kind"], p["key"], p["status"]) for p in proposed] == [
                ("lot", LOT, "proposed")
            ]
            assert proposed[0]["content"]["loading_percent_w_w"] == 21.0
            assert "product/isoleucine" in imported.json()["unchanged"]
