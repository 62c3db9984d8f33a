"""A gateway app on a clean database with one API key per role (and a revoked one)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.service import issue_client, revoke_client
from gateway.db import make_engine, unit_of_work
from gateway.settings import Settings
from schemas.engine import ValidationEngine

IDENTITIES = ("anonymous", "bad-key", "revoked", "admin", "platform", "partner", "auditor")


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


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "database_url": database_url,
        "data_dir": data_dir,
        "_env_file": None,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def gateway(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[Gateway]:
    db = make_engine(database_url)
    keys: dict[str, str] = {}
    with unit_of_work(db, write=True) as session:
        for role in ("admin", "platform", "auditor"):
            keys[role] = issue_client(session, role=role, name=f"test {role}").key
        keys["partner"] = issue_client(session, role="partner", name="Thai customs", partner_code="TH").key
        revoked = issue_client(session, role="admin", name="revoked admin")
        keys["revoked"] = revoked.key
        revoke_client(session, revoked.client.id)
    db.dispose()
    keys["bad-key"] = "tgw_aaaaaaaaaaaaaaaa_" + "A" * 43
    settings = make_settings(database_url, tmp_path)
    with TestClient(create_app(settings, validation=engine)) as client:
        yield Gateway(client=client, keys=keys, database_url=database_url, settings=settings)
