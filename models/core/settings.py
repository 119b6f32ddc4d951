"""Tandem's settings: one class, read from `TANDEM_*` environment variables and an optional `.env`."""

from __future__ import annotations

import ipaddress
import math
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.core.vocabulary import LANGUAGES, BuyerType, Language

__all__ = ["LANGUAGES", "Language", "Settings", "get_settings"]


# Values a real deployment must never run with: refused wherever a secret is read.
PLACEHOLDER_SECRETS = frozenset({"changeme", "changethis", "secret", "password", "xxx"})
MIN_TOKEN_BITS = 256  # 32 random bytes
# ASCII lower case, upper case, digits, and anything else (33: ASCII punctuation and space).
_CHARACTER_CLASSES = (
    (lambda c: c.isascii() and c.islower(), 26),
    (lambda c: c.isascii() and c.isupper(), 26),
    (lambda c: c.isascii() and c.isdigit(), 10),
    (lambda c: not (c.isascii() and c.isalnum()), 33),
)


def estimated_bits(token: str) -> float:
    """Estimate a token's entropy: its length times the bits of the character classes it draws from.

    A token of fewer than 10 distinct characters (`aaaa...`, `abab...`) counts as guessable.
    """
    if len(set(token)) < 10:
        return 0.0
    alphabet = sum(size for test, size in _CHARACTER_CLASSES if any(map(test, token)))
    return len(token) * math.log2(alphabet)


class Settings(BaseSettings):
    """Effective configuration of one Tandem installation."""

    model_config = SettingsConfigDict(
        env_prefix="TANDEM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(
        default=Path("~/.tandem"),
        description="Folder for the default database, keys and documents.",
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in home.")
    default_language: Language = Field(default="en", description="Language when a contact has none.")
    timezone: str = Field(default="UTC", description="The organization's timezone (IANA name).")
    organization_name: str = Field(default="Our organization", description="Our name in documents.")
    buyer_type: BuyerType = Field(
        default=BuyerType.enterprise,
        description="What we are under the payment laws: enterprise or public_body (a contract may differ).",
    )
    library_overlay: Path | None = Field(default=None, description="Folder of extra checklist YAML files.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key for encrypting channels and signing links; default: a key file in home.",
    )

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "tandem@localhost"
    smtp_password_block: str | None = Field(
        default=None, description="Prefect Secret block holding the SMTP password."
    )
    apprise_config: Path | None = Field(
        default=None, description="Apprise YAML config with team channels by tag."
    )

    quiet_hours_start: int = Field(
        default=20, ge=0, le=23, description="Local hour from which nothing is sent."
    )
    quiet_hours_end: int = Field(
        default=8, ge=0, le=23, description="Local hour until which nothing is sent."
    )
    business_days: str = Field(default="1,2,3,4,5", description="ISO weekdays on which messages go out.")

    portal_base_url: str = "http://127.0.0.1:8000"
    event_source: str | None = Field(
        default=None, description="CloudEvents `source` of outbound events; default: portal_base_url."
    )
    webhook_report_team: str = Field(
        default="admin",
        description="Team tag (TANDEM_APPRISE_CONFIG) told when a webhook delivery is dead; "
        "else the relationship's manager.",
    )
    portal_link_days: int = Field(default=30, ge=1, le=365)
    dashboard_token: SecretStr | None = Field(
        default=None, description="Bearer token of the dashboard: at least 32 random bytes."
    )
    dashboard_trusted_header: str | None = None
    dashboard_trusted_proxy: str | None = Field(
        default=None,
        description="Address(es) of the reverse proxy allowed to set the trusted header, comma-separated.",
    )

    # Sign-in (docs/IDENTITY.md). Sessions live on the server; the browser holds only a random id.
    token: SecretStr | None = Field(
        default=None, description="A personal token (`tandem user token`): the CLI acts as its user."
    )
    session_idle_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="A session ends after this idle time."
    )
    session_max_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="A session ends this long after sign-in."
    )
    sign_in_link_minutes: int = Field(default=15, ge=1, le=60, description="An emailed sign-in link's life.")
    action_link_hours: int = Field(
        default=72, ge=1, le=24 * 30, description="An action link's life (approvals)."
    )
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer URL; unset: emailed links only."
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_role_claim: str | None = Field(
        default=None, description="ID token claim holding the person's Tandem role(s), e.g. tandem_role."
    )
    oidc_label: str = Field(default="your organization's sign-in", description="The SSO button's words.")

    @field_validator("home", "library_overlay", "apprise_config")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("dashboard_trusted_proxy")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        addresses = [a.strip() for a in value.split(",") if a.strip()]
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise ValueError(f"{address!r} is not an IP address") from exc
        return ",".join(addresses)

    @field_validator("dashboard_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().lower() not in PLACEHOLDER_SECRETS:
            if estimated_bits(value.get_secret_value()) < MIN_TOKEN_BITS:
                raise ValueError(
                    "TANDEM_DASHBOARD_TOKEN is too weak: it needs at least 32 random bytes, for example "
                    "the output of `python -c 'import secrets; print(secrets.token_hex(32))'`"
                )
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        for name in ("secret_key", "smtp_password", "dashboard_token"):
            value = getattr(self, name)
            if value is not None and value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"TANDEM_{name.upper()} is a placeholder; set a real value")
        return self

    @property
    def effective_database_url(self) -> str:
        """Return the configured database URL, or the SQLite file in home."""
        return self.database_url or f"sqlite:///{self.home / 'tandem.db'}"

    @property
    def trusted_proxies(self) -> frozenset[str]:
        """Return the addresses whose trusted header the dashboard believes."""
        return frozenset((self.dashboard_trusted_proxy or "").split(",")) - {""}

    @property
    def tz(self) -> ZoneInfo:
        """Return the organization's timezone."""
        return ZoneInfo(self.timezone)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cleared by tests with `get_settings.cache_clear()`)."""
    return Settings()
