"""Each signer's Ed25519 key: sealed under their password (scrypt, AES-GCM), certified by the
service key; a password change reseals it, a reset issues a new pair and keeps the old one so
that what it signed stays verifiable; an account made before keys gets one at its next sign-in;
and only `release()` may make a 'released' signature."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from printmed import audit, keys
from printmed.auth.users import (
    USER_KEY_PURPOSE,
    AccountNotAsRecorded,
    AuthenticationFailed,
    SigningKeyMissing,
    authenticate,
    certificate_text,
    current_key,
    get_user,
    hash_password,
    set_password,
    unseal_key,
)
from printmed.cli import main
from printmed.records.integrity import SIGNATURE_PURPOSE, digital_signature_problem
from printmed.records.signatures import (
    ReleasedOnlyByRelease,
    Signer,
    authenticate_signer,
    sign,
)
from printmed.store import Store, open_store
from printmed.store.models import AuditEntry, Batch, Signature, User, UserKey
from tests.records.builders import PASSWORD, add_users
from tests.records.forgery import forged_user_key, unsigned_entry, use_key_dir

NEW_PASSWORD = "a different passphrase"
PACKAGE = Path(__file__).resolve().parents[2] / "printmed"


@pytest.fixture
def key_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return use_key_dir(monkeypatch, tmp_path / "keys")


def _keys_of(store: Store, username: str) -> list[UserKey]:
    with store.session() as session:
        query = select(UserKey).where(UserKey.username == username).order_by(UserKey.id)
        return list(session.scalars(query))


def _signed_note(store: Store, username: str, password: str) -> Signature:
    """A signature row (not stored) made the way sign() makes one, over a fixed hash."""
    with store.session() as session:
        signer = authenticate_signer(session, username, password, "reviewed")
        note = Signature(
            batch_number="PM-NOTE",
            user_id=signer.user.id,
            username=username,
            signature_hash="ab" * 32,
            user_key_id=signer.key.id,
        )
        note.digital_signature = signer.private_key.sign(
            keys.signed_text(SIGNATURE_PURPOSE, note.signature_hash)
        ).hex()
        return note


def _problem(store: Store, signature: Signature) -> str | None:
    with store.session() as session:
        return digital_signature_problem(session, signature, keys.trusted_keys())


def test_each_user_gets_a_sealed_key_certified_by_the_service_key(
    store: Store, key_dir: Path
) -> None:
    add_users(store, "pharm")
    [key] = _keys_of(store, "pharm")
    private = unseal_key(key, PASSWORD)
    raw = private.private_bytes_raw().hex()
    assert raw not in key.sealed_private_key  # only sealed in the database
    assert (key.kdf_n, key.kdf_r, key.kdf_p) == (2**15, 8, 1)
    assert keys.trusted_keys().verifies(
        key.service_key_id, USER_KEY_PURPOSE, certificate_text(key), key.certificate
    )


def test_the_signing_key_opens_only_with_the_signers_password(store: Store, key_dir: Path) -> None:
    add_users(store, "pharm")
    [key] = _keys_of(store, "pharm")
    with pytest.raises(keys.WrongKeyPassword, match="signing key of 'pharm'"):
        unseal_key(key, PASSWORD + "!")
    with store.session() as session, pytest.raises(AuthenticationFailed):
        authenticate_signer(session, "pharm", PASSWORD + "!", "reviewed")


def test_opening_a_signing_key_costs_32_mib_of_scrypt_each_guess(
    store: Store, key_dir: Path
) -> None:
    add_users(store, "pharm")
    [key] = _keys_of(store, "pharm")
    assert 128 * key.kdf_n * key.kdf_r == 32 * 2**20
    started = time.perf_counter()
    unseal_key(key, PASSWORD)
    assert time.perf_counter() - started > 0.005  # a load only makes it slower


def test_a_password_change_reseals_the_same_key(store: Store, key_dir: Path) -> None:
    users = add_users(store, "pharm")
    [before] = _keys_of(store, "pharm")
    with store.session() as session:
        set_password(
            session, users["pharm"], "pharm", NEW_PASSWORD, "routine", current_password=PASSWORD
        )
    [after] = _keys_of(store, "pharm")
    assert after.id == before.id and after.public_key == before.public_key
    assert after.sealed_private_key != before.sealed_private_key
    assert unseal_key(after, NEW_PASSWORD).public_key() is not None
    with pytest.raises(keys.WrongKeyPassword):
        unseal_key(after, PASSWORD)


def test_a_wrong_current_password_changes_nothing(store: Store, key_dir: Path) -> None:
    users = add_users(store, "pharm")
    with pytest.raises(AuthenticationFailed), store.session() as session:
        set_password(
            session, users["pharm"], "pharm", NEW_PASSWORD, "x", current_password="not it at all"
        )
    with store.session() as session:
        assert authenticate(session, "pharm", PASSWORD).username == "pharm"


def test_an_admin_reset_issues_a_new_key_and_old_signatures_stay_verifiable(
    store: Store, key_dir: Path
) -> None:
    users = add_users(store, "pharm", "boss")
    old_signature = _signed_note(store, "pharm", PASSWORD)
    assert _problem(store, old_signature) is None
    with store.session() as session:
        set_password(session, users["boss"], "pharm", NEW_PASSWORD, "forgotten")
    old, new = _keys_of(store, "pharm")
    assert old.retired_at is not None and new.retired_at is None
    assert new.public_key != old.public_key
    assert _problem(store, old_signature) is None
    assert _problem(store, _signed_note(store, "pharm", NEW_PASSWORD)) is None
    with store.session() as session:
        issued = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "user.key.issue")
        ).all()
    assert issued == ["system", "system", "boss"]


def test_an_account_made_before_keys_gets_one_at_its_next_sign_in(
    tmp_path: Path, key_dir: Path
) -> None:
    """As migration 0004 finds it: the user row and its unsigned `user.create` entry, which the
    first signed entry after the upgrade vouches for."""
    store = open_store(f"sqlite:///{tmp_path / 'upgraded.sqlite'}")
    try:
        _account_from_before_keys(store)
        with store.session() as session:
            audit.checkpoint(session, "system", "upgraded to signing keys")
        with store.session() as session:
            authenticate(session, "pharm", PASSWORD)
            key = current_key(session, get_user(session, "pharm"))
            assert key is not None
            assert unseal_key(key, PASSWORD).public_key() is not None
    finally:
        store.dispose()


def _account_from_before_keys(store: Store) -> None:
    """The row and the entry the code before keys wrote at an account's creation (no service
    signature), as the chain's first entry."""
    public = {"username": "pharm", "full_name": "Paula Pharmacist", "role": "pharmacist"}
    with store.session() as session:
        session.add(
            User(
                **public,
                password_hash=hash_password(PASSWORD),
                active=True,
                created_at="2025-01-01T00:00:00.000000+00:00",
            )
        )
        entry = unsigned_entry(
            1,
            audit.GENESIS_HASH,
            action="user.create",
            entity="user",
            entity_id="pharm",
            new={**public, "active": True},
        )
        session.add(entry)


