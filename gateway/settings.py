"""Gateway settings, read from ``GATEWAY_*`` environment variables (then a ``.env`` file, then defaults).

Precedence (pydantic-settings): explicit arguments > environment > ``.env`` > secrets files in
``GATEWAY_SECRETS_DIR`` (one file per setting, named like the variable without the prefix) > the defaults below.
"""

from __future__ import annotations

import ipaddress
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.xmlparse import XmlLimits

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_file=".env",
        extra="ignore",
        secrets_dir=os.environ.get("GATEWAY_SECRETS_DIR") or None,
    )

    env: Literal["development", "production"] = Field(
        default="development",
        description="development creates a local admin key and migrates on start; production does neither",
    )
    data_dir: Path = Field(default=Path("var"), description="where the SQLite database and dev key files live")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/gateway.db. PostgreSQL: postgresql+psycopg://…",
    )
    db_pool_size: int = Field(default=5, ge=1, description="connections per process (PostgreSQL)")
    db_max_overflow: int = Field(default=5, ge=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="request bodies over this get 413")
    max_xml_depth: int = Field(default=256, ge=8, le=256, description="256 is libxml2's own limit (free)")
    max_xml_elements: int = Field(default=500_000, ge=100)
    rate_limit_per_second: float = Field(
        default=50.0,
        ge=0,
        description="sustained requests per second per API client (per address on public routes); 0: off",
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="requests a client may send at once above the rate")
    document_concurrency: int = Field(
        default_factory=lambda: max(4, 2 * (os.cpu_count() or 2)),
        ge=1,
        le=256,
        description="documents parsed, validated, translated or signed at once per process; others wait (default: "
        "twice the number of cores, at least 4: work that waits on the database overlaps work on the CPU)",
    )
    format_catalogs: list[Path] = Field(
        default_factory=list, description="extra format catalog files (TOML), JSON list in the env var"
    )
    log_level: str = "INFO"
    keys_dir: Path | None = Field(default=None, description="the keyring and key files; default <data_dir>/keys")
    key_publication_days: float = Field(
        default=7, ge=0, description="how long a new key is listed as 'next' in the capability document before it signs"
    )
    gateway_code: str = Field(default="LOCAL", pattern=r"^[A-Z0-9]{2,16}$", description="our connection code")
    gateway_name: str = "trade-gateway"
    gateway_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    public_inbox_url: str = Field(
        default="http://127.0.0.1:8000/v1/inbox", description="the inbox URL partners deliver to (published)"
    )
    public_audit_url: str | None = Field(
        default=None,
        description="the base URL of our audit API partners fetch consistency proofs from (published; default: the "
        "inbox URL with /v1/inbox replaced by /v1/audit)",
    )
    accepted_formats: list[str] = Field(default_factory=list, description="format ids we accept (empty: all detected)")
    issuer_trust: list[Path] = Field(
        default_factory=list,
        description="PEM files of the CAs that issuing bodies' signers chain to; a signed submission is verified "
        "against them (development default: the dev CA in the keys dir). JSON list in the env var",
    )
    run_worker: bool = Field(default=True, description="tradegw serve also runs the delivery worker")
    delivery_concurrency: int = Field(default=4, ge=1, le=64, description="deliveries in flight per worker process")
    delivery_max_attempts: int = Field(default=8, ge=1, description="attempts before an exchange ends failed")
    delivery_backoff_seconds: float = Field(default=2.0, gt=0, description="wait before the first retry (doubles)")
    delivery_backoff_max_seconds: float = Field(default=300.0, gt=0, description="longest wait between attempts")
    delivery_timeout_seconds: float = Field(default=30.0, gt=0, description="per request to a partner's inbox")
    delivery_lease_seconds: float = Field(
        default=120.0, gt=0, description="a claimed job returns to the queue if its worker has not finished by then"
    )
    delivery_client_cert: Path | None = Field(
        default=None,
        description="the client certificate (PEM) presented to partners whose servers ask for one; with "
        "delivery_client_key",
    )
    delivery_client_key: Path | None = Field(default=None, description="the private key of delivery_client_cert (PEM)")
    delivery_poll_seconds: float = Field(default=0.5, gt=0, description="how often an idle worker looks for jobs")
    idempotency_retention_hours: float = Field(default=24.0, gt=0, description="how long a key's answer is replayed")
    idempotency_lock_seconds: float = Field(
        default=60.0, gt=0, description="a key in flight for longer (its holder crashed) may be taken over"
    )
    inbox_max_skew_seconds: int = Field(default=300, ge=1, description="accepted difference of a delivery's Date")
    audit_origin: str | None = Field(
        default=None, description="the audit log's checkpoint origin line (default trade-gateway/<gateway code>)"
    )
    audit_checkpoint_seconds: float = Field(default=60.0, gt=0, description="sign a checkpoint at least this often")
    audit_checkpoint_entries: int = Field(default=1000, ge=1, description="or after this many new entries")
    audit_witness_seconds: float = Field(
        default=15.0, gt=0, description="how often partners' new checkpoints are checked (we are their witness)"
    )
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate (with its chain) tradegw serve answers HTTPS with (--tls-cert)"
    )
    tls_key: Path | None = Field(default=None, description="the private key of tls_cert, PEM (--tls-key)")
    client_ca: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that client certificates must chain to; with it every TLS client must "
        "present a certificate (--client-ca)",
    )
    client_cert_header: str = Field(
        default="X-SSL-Client-Cert",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="the header in which a trusted reverse proxy passes the client certificate (URL-escaped PEM, "
        "nginx's $ssl_client_escaped_cert); read only from trusted_proxies",
    )
    trusted_proxies: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="addresses or networks of the reverse proxies whose client certificate header is believed "
        "(comma-separated or a JSON list); from any other peer the header is ignored",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        # "127.0.0.1, 10.0.0.0/8" is what an operator writes in a compose file; a JSON list works as for other lists.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def xml_limits(self) -> XmlLimits:
        return XmlLimits(
            max_bytes=self.max_body_bytes, max_depth=self.max_xml_depth, max_elements=self.max_xml_elements
        )

    @property
    def resolved_audit_origin(self) -> str:
        return self.audit_origin or f"trade-gateway/{self.gateway_code}"

    @property
    def resolved_public_audit_url(self) -> str:
        if self.public_audit_url:
            return self.public_audit_url
        base = self.public_inbox_url.rstrip("/")
        return base.removesuffix("/v1/inbox") + "/v1/audit"

    @model_validator(mode="after")
    def _delivery_identity_whole(self) -> Settings:
        if (self.delivery_client_cert is None) != (self.delivery_client_key is None):
            raise ValueError("set both GATEWAY_DELIVERY_CLIENT_CERT and GATEWAY_DELIVERY_CLIENT_KEY, or neither")
        return self

    @property
    def delivery_identity(self) -> tuple[Path, Path] | None:
        """The client certificate and key deliveries present, or None."""
        if self.delivery_client_cert is None or self.delivery_client_key is None:
            return None
        return self.delivery_client_cert, self.delivery_client_key

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir if self.keys_dir is not None else self.data_dir / "keys"

    @property
    def dev_admin_key_file(self) -> Path:
        return self.data_dir / "dev-admin.key"
