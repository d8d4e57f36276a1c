"""The product's one settings object, read from the environment once and passed to who needs it.

The CLI, the job service, the API and the pages all take their data directory, database URL,
pharmacy identity (printed on labels) and session idle time from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from printmed.errors import InputError

DEFAULT_DATA_DIR = "data"
DEFAULT_PHARMACY_NAME = "Point-of-care pharmacy (set PRINTMED_PHARMACY_NAME)"
DEFAULT_PHARMACY_ADDRESS = "(set PRINTMED_PHARMACY_ADDRESS)"


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

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: the process environment).

    PRINTMED_DATA_DIR, DATABASE_URL, PRINTMED_PHARMACY_NAME, PRINTMED_PHARMACY_ADDRESS,
    PRINTMED_SESSION_IDLE_MINUTES, PRINTMED_BATCH_PREFIX, PRINTMED_TOKEN_SECRET,
    PRINTMED_RATE_LIMIT_PER_MINUTE, PRINTMED_BALANCE_PORT, PRINTMED_BALANCE_BAUD.
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
    )


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise InputError(name, text, "is not a whole number above 0")
    return int(text)