def test_an_account_from_before_keys_is_not_believed_without_a_signed_entry_after_it(
    tmp_path: Path, key_dir: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'upgraded.sqlite'}")
    try:
        _account_from_before_keys(store)
        with store.session() as session, pytest.raises(AccountNotAsRecorded) as refused:
            authenticate(session, "pharm", PASSWORD)
        assert refused.value.problem == (
            "its audit entry 1 (user.create) is not the service's: it has no service signature "
            "and no signed entry vouches for it"
        )
        assert _keys_of(store, "pharm") == []
    finally:
        store.dispose()


def test_a_key_gone_from_the_store_is_not_replaced_at_sign_in(store: Store, key_dir: Path) -> None:
    """Whoever writes the database deletes a pharmacist's key and swaps in a password hash they
    know: signing in gives them no key the service certified."""
    add_users(store, "pharm")
    with store.session() as session:
        session.execute(delete(UserKey))
        session.execute(
            update(User)
            .where(User.username == "pharm")
            .values(password_hash=hash_password("x" * 12))
        )
    with store.session() as session:
        assert authenticate(session, "pharm", "x" * 12).username == "pharm"
        with pytest.raises(SigningKeyMissing) as refused:
            authenticate_signer(session, "pharm", "x" * 12, "reviewed")
    assert (refused.value.field, refused.value.value) == ("signing key", "pharm")
    assert _keys_of(store, "pharm") == []


