"""The keys that make the record tamper-evident: the service's Ed25519 key (a 0600 file outside
the data folder) and each signer's Ed25519 key, sealed under a key derived from their password.

Key folder (settings.key_dir): `service-ed25519.pem` (private, 0600), `trusted/<key id>.pub`
(every service public key ever used: what a verifier needs), `checkpoints/` (printmed.checkpoints).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from printmed.errors import InputError
from printmed.settings import load_settings

SERVICE_KEY_FILE = "service-ed25519.pem"
TRUSTED_DIR = "trusted"
RETIRED_DIR = "retired"
# scrypt for a signer's key: 2**15 × 8 × 1 is 32 MiB and about 70 ms on the 2-core test machine,
# paid only when a password is set or a signature is made, never per request.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
NONCE_BYTES = 12


class KeyFileExposed(InputError):
    """The service's private key file is readable by others than its owner."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__("key file", str(path), f"has mode {mode:04o}; it must be 0600")


class WrongKeyPassword(InputError):
    """The password does not open the sealed signing key."""

    def __init__(self, username: str) -> None:
        super().__init__("password", "(hidden)", f"does not open the signing key of {username!r}")


def signed_text(purpose: str, message: str) -> bytes:
    """What is signed: the purpose first, so a signature for one thing never verifies another."""
    return f"printmed/{purpose}/v1\n{message}".encode()


def key_id_of(public: Ed25519PublicKey) -> str:
    """16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_hex(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def verifies(public: Ed25519PublicKey, purpose: str, message: str, signature_hex: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), signed_text(purpose, message))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class ServiceKey:
    """The service's signing key: signs every audit entry, each checkpoint, each signer's key."""

    private: Ed25519PrivateKey
    key_id: str

    def sign(self, purpose: str, message: str) -> str:
        """128 hex digits: Ed25519 over `signed_text(purpose, message)` (about 20 µs)."""
        return self.private.sign(signed_text(purpose, message)).hex()


@dataclass(frozen=True)
class TrustedKeys:
    """The service public keys a verifier trusts, by key id (from `trusted/` in the key folder)."""

    public: Mapping[str, Ed25519PublicKey]

    def verifies(self, key_id: str | None, purpose: str, message: str, signature_hex: str) -> bool:
        public = self.public.get(key_id or "")
        return public is not None and verifies(public, purpose, message, signature_hex)


@dataclass(frozen=True)
class KeySettings:
    key_dir: Path
    checkpoint_every: int


def key_settings() -> KeySettings:
    """The key folder and checkpoint interval of the settings, read once per environment (the
    audit trail asks at every entry; reading all settings costs about 0.1 ms)."""
    env = os.environ
    names = ("PRINTMED_KEY_DIR", "PRINTMED_DATA_DIR", "PRINTMED_CHECKPOINT_EVERY", "HOME")
    return _key_settings(os.getcwd(), *(env.get(name) for name in names))


@functools.lru_cache(maxsize=16)
def _key_settings(_cwd: str, *_environment: str | None) -> KeySettings:
    settings = load_settings()
    return KeySettings(settings.key_dir, settings.checkpoint_every)


def configured_key_dir() -> Path:
    return key_settings().key_dir


def service_key(key_dir: Path | None = None) -> ServiceKey:
    """The service key of `key_dir` (default: the settings'), created (0600) on first use."""
    return _service_key(str((key_dir or configured_key_dir()).resolve()))


@functools.lru_cache(maxsize=16)
def _service_key(folder: str) -> ServiceKey:
    key_dir = Path(folder)
    path = key_dir / SERVICE_KEY_FILE
    if not path.exists():
        _create_service_key(key_dir)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileExposed(path, mode)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise InputError("key file", str(path), "is not an Ed25519 private key")
    key = ServiceKey(private, key_id_of(private.public_key()))
    _trust(key_dir, private.public_key())
    return key


def _create_service_key(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _publish(key_dir / SERVICE_KEY_FILE, pem, 0o600)


def _publish(path: Path, content: bytes, mode: int) -> None:
    """Write a file that readers never see half-written or with a wider mode: a temporary file
    created with `mode`, then a hard link to the final name (a no-op if another process won)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    try:
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink()


def _trust(key_dir: Path, public: Ed25519PublicKey) -> None:
    folder = key_dir / TRUSTED_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{key_id_of(public)}.pub"
    if not path.exists():
        _publish(path, raw_public(public).hex().encode() + b"\n", 0o644)


def trusted_keys(key_dir: Path | None = None) -> TrustedKeys:
    """Every service public key in `key_dir`/trusted (a verifier needs only these files and the
    checkpoints); nothing is created."""
    folder = (key_dir or configured_key_dir()) / TRUSTED_DIR
    found: dict[str, Ed25519PublicKey] = {}
    for path in sorted(folder.glob("*.pub")) if folder.is_dir() else []:
        public = public_from_hex(path.read_text().strip())
        found[key_id_of(public)] = public
    return TrustedKeys(found)


def rotate_service_key(key_dir: Path | None = None) -> tuple[str, str]:
    """A new service key; the old private key moves to `retired/` (take it offline), its public
    key stays trusted so everything it signed still verifies. Returns (old id, new id)."""
    folder = (key_dir or configured_key_dir()).resolve()
    old = service_key(folder)
    retired = folder / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    os.replace(folder / SERVICE_KEY_FILE, retired / f"{old.key_id}.pem")
    _service_key.cache_clear()
    return old.key_id, service_key(folder).key_id


@dataclass(frozen=True)
class SealedKey:
    """A signer's Ed25519 private key, AES-256-GCM-sealed under scrypt(password, salt)."""

    public_hex: str
    sealed_hex: str
    salt_hex: str
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


def _key_from_password(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def seal(private: Ed25519PrivateKey, password: str, owner: str) -> SealedKey:
    """Seal `private` under `password`; `owner` (the username) is bound in as associated data."""
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(NONCE_BYTES)
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    box = AESGCM(_key_from_password(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    sealed = nonce + box.encrypt(nonce, raw, owner.encode("utf-8"))
    return SealedKey(raw_public(private.public_key()).hex(), sealed.hex(), salt.hex())


def unseal(sealed: SealedKey, password: str, owner: str) -> Ed25519PrivateKey:
    """The private key, or WrongKeyPassword."""
    blob = bytes.fromhex(sealed.sealed_hex)
    box = AESGCM(
        _key_from_password(password, bytes.fromhex(sealed.salt_hex), sealed.n, sealed.r, sealed.p)
    )
    try:
        raw = box.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], owner.encode("utf-8"))
    except InvalidTag:
        raise WrongKeyPassword(owner) from None
    private = Ed25519PrivateKey.from_private_bytes(raw)
    if raw_public(private.public_key()).hex() != sealed.public_hex:
        raise WrongKeyPassword(owner)
    return private
