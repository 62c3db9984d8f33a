"""A gateway app on a clean database with one API key per role (and a revoked one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.service import issue_client, revoke_client
from gateway.db import make_engine, unit_of_work
from gateway.partners.schemas import PartnerCreate, TrustAnchorIn
from gateway.partners.service import create_partner
from gateway.settings import Settings
from schemas.engine import ValidationEngine
from signing.keys import SigningKey
from tests.pki import make_ca, make_leaf

IDENTITIES = ("anonymous", "bad-key", "revoked", "admin", "platform", "partner", "partner-b", "auditor")
# The role of each identity that has one: "partner" is Thailand's key, "partner-b" Indonesia's.
ROLE_OF = {"admin": "admin", "platform": "platform", "partner": "partner", "partner-b": "partner", "auditor": "auditor"}


@dataclass
class Gateway:
    client: TestClient
    keys: dict[str, str]
    database_url: str
    settings: Settings

    def headers(self, identity: str) -> dict[str, str]:
        if identity == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.keys[identity]}"}

    def from_address(self, host: str) -> TestClient:
        """A client of the same running app whose requests come from ``host``: the TCP peer address the app sees
        (no socket is opened; the address is what the ASGI scope says)."""
        return TestClient(self.client.app, client=(host, 40000))


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "database_url": database_url,
        "data_dir": data_dir,
        "_env_file": None,
        # The delivery worker is exercised by its own tests; an app under test does not poll for jobs.
        "run_worker": False,
        **overrides,
    }
    return Settings(**values)


@contextmanager
def running_gateway(database_url: str, data_dir: Path, engine: ValidationEngine, **overrides: Any) -> Iterator[Gateway]:
    """An app on ``database_url`` with one API key per role (and a revoked one); ``overrides`` go to Settings."""
    db = make_engine(database_url)
    keys: dict[str, str] = {}
    with unit_of_work(db, write=True) as session:
        for role in ("admin", "platform", "auditor"):
            keys[role] = issue_client(session, role=role, name=f"test {role}").key
        keys["partner"] = issue_client(session, role="partner", name="Thai customs", partner_code="TH").key
        keys["partner-b"] = issue_client(session, role="partner", name="Indonesian customs", partner_code="ID").key
        revoked = issue_client(session, role="admin", name="revoked admin")
        keys["revoked"] = revoked.key
        revoke_client(session, revoked.client.id)
    db.dispose()
    keys["bad-key"] = "tgw_aaaaaaaaaaaaaaaa_" + "A" * 43
    settings = make_settings(database_url, data_dir, **overrides)
    with TestClient(create_app(settings, validation=engine)) as client:
        yield Gateway(client=client, keys=keys, database_url=database_url, settings=settings)


@pytest.fixture
def gateway(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[Gateway]:
    with running_gateway(database_url, tmp_path, engine) as app:
        yield app


def register_partner(database_url: str, code: str, name: str) -> SigningKey:
    """A partner (country = its code, accepting the UBL 2.1 profile) trusted through a fresh test CA; returns the
    key its gateway signs with."""
    ca = make_ca(f"{name} test CA")
    leaf = make_leaf(ca, f"{name} gateway")
    db = make_engine(database_url)
    with unit_of_work(db, write=True) as session:
        create_partner(
            session,
            PartnerCreate(
                code=code,
                name=name,
                country=code,
                inbox_url=f"https://{code.lower()}.example/v1/inbox",
                formats=["ubl-coo-2.1"],
                trust=[TrustAnchorIn(kind="ca", certificate_pem=ca.pem)],
            ),
            {"ubl-coo-2.1"},
        )
    db.dispose()
    return SigningKey(leaf.key, leaf.certificate)


def register_thai_partner(database_url: str) -> SigningKey:
    return register_partner(database_url, "TH", "Thai customs")