def test_a_signature_with_a_key_the_service_did_not_certify_is_named(
    store: Store, key_dir: Path, tmp_path: Path
) -> None:
    users = add_users(store, "pharm")
    stranger = keys.service_key(tmp_path / "forger")
    with store.session() as session:
        user_key, private = forged_user_key(session, users["pharm"].id, "pharm", stranger)
    forged = Signature(
        user_id=users["pharm"].id,
        username="pharm",
        signature_hash="ab" * 32,
        user_key_id=user_key.id,
        digital_signature=private.sign(keys.signed_text(SIGNATURE_PURPOSE, "ab" * 32)).hex(),
    )
    assert _problem(store, forged) == (
        f"was made with key {user_key.id}, which no trusted service key certified"
    )


def test_a_signature_moved_to_another_record_is_named(store: Store, key_dir: Path) -> None:
    add_users(store, "pharm")
    moved = _signed_note(store, "pharm", PASSWORD)
    moved.signature_hash = "cd" * 32
    assert (
        _problem(store, moved)
        == f"does not verify against pharm's certified key {moved.user_key_id}"
    )


def test_sign_refuses_the_meaning_released(store: Store, key_dir: Path) -> None:
    add_users(store, "pharm")
    with store.session() as session:
        signer = authenticate_signer(session, "pharm", PASSWORD, "released")
        with pytest.raises(ReleasedOnlyByRelease) as refused:
            sign(session, Batch(batch_number="PM-ANY"), signer, "released")
    assert (refused.value.field, refused.value.value) == ("meaning", "released")
    assert isinstance(signer, Signer)


def test_only_release_makes_a_released_signature() -> None:
    """The one way to a 'released' signature is release_signature, and only release() calls it."""
    callers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\brelease_signature\(", path.read_text())
    )
    assert callers == ["records/release.py", "records/signatures.py"]


def _cli(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main([*argv, "--data-dir", str(data_dir)])


def test_users_passwd_reseals_your_own_key_and_resets_anothers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    store = open_store(f"sqlite:///{data_dir / 'printmed.sqlite'}")
    try:
        add_users(store, "pharm", "boss")
        [before] = _keys_of(store, "pharm")
        own = ("users", "passwd", "pharm", "--user", "pharm", "--password-stdin")
        assert _cli(monkeypatch, data_dir, *own, stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n") == 0
        [resealed] = _keys_of(store, "pharm")
        assert resealed.public_key == before.public_key
        assert unseal_key(resealed, NEW_PASSWORD).public_key() is not None
        reset = ("users", "passwd", "pharm", "--user", "boss", "--password-stdin")
        assert _cli(monkeypatch, data_dir, *reset, stdin=f"{PASSWORD}\n{PASSWORD}\n") == 0
        retired, issued = _keys_of(store, "pharm")
        assert retired.public_key == before.public_key and retired.retired_at is not None
        assert issued.public_key != before.public_key
    finally:
        store.dispose()


def test_records_rotate_key_keeps_the_old_key_trusted(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    key_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = keys.service_key().key_id
    assert _cli(monkeypatch, tmp_path / "data", "records", "rotate-key") == 0
    new = keys.service_key().key_id
    assert new != old
    assert capsys.readouterr().out == (
        f"service key {old} retired (its public key stays trusted); signing with {new}\n"
    )
    assert set(keys.trusted_keys().public) == {old, new}
