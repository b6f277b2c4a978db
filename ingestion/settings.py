"""Every value that differs between environments, read from the environment or `.env`.

This is the only module that reads the environment. Environment variables win over
`.env`, which python-decouple finds by searching upwards from the working directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from decouple import AutoConfig, UndefinedValueError
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from ingestion.errors import IngestionError

T = TypeVar("T")

DEFAULT_GO_LIVE_AT = "2026-06-01T16:00:00Z"
DEFAULT_LOCAL_PG_PORT = 54329
DEFAULT_LOCAL_PG_DIR = ".local/postgres"
DEFAULT_BI_ROLE = "bi_reader"
DEFAULT_PIPELINES_DIR = ".local/dlt"
# Limits of every source session; source_session.SessionLimits explains the choices.
DEFAULT_SOURCE_STATEMENT_TIMEOUT_SECONDS = 900.0
DEFAULT_SOURCE_LOCK_TIMEOUT_SECONDS = 5.0
DEFAULT_SOURCE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 60.0
DEFAULT_SOURCE_CONNECT_TIMEOUT_SECONDS = 10
# A source's sync that loses a connection is tried this many times in all, waiting 2 s,
# then 4, 8 and 16 (about 30 s: a replica or warehouse restart, a burst of clients).
DEFAULT_SYNC_RETRY_ATTEMPTS = 5
DEFAULT_SYNC_RETRY_BACKOFF_SECONDS = 2.0
MAX_SYNC_RETRY_ATTEMPTS = 20
MAX_TIMEOUT_SECONDS = 24 * 86400  # PostgreSQL keeps timeouts as int milliseconds
# Passed to dbt only when set; profiles.example.yml gives their defaults.
OPTIONAL_DBT_SETTINGS = ("DBT_TARGET", "WAREHOUSE_SSLMODE")
ENV_EXAMPLE_HINT = "set it in the environment or in .env (see .env.example)"


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the warehouse lives and who loads it."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)

    def url(self) -> URL:
        """SQLAlchemy URL of the warehouse; it hides the password when printed."""
        return URL.create(
            "postgresql+psycopg2",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
        )


@dataclass(frozen=True)
class LocalServerSettings:
    """The embedded PostgreSQL server that the demo and the tests run on."""

    port: int
    folder: Path
    bin_dir: Path | None


def _config() -> AutoConfig:
    return AutoConfig(search_path=str(Path.cwd()))


def _read(name: str, cast: Callable[[str], T], default: str | None = None) -> T:
    """Read one setting; a missing or malformed value becomes a one-line error."""
    try:
        raw = _config()(name) if default is None else _config()(name, default=default)
    except UndefinedValueError:
        raise IngestionError(f"setting {name} is missing: {ENV_EXAMPLE_HINT}") from None
    raw = str(raw).strip()
    if not raw and default is None:
        raise IngestionError(f"setting {name} is empty: {ENV_EXAMPLE_HINT}")
    try:
        return cast(raw)
    except (ValueError, ArgumentError) as error:
        # The value itself is never echoed: it may hold a password.
        raise IngestionError(f"setting {name} is malformed: {error}") from None


def _text(value: str) -> str:
    return value


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError("a port is a number from 1 to 65535")
    return port


def _aware_timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("expected an ISO timestamp such as 2026-06-01T16:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError("the timestamp needs a time zone, such as Z or +02:00")
    return moment


def _url(value: str) -> URL:
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError("expected a SQLAlchemy URL such as postgresql://user@host/db") from None
    if not url.database:
        raise ValueError("the URL names no database")
    if url.drivername == "postgresql":
        # SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://; we ship psycopg2.
        url = url.set(drivername="postgresql+psycopg2")
    return url


def _positive_seconds(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise ValueError(f"expected seconds greater than 0 and at most {MAX_TIMEOUT_SECONDS}")
    return seconds


def _connect_seconds(value: str) -> int:
    seconds = int(value)
    if seconds < 2:
        # libpq treats 1 as 2 and 0 as "wait forever".
        raise ValueError("expected a whole number of seconds, at least 2")
    return seconds


def _attempts(value: str) -> int:
    attempts = int(value)
    if not 1 <= attempts <= MAX_SYNC_RETRY_ATTEMPTS:
        raise ValueError(f"expected a whole number from 1 (no retry) to {MAX_SYNC_RETRY_ATTEMPTS}")
    return attempts


def _optional_url(value: str) -> URL | None:
    return _url(value) if value else None


def _optional_path(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


def warehouse() -> WarehouseSettings:
    """The warehouse connection settings (WAREHOUSE_* and its password)."""
    return WarehouseSettings(
        host=_read("WAREHOUSE_HOST", _text),
        port=_read("WAREHOUSE_PORT", _port, default="5432"),
        user=_read("WAREHOUSE_USER", _text),
        database=_read("WAREHOUSE_DB", _text),
        password=_read("DBT_ENV_SECRET_WAREHOUSE_PASSWORD", _text),
    )


def source_url_setting(source: str) -> str:
    """The name of the setting that holds a source database's URL."""
    return f"SOURCE_{source.upper()}_URL"


