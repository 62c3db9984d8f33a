"""API clients: keys shown once and stored only as a hash; roles, partner binding and revocation."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.gateway.conftest import Gateway

TRADEGW = [sys.executable, "-m", "gateway"]


def tradegw(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [*TRADEGW, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False
    )


def _stored_rows(database_url: str) -> list[tuple[str, str, str | None]]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key_id, key_sha256, partner_code FROM api_clients")).all()
    engine.dispose()
    return [(r[0], r[1], r[2]) for r in rows]


def test_clients_add_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(
    database_url: str, tmp_path: Path
) -> None:
    result = tradegw(database_url, tmp_path, "clients", "add", "--role", "partner", "--partner", "TH")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("tgw_")
    assert " " not in key
    rows = _stored_rows(database_url)
    assert [(r[1], r[2]) for r in rows] == [(hashlib.sha256(key.encode()).hexdigest(), "TH")]
    dump = repr(rows)
    assert key.split("_", 2)[2] not in dump  # the secret part (which may itself hold "_") appears nowhere


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "partner"], "must be bound to a partner code"),
        (["--role", "platform", "--partner", "TH"], "only partner clients carry a partner code"),
        (["--role", "superuser"], "unknown role 'superuser'"),
        (["--role", "partner", "--partner", "th!"], "2-16 upper-case letters or digits"),
    ],
    ids=["partner-without-code", "code-on-platform", "unknown-role", "bad-code"],
)
def test_clients_add_refuses_bad_input_without_storing_anything(
    database_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = tradegw(database_url, tmp_path, "clients", "add", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert _stored_rows(database_url) == []


def test_a_key_created_by_the_cli_authenticates_and_revocation_is_immediate(gateway: Gateway, tmp_path: Path) -> None:
    created = tradegw(gateway.database_url, tmp_path, "clients", "add", "--role", "auditor", "--name", "audit office")
    key = created.stdout.strip().splitlines()[-1]
    me = gateway.client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["role"] == "auditor"
    listing = tradegw(gateway.database_url, tmp_path, "clients", "list")
    assert "audit office" in listing.stdout
    assert key not in listing.stdout
    revoked = tradegw(gateway.database_url, tmp_path, "clients", "revoke", me.json()["client_id"])
    assert revoked.returncode == 0, revoked.stderr
    assert gateway.client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_revoking_an_unknown_client_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    assert "not a client id" in tradegw(database_url, tmp_path, "clients", "revoke", "nope").stderr
    result = tradegw(database_url, tmp_path, "clients", "revoke", "00000000-0000-4000-8000-000000000000")
    assert result.returncode == 2
    assert "no API client" in result.stderr


def test_admins_manage_clients_over_the_api(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    created = gateway.client.post(
        "/v1/clients", json={"name": "ID customs", "role": "partner", "partner_code": "ID"}, headers=admin
    )
    assert created.status_code == 201
    body = created.json()
    key = body.pop("key")
    listed = gateway.client.get("/v1/clients", headers=admin).json()["clients"]
    assert body in listed
    assert all("key" not in c for c in listed)
    me = gateway.client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["role"], me["partner_code"]) == ("partner", "ID")
    assert gateway.client.delete(f"/v1/clients/{body['id']}", headers=admin).json()["revoked_at"]
    assert gateway.client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_an_invalid_client_request_is_a_problem_and_stores_nothing(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    before = gateway.client.get("/v1/clients", headers=admin).json()["clients"]
    response = gateway.client.post("/v1/clients", json={"name": "x", "role": "partner"}, headers=admin)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    bad_role = gateway.client.post("/v1/clients", json={"name": "x", "role": "root"}, headers=admin)
    assert bad_role.status_code == 422
    assert bad_role.json()["errors"][0]["location"] == "body/role"
    assert gateway.client.get("/v1/clients", headers=admin).json()["clients"] == before


def test_a_name_holding_a_nul_is_refused_on_both_databases(gateway: Gateway) -> None:
    # PostgreSQL cannot store U+0000 (SQLite can): the name used to reach it and fail there with a server error.
    admin = gateway.headers("admin")
    before = gateway.client.get("/v1/clients", headers=admin).json()["clients"]
    response = gateway.client.post("/v1/clients", json={"name": "ops\x00bot", "role": "platform"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:trade-gateway:problem:invalid-request"
    assert gateway.client.get("/v1/clients", headers=admin).json()["clients"] == before


def test_timestamps_are_utc_on_both_databases(gateway: Gateway) -> None:
    clients = gateway.client.get("/v1/clients", headers=gateway.headers("admin")).json()["clients"]
    assert all(c["created_at"].endswith(("Z", "+00:00")) for c in clients)
