"""The product's one settings object, read from the environment once and passed to who needs it.

The CLI, the job service, the API and the pages all take their data directory, database URL,
pharmacy identity (printed on labels) and session idle time from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from printmed.errors import InputError

DEFAULT_DATA_DIR = "data"
DEFAULT_PHARMACY_NAME = "Point-of-care pharmacy (set PRINTMED_PHARMACY_NAME)"
DEFAULT_PHARMACY_ADDRESS = "(set PRINTMED_PHARMACY_ADDRESS)"
# The service key and the chain's checkpoints: outside the data folder, so that whoever holds
# the database (or a copy of the data folder) does not hold them.
DEFAULT_KEY_DIR = "~/.config/printmed/keys"


@dataclass(frozen=True)
class SignInPolicy:
    """The sign-in defence (printmed.auth.lockout), counted over the last `window_minutes`.

    A failure is forgiven once the same name signs in from the same address. An address may fail
    `address_free_failures` times, an account (as typed) `account_free_failures` times since its
    last sign-in; each failure beyond waits `first_delay_s`, doubling, at most `max_delay_s`. An
    account locks after `lock_failures` failures from at least `lock_addresses` addresses, while
    fewer than `max_locked` accounts are locked.
    """

    window_minutes: int = 1440
    address_free_failures: int = 5
    account_free_failures: int = 3
    first_delay_s: int = 1
    max_delay_s: int = 900
    lock_failures: int = 10
    lock_addresses: int = 2
    max_locked: int = 3


@dataclass(frozen=True)
class ObservationWindows:
    """How old a body weight or height may be, in days before the order was written, by the
    patient's age then (printmed.intake.clinical). An unknown age gets the strictest window."""

    under_1_year_days: int = 30
    under_18_years_days: int = 90
    adult_days: int = 365

    def days_for(self, age_years: float | None) -> int:
        if age_years is None or age_years < 1:
            return min(self.under_1_year_days, self.under_18_years_days, self.adult_days)
        return self.under_18_years_days if age_years < 18 else self.adult_days


def observation_windows(environ: Mapping[str, str] | None = None) -> ObservationWindows:
    """PRINTMED_OBSERVATION_MAX_AGE_DAYS_UNDER_1, _UNDER_18 and _ADULT (whole days)."""
    env = os.environ if environ is None else environ
    name = "PRINTMED_OBSERVATION_MAX_AGE_DAYS_"
    return ObservationWindows(
        under_1_year_days=_whole(env, name + "UNDER_1", 30),
        under_18_years_days=_whole(env, name + "UNDER_18", 90),
        adult_days=_whole(env, name + "ADULT", 365),
    )


