"""`printmed masterfile`: each subcommand as staff use it, and a refusal of each that takes
input, as one line with exit status 2."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from printmed import catalog
from printmed.cli import main
from printmed.store import Store, open_store
from tests.masterfile.builders import LOT, control_site_staff
from tests.records.builders import PASSWORD


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "data"
    assert run(monkeypatch, folder, "masterfile", "list") == 0  # first start
    store: Store = open_store(f"sqlite:///{folder / 'printmed.sqlite'}")
    control_site_staff(store)
    store.dispose()
    yield folder


def run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main([*argv, "--data-dir", str(data_dir)])


def as_user(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, user: str, *argv: str, password: str = PASSWORD
) -> int:
    return run(
        monkeypatch, data_dir, *argv, "--user", user, "--password-stdin", stdin=password + "\n"
    )


def _lot_file(tmp_path: Path, **changes: object) -> Path:
    content = json.loads((catalog.fixtures_dir() / "materials" / f"{LOT}.json").read_text())
    path = tmp_path / "lot.json"
    path.write_text(json.dumps({**content, **changes}))
    return path


def _refused(capsys: pytest.CaptureFixture[str], field: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"printmed masterfile: error: {field}"), err


def _proposal(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    path: Path,
    user: str = "tech",
) -> int:
    argv = ("masterfile", "propose", "lot", LOT, str(path), "--reason", "new lot")
    assert as_user(monkeypatch, data_dir, user, *argv) == 0
    out = capsys.readouterr().out
    return int(out.split("(id ")[1].split(")")[0])


def test_list_and_show_a_document_with_its_history(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run(monkeypatch, data_dir, "masterfile", "list") == 0
    out = capsys.readouterr().out
    assert f"lot      {LOT:<26} in force v1" in out and "profile  fdm-pharma-04" in out
    assert run(monkeypatch, data_dir, "masterfile", "show", "lot", LOT) == 0
    out = capsys.readouterr().out
    assert f"lot {LOT} v1 (approved)" in out and '"loading_percent_w_w": 10.0' in out
    assert "v1 approved" in out and "first-start by admin" in out
    assert run(monkeypatch, data_dir, "masterfile", "show", "lot", "no-such-lot") == 2
    _refused(capsys, "lot")


def test_propose_diff_pending_and_approve_by_a_second_person(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    version = _proposal(
        monkeypatch, data_dir, capsys, _lot_file(tmp_path, loading_percent_w_w=12.5)
    )
    assert run(monkeypatch, data_dir, "masterfile", "pending") == 0
    assert f"id {version}: lot {LOT} v2" in capsys.readouterr().out
    assert run(monkeypatch, data_dir, "masterfile", "diff", "lot", LOT, "1", "2") == 0
    assert "loading_percent_w_w: 10.0 → 12.5" in capsys.readouterr().out
    assert run(monkeypatch, data_dir, "masterfile", "diff", "lot", LOT, "1", "7") == 2
    _refused(capsys, "version")
    approve = ("masterfile", "approve", str(version), "--reason", "CoA checked")
    assert as_user(monkeypatch, data_dir, "pharm", *approve, password="wrong password") == 2
    _refused(capsys, "password")
    assert as_user(monkeypatch, data_dir, "pharm2", *approve) == 2  # no control-site role
    _refused(capsys, "user")
    assert as_user(monkeypatch, data_dir, "pharm", *approve) == 0
    assert f"approved lot {LOT} v2 (id {version})" in capsys.readouterr().out


def test_a_refused_proposal_and_an_author_approving_their_own(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ("masterfile", "propose", "lot", LOT, str(_lot_file(tmp_path, density_g_cm3=0)))
    assert as_user(monkeypatch, data_dir, "tech", *argv, "--reason", "x") == 2
    _refused(capsys, "lot.density_g_cm3")
    version = _proposal(
        monkeypatch, data_dir, capsys, _lot_file(tmp_path, assay_percent=97.0), "pharm"
    )
    approve = ("masterfile", "approve", str(version), "--reason", "mine")
    assert as_user(monkeypatch, data_dir, "pharm", *approve) == 2
    _refused(capsys, "user")


def test_reject_a_proposal(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    version = _proposal(monkeypatch, data_dir, capsys, _lot_file(tmp_path, assay_percent=97.0))
    reject = ("masterfile", "reject", str(version), "--reason", "not on the certificate")
    assert as_user(monkeypatch, data_dir, "pharm", *reject) == 0
    assert f"rejected lot {LOT} v2 (id {version})" in capsys.readouterr().out
    assert as_user(monkeypatch, data_dir, "pharm", *reject) == 2  # only a proposal is decided
    _refused(capsys, "version")


def test_import_a_folder_proposes_only_what_differs(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "delivery"
    shutil.copytree(catalog.fixtures_dir(), folder)
    lot = folder / "materials" / f"{LOT}.json"
    lot.write_text(json.dumps({**json.loads(lot.read_text()), "lot": "PVA-PRL-2612-B"}))
    argv = ("masterfile", "import", str(folder), "--reason", "delivery 2612")
    assert as_user(monkeypatch, data_dir, "tech", *argv) == 0
    out = capsys.readouterr().out
    assert f"proposed lot {LOT} v2" in out and "1 proposed, 9 unchanged" in out
    missing = ("masterfile", "import", str(tmp_path / "nowhere"), "--reason", "x")
    assert as_user(monkeypatch, data_dir, "tech", *missing) == 2
    _refused(capsys, "folder")


def test_export_then_import_signed_and_a_tampered_file_refused(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exported = tmp_path / "master-file.json"
    assert run(monkeypatch, data_dir, "masterfile", "export", str(exported)) == 0
    assert "exported 10 approved versions" in capsys.readouterr().out
    assert exported.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    nowhere = str(tmp_path / "no" / "such" / "folder" / "m.json")
    assert run(monkeypatch, data_dir, "masterfile", "export", nowhere) == 2
    _refused(capsys, "file")
    argv = ("masterfile", "import-signed", str(exported), "--reason", "from the control site")
    assert as_user(monkeypatch, data_dir, "tech", *argv) == 0
    assert "signature checked; 0 proposed, 10 unchanged" in capsys.readouterr().out
    document = json.loads(exported.read_text())
    document["versions"][0]["content"]["assay_percent"] = 120.0
    exported.write_text(json.dumps(document))
    assert as_user(monkeypatch, data_dir, "tech", *argv) == 2
    _refused(capsys, "versions[0].content_sha256")


def test_an_offline_command_says_its_master_data_are_the_unapproved_fixtures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rx = catalog.fixtures_dir() / "prescriptions" / "propranolol-child.json"
    assert main(["dose", str(rx)]) == 0
    assert "master data   fixtures (development source, not approved)" in capsys.readouterr().out