def source_url(source: str) -> URL:
    """The SQLAlchemy URL of one production source database (its read replica)."""
    return _read(source_url_setting(source), _url)


def source_statement_timeout_seconds() -> float:
    """Longest single statement on a source (SOURCE_STATEMENT_TIMEOUT_SECONDS)."""
    return _read(
        "SOURCE_STATEMENT_TIMEOUT_SECONDS",
        _positive_seconds,
        default=str(DEFAULT_SOURCE_STATEMENT_TIMEOUT_SECONDS),
    )


def source_lock_timeout_seconds() -> float:
    """Longest wait for a lock on a source (SOURCE_LOCK_TIMEOUT_SECONDS)."""
    return _read(
        "SOURCE_LOCK_TIMEOUT_SECONDS",
        _positive_seconds,
        default=str(DEFAULT_SOURCE_LOCK_TIMEOUT_SECONDS),
    )


def source_idle_in_transaction_timeout_seconds() -> float:
    """Longest idle open transaction on a source (SOURCE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS)."""
    return _read(
        "SOURCE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS",
        _positive_seconds,
        default=str(DEFAULT_SOURCE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS),
    )


def source_connect_timeout_seconds() -> int:
    """Longest wait to connect to a source (SOURCE_CONNECT_TIMEOUT_SECONDS)."""
    return _read(
        "SOURCE_CONNECT_TIMEOUT_SECONDS",
        _connect_seconds,
        default=str(DEFAULT_SOURCE_CONNECT_TIMEOUT_SECONDS),
    )


def sync_retry_attempts() -> int:
    """Attempts in all of a source's sync that loses a connection (SYNC_RETRY_ATTEMPTS)."""
    return _read("SYNC_RETRY_ATTEMPTS", _attempts, default=str(DEFAULT_SYNC_RETRY_ATTEMPTS))


def sync_retry_backoff_seconds() -> float:
    """The first wait before trying again, doubled each time (SYNC_RETRY_BACKOFF_SECONDS)."""
    return _read(
        "SYNC_RETRY_BACKOFF_SECONDS",
        _positive_seconds,
        default=str(DEFAULT_SYNC_RETRY_BACKOFF_SECONDS),
    )


def catalog_path() -> Path | None:
    """The catalog file to use instead of the packaged one (CATALOG_PATH; empty: packaged)."""
    return _read("CATALOG_PATH", _optional_path, default="")


def go_live_at() -> datetime:
    """The go-live instant of the launch (GO_LIVE_AT, an ISO timestamp with a zone)."""
    return _read("GO_LIVE_AT", _aware_timestamp, default=DEFAULT_GO_LIVE_AT)


def pii_hash_salt() -> str:
    """The salt for hashing PII columns (PII_HASH_SALT)."""
    return _read("PII_HASH_SALT", _text)


def bi_role() -> str:
    """The database role that BI dashboards use to read the marts (BI_ROLE)."""
    return _read("BI_ROLE", _text, default=DEFAULT_BI_ROLE)


def demo_admin_url() -> URL | None:
    """A role that may create and write the demo databases; None: the local server's."""
    return _read("DEMO_ADMIN_URL", _optional_url, default="")


def pipelines_dir() -> Path:
    """Where dlt keeps its pipelines' state and load packages (PIPELINES_DIR)."""
    folder = _read("PIPELINES_DIR", _text, default=DEFAULT_PIPELINES_DIR)
    return Path(folder).expanduser().absolute()


def local_server() -> LocalServerSettings:
    """Settings of the embedded PostgreSQL server (LOCAL_PG_*)."""
    folder = _read("LOCAL_PG_DIR", _text, default=DEFAULT_LOCAL_PG_DIR)
    return LocalServerSettings(
        port=_read("LOCAL_PG_PORT", _port, default=str(DEFAULT_LOCAL_PG_PORT)),
        folder=Path(folder).expanduser().absolute(),
        bin_dir=_read("LOCAL_PG_BIN", _optional_path, default=""),
    )