@dataclass(frozen=True)
class Settings:
    """Where data lives and who the pharmacy is.

    data_dir: folder of the embedded SQLite store and generated documents.
    database_url: SQLAlchemy URL; SQLite file in data_dir unless DATABASE_URL says otherwise.
    session_idle_minutes: a page session ends after this long without a request.
    """

    data_dir: Path
    database_url: str
    pharmacy_name: str
    pharmacy_address: str
    session_idle_minutes: float
    batch_prefix: str
    # The HTTP API (printmed.app): JWT signing key (None: a key file in data_dir), client token
    # lifetime, largest request body, requests per minute per caller.
    token_secret: str | None = None
    token_minutes: float = 60.0
    max_request_bytes: int = 1_000_000
    rate_limit_per_minute: int = 600
    # The weighing page: the serial port (or pyserial URL) of the bench balance, if one is fitted.
    balance_port: str | None = None
    balance_baud: int = 9600
    # How recent a body weight or height must be for the patient's age (printmed.intake).
    observation_windows: ObservationWindows = field(default_factory=ObservationWindows)
    # The records' keys (printmed.keys): the service signing key (0600), the trusted public keys
    # and the chain's signed checkpoints; a checkpoint every this many entries (and at every
    # state change of a batch).
    key_dir: Path = field(default_factory=lambda: Path(DEFAULT_KEY_DIR).expanduser())
    checkpoint_every: int = 100
    sliced_parts_kept: int = 32  # tablets' slicings remembered by a service process (0: none)
    # Throttling and locking of sign-ins (PRINTMED_SIGN_IN_*; README "Sign-in under attack").
    sign_in: SignInPolicy = field(default_factory=SignInPolicy)
    # The calibration loop (printmed.jobs.calibration): a new factor is proposed when the fit of
    # weighed mass on programmed volume says content per mm³ is off by more than this (%), from
    # the units of at most this many of the lot's latest released batches on the printer.
    calibration_margin_percent: float = 0.5
    calibration_window_batches: int = 6
    # The site this service runs for (`sites.code`; README "Sites"): its workers drive only that
    # site's printers. Several sites share one PostgreSQL database (DATABASE_URL), one each.
    site_code: str = "main"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: the process environment).

    PRINTMED_DATA_DIR, DATABASE_URL, PRINTMED_PHARMACY_NAME, PRINTMED_PHARMACY_ADDRESS,
    PRINTMED_SESSION_IDLE_MINUTES, PRINTMED_BATCH_PREFIX, PRINTMED_TOKEN_SECRET,
    PRINTMED_RATE_LIMIT_PER_MINUTE, PRINTMED_BALANCE_PORT, PRINTMED_BALANCE_BAUD,
    PRINTMED_KEY_DIR (refused inside the data folder), PRINTMED_CHECKPOINT_EVERY,
    PRINTMED_SLICED_PARTS_KEPT,
    PRINTMED_OBSERVATION_MAX_AGE_DAYS_UNDER_1 / _UNDER_18 / _ADULT,
    PRINTMED_CALIBRATION_MARGIN_PERCENT, PRINTMED_CALIBRATION_WINDOW_BATCHES, PRINTMED_SITE.
    """
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("PRINTMED_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'printmed.sqlite'}"
    idle_text = env.get("PRINTMED_SESSION_IDLE_MINUTES", "15")
    try:
        idle = float(idle_text)
    except ValueError:
        raise InputError("PRINTMED_SESSION_IDLE_MINUTES", idle_text, "is not a number") from None
    if not 1 <= idle <= 24 * 60:
        raise InputError("PRINTMED_SESSION_IDLE_MINUTES", idle, "is not between 1 and 1440")
    prefix = env.get("PRINTMED_BATCH_PREFIX", "PM")
    if not prefix.isalnum() or len(prefix) > 8:
        raise InputError("PRINTMED_BATCH_PREFIX", prefix, "is not 1-8 letters or digits")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        pharmacy_name=env.get("PRINTMED_PHARMACY_NAME") or DEFAULT_PHARMACY_NAME,
        pharmacy_address=env.get("PRINTMED_PHARMACY_ADDRESS") or DEFAULT_PHARMACY_ADDRESS,
        session_idle_minutes=idle,
        batch_prefix=prefix,
        token_secret=env.get("PRINTMED_TOKEN_SECRET") or None,
        rate_limit_per_minute=_whole(env, "PRINTMED_RATE_LIMIT_PER_MINUTE", 600),
        balance_port=env.get("PRINTMED_BALANCE_PORT") or None,
        balance_baud=_whole(env, "PRINTMED_BALANCE_BAUD", 9600),
        observation_windows=observation_windows(env),
        key_dir=_key_dir(env, data_dir),
        checkpoint_every=_whole(env, "PRINTMED_CHECKPOINT_EVERY", 100),
        sliced_parts_kept=_whole(env, "PRINTMED_SLICED_PARTS_KEPT", 32, least=0),
        sign_in=_sign_in_policy(env),
        calibration_margin_percent=_calibration_margin(env),
        calibration_window_batches=_whole(env, "PRINTMED_CALIBRATION_WINDOW_BATCHES", 6),
        site_code=site_code(env.get("PRINTMED_SITE") or "main", "PRINTMED_SITE"),
    )


def site_code(text: str, field_name: str = "code") -> str:
    """A site's code as stored: 1-32 lower-case letters, digits or '-', starting with a letter."""
    code = text.strip()
    if not (
        1 <= len(code) <= 32
        and code[0].isascii()
        and code[0].isalpha()
        and all(c.isascii() and (c.isdigit() or c.islower() or c == "-") for c in code)
    ):
        raise InputError(field_name, text, "is not 1-32 lower-case letters, digits or '-'")
    return code


def _calibration_margin(env: Mapping[str, str]) -> float:
    text = env.get("PRINTMED_CALIBRATION_MARGIN_PERCENT", "0.5")
    try:
        margin = float(text)
    except ValueError:
        raise InputError("PRINTMED_CALIBRATION_MARGIN_PERCENT", text, "is not a number") from None
    if not 0.1 <= margin <= 10:
        raise InputError("PRINTMED_CALIBRATION_MARGIN_PERCENT", margin, "is not 0.1 to 10")
    return margin


def _sign_in_policy(env: Mapping[str, str]) -> SignInPolicy:
    """PRINTMED_SIGN_IN_WINDOW_MINUTES, _ADDRESS_FREE_FAILURES, _ACCOUNT_FREE_FAILURES,
    _FIRST_DELAY_S, _MAX_DELAY_S, _LOCK_FAILURES, _LOCK_ADDRESSES, _MAX_LOCKED."""
    default = SignInPolicy()
    numbers = {
        name: _whole(env, f"PRINTMED_SIGN_IN_{name.upper()}", getattr(default, name))
        for name in SignInPolicy.__dataclass_fields__
    }
    return SignInPolicy(**numbers)


def _key_dir(env: Mapping[str, str], data_dir: Path) -> Path:
    key_dir = Path(env.get("PRINTMED_KEY_DIR") or DEFAULT_KEY_DIR).expanduser().resolve()
    if key_dir == data_dir or data_dir in key_dir.parents:
        raise InputError("PRINTMED_KEY_DIR", str(key_dir), f"is inside the data folder {data_dir}")
    return key_dir


def _whole(env: Mapping[str, str], name: str, default: int, least: int = 1) -> int:
    text = env.get(name, str(default))
    if not text.isdigit() or int(text) < least:
        raise InputError(name, text, f"is not a whole number of at least {least}")
    return int(text)
