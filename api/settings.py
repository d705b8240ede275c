"""Settings of the service, read from ``KANSENKAART_*`` environment variables.

Two classes, one per concern: :class:`StoreSettings` (where the data and the user database are;
enough for ``kansenkaart users …``) and :class:`Settings` (everything the web service needs).
Settings are built once by the caller and passed into :func:`api.main.create_app`; nothing here
is read at import time. The secret key has no default outside development mode
(``KANSENKAART_DEV=1``).
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.postgres import is_postgres_url
from api.security import Passwords, Throttle

DEFAULT_BASEMAP_URL = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"
)
DEFAULT_BASEMAP_ATTRIBUTION = "Kaartgegevens &copy; Kadaster (BRT-Achtergrondkaart)"
MIN_SECRET_LENGTH = 32


class StoreSettings(BaseSettings):
    """Where the scan result and the user database live.

    ``result`` is the result GeoPackage, or the URL of a PostgreSQL database a result was
    published to (``kansenkaart publish``). ``database`` (users, sessions, tokens, throttling,
    audit; :mod:`api.db`) is a SQLite file path or a PostgreSQL URL; several service processes
    share one PostgreSQL database.
    """

    model_config = SettingsConfigDict(env_prefix="KANSENKAART_", extra="ignore")

    result: str = "data/processed/kansenkaart.gpkg"
    database: str = "data/processed/kansenkaart-users.sqlite"
    #: Migrate the database to the newest schema at start-up (else: refuse an older schema and
    #: ask for ``kansenkaart db upgrade``).
    db_auto_upgrade: bool = True
    #: Connections per process to each PostgreSQL database (result and service state).
    db_pool_size: int = Field(default=8, ge=1, le=100)
    #: The regional match's config (a YAML like pipeline/match/default.yaml; empty: the shipped
    #: one). Its ``reference_date`` (else today) starts the planning horizon.
    match_config: Path | None = None
    #: How often (seconds) a PostgreSQL result source checks for a newer publish.
    result_poll_seconds: float = Field(default=2.0, ge=0)
    #: argon2id cost; keep the defaults in production (lower values are for the test suite).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)

    def passwords(self) -> Passwords:
        return Passwords(time_cost=self.argon2_time_cost, memory_kib=self.argon2_memory_kib)

    @field_validator("result", mode="before")
    @classmethod
    def _result_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @property
    def database_is_postgres(self) -> bool:
        return is_postgres_url(self.database)

    @property
    def result_is_postgres(self) -> bool:
        return is_postgres_url(self.result)

    @property
    def result_path(self) -> Path:
        """The result GeoPackage (only when ``result`` is not a database URL)."""
        return Path(self.result)


class Settings(StoreSettings):
    """Everything the web service needs (see the README for each variable)."""

    dev: bool = False
    secret_key: SecretStr | None = None

    basemap_url: str = DEFAULT_BASEMAP_URL
    basemap_attribution: str = DEFAULT_BASEMAP_ATTRIBUTION
    #: Origins allowed to call the api from another site (comma-separated); empty = CORS closed.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    static_dir: Path = Path("api/static/dist")
    #: The address clients use (e.g. ``https://kansenkaart.provincie.nl``), for the absolute links
    #: of the OGC API and the style documents; empty = the address of each request.
    public_url: str = ""
    #: ``auto`` = Secure cookies, except over plain HTTP on this machine itself (a loopback
    #: client asking for localhost/127.0.0.1/::1, i.e. development).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    #: Reverse proxies (addresses or networks, comma-separated) whose ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` are believed; empty = none (the headers are ignored).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    #: How long an instance may reuse a session it has just validated without reading the
    #: database again (api/README.md "Sessions across instances"): a logout, disabled account or
    #: new password made on *another* instance (or with the CLI) takes effect here within this
    #: many seconds; on the same instance at once. 0 reads the database on every request.
    session_cache_seconds: float = Field(default=1.0, ge=0, le=5)
    # Login throttling (api/README.md "Login throttling"): free failed attempts per key, then a
    # delay that doubles with every further failure, up to the maximum.
    login_free_attempts: int = Field(default=5, ge=1)  # per account *and* address
    login_free_attempts_per_address: int = Field(default=20, ge=1)  # per address, any account
    login_free_attempts_per_account: int = Field(default=10, ge=1)  # per account, unknown addresses
    login_delay_seconds: float = Field(default=1.0, gt=0)
    login_max_delay_seconds: float = Field(default=900.0, gt=0)
    #: A counter with no attempt for this long starts again from zero.
    login_forget_seconds: float = Field(default=86_400.0, gt=0)
    #: An address the account logged in from within this many days is one of its usual addresses.
    login_known_address_days: float = Field(default=90.0, gt=0)
    #: Password checks (argon2id, 64 MiB each) running at once; more wait their turn.
    password_concurrency: int = Field(default=2, ge=1, le=16)
    token_days: int = Field(default=365, ge=1)
    #: Longest lifetime a token may be given (days); longer requests are refused.
    token_max_days: int = Field(default=365, ge=1, le=3650)

    tile_cache_mb: int = Field(default=64, ge=0)
    tile_max_bytes: int = Field(default=500_000, ge=1_000)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.netloc or parts.query):
            raise ValueError(
                "KANSENKAART_PUBLIC_URL must be an http(s) address such as "
                "https://kansenkaart.example.nl (optionally with a path prefix), or empty"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip().rstrip("/") for v in value.split(",") if v.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        bad = []
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                bad.append(item)
        if bad:
            raise ValueError(
                f"not an IP address or network: {', '.join(bad)} (e.g. 10.0.0.2 or 10.0.0.0/24)"
            )
        return value

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(v, strict=False) for v in self.trusted_proxies]

    @model_validator(mode="after")
    def _token_days_within_max(self) -> Settings:
        if self.token_days > self.token_max_days:
            raise ValueError(
                f"KANSENKAART_TOKEN_DAYS ({self.token_days}) must not exceed "
                f"KANSENKAART_TOKEN_MAX_DAYS ({self.token_max_days})"
            )
        return self

    @model_validator(mode="after")
    def _throttle_consistent(self) -> Settings:
        if self.login_forget_seconds <= self.login_max_delay_seconds:
            raise ValueError(
                "KANSENKAART_LOGIN_FORGET_SECONDS must be larger than "
                "KANSENKAART_LOGIN_MAX_DELAY_SECONDS (else waiting out the longest delay would "
                "also reset the count of failures)"
            )
        return self

    def throttle(self) -> Throttle:
        """The login throttling rules of these settings."""
        return Throttle(
            pair_free=self.login_free_attempts,
            address_free=self.login_free_attempts_per_address,
            account_free=self.login_free_attempts_per_account,
            delay=self.login_delay_seconds,
            max_delay=self.login_max_delay_seconds,
            forget=self.login_forget_seconds,
            known_address=self.login_known_address_days * 86_400.0,
        )

    @model_validator(mode="after")
    def _secret_required_outside_dev(self) -> Settings:
        if self.secret_key is None or not self.secret_key.get_secret_value():
            if not self.dev:
                raise ValueError(
                    "KANSENKAART_SECRET_KEY is required (a random string of at least "
                    f"{MIN_SECRET_LENGTH} characters, e.g. the output of "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
                    "or set KANSENKAART_DEV=1 for local development only"
                )
            # Development mode: a fresh key per process (sessions end at restart).
            self.secret_key = SecretStr(secrets.token_urlsafe(48))
        elif len(self.secret_key.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"KANSENKAART_SECRET_KEY is too short: use at least {MIN_SECRET_LENGTH} random characters"
            )
        return self

    @property
    def secret(self) -> bytes:
        assert self.secret_key is not None  # guaranteed by the validator
        return self.secret_key.get_secret_value().encode()

    def page_dir(self) -> Path:
        """The built web map: ``static_dir`` as given, or relative to the checkout when not found."""
        if self.static_dir.is_absolute() or self.static_dir.is_dir():
            return self.static_dir
        beside_package = Path(__file__).resolve().parent.parent / self.static_dir
        return beside_package if beside_package.is_dir() else self.static_dir

    @property
    def basemap_origin(self) -> str | None:
        """``scheme://host[:port]`` of the basemap, for the Content-Security-Policy."""
        if not self.basemap_url:
            return None
        parts = urlsplit(self.basemap_url)
        if not parts.scheme or not parts.netloc:
            return None
        return f"{parts.scheme}://{parts.netloc}"