def dbt_environment() -> dict[str, str]:
    """The variables that profiles.yml and the dbt project read with env_var()."""
    settings = warehouse()
    return {
        "WAREHOUSE_HOST": settings.host,
        "WAREHOUSE_PORT": str(settings.port),
        "WAREHOUSE_USER": settings.user,
        "WAREHOUSE_DB": settings.database,
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": settings.password,
        "GO_LIVE_AT": go_live_at().isoformat(),
        "BI_ROLE": bi_role(),
        **{name: value for name in OPTIONAL_DBT_SETTINGS if (value := _optional(name))},
    }


def _optional(name: str) -> str:
    return _read(name, _text, default="")


# --- The embedded server's streaming standby (`ingestion local standby-start`) ---
DEFAULT_LOCAL_PG_STANDBY_PORT = 54330
DEFAULT_LOCAL_PG_STANDBY_DIR = ".local/standby"
# PostgreSQL's own default; with feedback off, replay cancels standby reads older than this.
DEFAULT_LOCAL_PG_STANDBY_MAX_STREAMING_DELAY_SECONDS = 30.0
MAX_STANDBY_DELAY_SECONDS = 2_147_483.0  # PostgreSQL keeps the delay as int milliseconds
_ON = frozenset({"on", "true", "yes", "1"})
_OFF = frozenset({"off", "false", "no", "0"})


@dataclass(frozen=True)
class LocalStandbySettings:
    """The streaming standby of the embedded server: a real read replica for the demo."""

    port: int
    folder: Path
    max_standby_streaming_delay_ms: int
    hot_standby_feedback: bool


def _standby_delay_ms(value: str) -> int:
    seconds = float(value)
    if seconds == -1:
        return -1
    if not 0 <= seconds <= MAX_STANDBY_DELAY_SECONDS:
        raise ValueError(
            f"expected seconds from 0 to {MAX_STANDBY_DELAY_SECONDS:.0f}, or -1 to wait forever"
        )
    return round(seconds * 1000)


def _on_off(value: str) -> bool:
    lowered = value.lower()
    if lowered in _ON:
        return True
    if lowered in _OFF:
        return False
    raise ValueError("expected on or off")


def local_standby() -> LocalStandbySettings:
    """Settings of the embedded server's streaming standby (LOCAL_PG_STANDBY_*)."""
    folder = _read("LOCAL_PG_STANDBY_DIR", _text, default=DEFAULT_LOCAL_PG_STANDBY_DIR)
    return LocalStandbySettings(
        port=_read("LOCAL_PG_STANDBY_PORT", _port, default=str(DEFAULT_LOCAL_PG_STANDBY_PORT)),
        folder=Path(folder).expanduser().absolute(),
        max_standby_streaming_delay_ms=_read(
            "LOCAL_PG_STANDBY_MAX_STREAMING_DELAY_SECONDS",
            _standby_delay_ms,
            default=str(DEFAULT_LOCAL_PG_STANDBY_MAX_STREAMING_DELAY_SECONDS),
        ),
        hot_standby_feedback=_read("LOCAL_PG_STANDBY_HOT_STANDBY_FEEDBACK", _on_off, default="off"),
    )


# --- Source profiling (`ingestion profile`) ---
# Profiling reads whole columns at once, so its statements get their own, shorter limit.
DEFAULT_PROFILE_STATEMENT_TIMEOUT_SECONDS = 30.0
DEFAULT_PROFILE_SAMPLE_ROWS = 100_000
MIN_PROFILE_SAMPLE_ROWS = 100


def _sample_rows(value: str) -> int:
    rows = int(value)
    if rows < MIN_PROFILE_SAMPLE_ROWS:
        raise ValueError(f"expected a whole number of rows, at least {MIN_PROFILE_SAMPLE_ROWS}")
    return rows


def profile_statement_timeout_seconds() -> float:
    """Longest single statement of `ingestion profile` (PROFILE_STATEMENT_TIMEOUT_SECONDS)."""
    return _read(
        "PROFILE_STATEMENT_TIMEOUT_SECONDS",
        _positive_seconds,
        default=str(DEFAULT_PROFILE_STATEMENT_TIMEOUT_SECONDS),
    )


def profile_sample_rows() -> int:
    """Tables estimated larger than this are profiled on a sample of about as many rows."""
    return _read("PROFILE_SAMPLE_ROWS", _sample_rows, default=str(DEFAULT_PROFILE_SAMPLE_ROWS))


# --- Dataset versions (`ingestion dataset`) ---
DEFAULT_DATASETS_URL = ".local/datasets"


def datasets_url() -> str:
    """Where dataset versions are stored: a folder or an fsspec URL (DATASETS_URL)."""
    return _read("DATASETS_URL", _text, default=DEFAULT_DATASETS_URL) or DEFAULT_DATASETS_URL
