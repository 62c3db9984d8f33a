"""Issuing, checking and revoking API keys.

A key is ``tgw_<key id>_<secret>``: the key id finds the row, the SHA-256 of the whole key is compared in
constant time. The secret has 256 bits of entropy, so a fast hash is enough (no password-style stretching).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlmodel import Session

from gateway.audit.log import Actor
from gateway.auth.models import ApiClient, Role
from gateway.auth.repository import ApiClientRepository
from gateway.db import utcnow
from gateway.errors import BadRequest, NotFound
from gateway.partners.service import PARTNER_CODE

__all__ = ["Identity", "IssuedKey", "authenticate", "issue_client", "revoke_client"]

_KEY_PATTERN = re.compile(r"^tgw_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: the authenticated client, its role and (for partners) its connection code."""

    client_id: uuid.UUID
    name: str
    role: Role
    partner_code: str | None

    @property
    def actor(self) -> Actor:
        """How the audit log names this caller."""
        return Actor("client", str(self.client_id))


@dataclass(frozen=True, slots=True)
class IssuedKey:
    client: ApiClient
    key: str


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def _new_key_id() -> str:
    # 80 random bits in lowercase base32: readable in logs, unique by constraint.
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def issue_client(session: Session, *, role: str, name: str, partner_code: str | None = None) -> IssuedKey:
    """Create a client and return its key; the key is shown to the caller once and never stored."""
    try:
        parsed_role = Role(role)
    except ValueError:
        raise BadRequest(f"unknown role {role!r}; expected one of: {', '.join(r.value for r in Role)}") from None
    if parsed_role is Role.partner:
        if not partner_code:
            raise BadRequest("a partner client must be bound to a partner code (--partner)")
        if not PARTNER_CODE.match(partner_code):
            raise BadRequest(f"partner code {partner_code!r} must be 2-16 upper-case letters or digits")
    elif partner_code:
        raise BadRequest(f"only partner clients carry a partner code, not {parsed_role.value}")
    if not name.strip():
        raise BadRequest("a client needs a non-empty name")
    key_id = _new_key_id()
    key = f"tgw_{key_id}_{secrets.token_urlsafe(32)}"
    client = ApiClient(
        name=name.strip(),
        role=parsed_role.value,
        partner_code=partner_code if parsed_role is Role.partner else None,
        key_id=key_id,
        key_sha256=_digest(key),
    )
    ApiClientRepository(session).add(client)
    return IssuedKey(client=client, key=key)


def authenticate(session: Session, key: str) -> Identity | None:
    """The identity behind a presented key, or None for a malformed, unknown or revoked key."""
    match = _KEY_PATTERN.match(key)
    if match is None:
        return None
    client = ApiClientRepository(session).by_key_id(match.group(1))
    if client is None or client.revoked_at is not None:
        return None
    if not hmac.compare_digest(client.key_sha256, _digest(key)):
        return None
    return Identity(client_id=client.id, name=client.name, role=Role(client.role), partner_code=client.partner_code)


def revoke_client(session: Session, client_id: uuid.UUID) -> ApiClient:
    repository = ApiClientRepository(session)
    client = repository.get(client_id)
    if client is None:
        raise NotFound(f"no API client {client_id}")
    if client.revoked_at is None:
        repository.revoke(client, utcnow())
    return client
