"""The partner directory: registration checks, trust anchors as history, and who may read which partner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.gateway.conftest import Gateway
from tests.pki import make_ca, make_crl, make_leaf

TH_CA = make_ca("Thai customs CA")
TH_SIGNER = make_leaf(TH_CA, "Thai customs e-CO signer")
OTHER_CA = make_ca("Another CA")


def thailand(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "TH",
        "name": "Thai Customs Department",
        "country": "TH",
        "inbox_url": "https://gateway.customs.example/v1/inbox",
        "formats": ["ubl-coo-2.4", "ubl-coo-2.1"],
        "document_types": ["CertificateOfOrigin"],
        "outbound_credential_ref": "file:/etc/tradegw/secrets/th-inbox.token",
        "trust": [{"kind": "ca", "certificate_pem": TH_CA.pem, "crl_url": "https://pki.customs.example/ca.crl"}],
    }
    body.update(overrides)
    return body


def test_an_admin_registers_a_partner_and_reads_it_back(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    created = gateway.client.post("/v1/partners", json=thailand(), headers=admin)
    assert created.status_code == 201, created.text
    partner = created.json()
    assert partner["formats"] == ["ubl-coo-2.4", "ubl-coo-2.1"]
    assert [a["kind"] for a in partner["trust"]] == ["ca"]
    assert partner["trust"][0]["subject"] == "CN=Thai customs CA"
    assert gateway.client.get("/v1/partners/TH", headers=admin).json() == partner
    assert gateway.client.get("/v1/partners", headers=gateway.headers("auditor")).json()["partners"] == [partner]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"country": "XX"}, "not an ISO 3166-1 alpha-2 code"),
        ({"inbox_url": "http://gateway.customs.example/inbox"}, "must be https://"),
        ({"formats": ["no-such-format"]}, "unknown formats"),
        ({"outbound_credential_ref": "s3cr3t-token"}, "never the secret"),
        ({"trust": [{"kind": "ca", "certificate_pem": "not a pem"}]}, "no certificate found"),
        ({"trust": [{"kind": "ca", "certificate_pem": TH_SIGNER.pem}]}, "must be a CA certificate"),
        (
            {"trust": [{"kind": "ca", "certificate_pem": TH_CA.pem, "crl_pem": make_crl(OTHER_CA, [])}]},
            "not issued and signed by the CA",
        ),
    ],
    ids=["country", "plain-http", "format", "secret-inline", "not-pem", "leaf-as-ca", "foreign-crl"],
)
def test_a_bad_registration_is_refused_and_stores_nothing(
    gateway: Gateway, overrides: dict[str, Any], message: str
) -> None:
    response = gateway.client.post("/v1/partners", json=thailand(**overrides), headers=gateway.headers("admin"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert gateway.client.get("/v1/partners", headers=gateway.headers("admin")).json()["partners"] == []


def test_a_partner_without_trust_is_refused(gateway: Gateway) -> None:
    response = gateway.client.post("/v1/partners", json=thailand(trust=[]), headers=gateway.headers("admin"))
    assert response.status_code == 422


def test_loopback_http_inboxes_are_allowed_for_local_partners(gateway: Gateway) -> None:
    body = thailand(inbox_url="http://127.0.0.1:9001/v1/inbox")
    assert gateway.client.post("/v1/partners", json=body, headers=gateway.headers("admin")).status_code == 201


def test_registering_the_same_code_twice_is_refused(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    gateway.client.post("/v1/partners", json=thailand(), headers=admin)
    again = gateway.client.post("/v1/partners", json=thailand(name="Impostor"), headers=admin)
    assert again.status_code == 400
    assert gateway.client.get("/v1/partners/TH", headers=admin).json()["name"] == "Thai Customs Department"


def test_retired_anchors_stay_on_record(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    first = gateway.client.post("/v1/partners", json=thailand(), headers=admin).json()["trust"][0]
    new_ca = make_ca("Thai customs CA 2027")
    changed = gateway.client.patch(
        "/v1/partners/TH",
        json={"add_trust": [{"kind": "ca", "certificate_pem": new_ca.pem}], "retire_trust": [first["id"]]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    trust = changed.json()["trust"]
    assert [(a["subject"], a["retired_at"] is None) for a in trust] == [
        ("CN=Thai customs CA", False),
        ("CN=Thai customs CA 2027", True),
    ]
    assert trust[0]["sha256"] == first["sha256"]


def test_the_last_active_anchor_cannot_be_retired(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    anchor = gateway.client.post("/v1/partners", json=thailand(), headers=admin).json()["trust"][0]
    response = gateway.client.patch("/v1/partners/TH", json={"retire_trust": [anchor["id"]]}, headers=admin)
    assert response.status_code == 400
    assert "no active trust anchor" in response.json()["detail"]
    assert gateway.client.get("/v1/partners/TH", headers=admin).json()["trust"][0]["retired_at"] is None


def test_patch_changes_settings_and_keeps_the_rest(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    gateway.client.post("/v1/partners", json=thailand(), headers=admin)
    changed = gateway.client.patch(
        "/v1/partners/TH",
        json={"inbox_url": "https://new.customs.example/inbox", "allow_omitted_reference_uri": True},
        headers=admin,
    ).json()
    assert changed["inbox_url"] == "https://new.customs.example/inbox"
    assert changed["allow_omitted_reference_uri"] is True
    assert changed["formats"] == ["ubl-coo-2.4", "ubl-coo-2.1"]
    assert changed["outbound_credential_ref"] == "file:/etc/tradegw/secrets/th-inbox.token"


def test_a_partner_reads_only_its_own_entry(gateway: Gateway) -> None:
    admin = gateway.headers("admin")
    gateway.client.post("/v1/partners", json=thailand(), headers=admin)
    other = make_ca("Indonesian customs CA")
    indonesia = thailand(code="ID", name="DJBC", country="ID", trust=[{"kind": "ca", "certificate_pem": other.pem}])
    gateway.client.post("/v1/partners", json=indonesia, headers=admin)
    partner = gateway.headers("partner")  # bound to TH
    assert gateway.client.get("/v1/partners/TH", headers=partner).status_code == 200
    assert gateway.client.get("/v1/partners/ID", headers=partner).status_code == 404
    assert gateway.client.get("/v1/partners", headers=partner).status_code == 403


def tradegw(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_partners_add_and_list_on_the_command_line(database_url: str, tmp_path: Path) -> None:
    ca_file = tmp_path / "th-ca.pem"
    ca_file.write_text(TH_CA.pem)
    added = tradegw(
        database_url,
        "partners",
        "add",
        "TH",
        "--name",
        "Thai Customs",
        "--country",
        "TH",
        "--inbox",
        "https://gw.customs.example/v1/inbox",
        "--format",
        "ubl-coo-2.4",
        "--trust",
        str(ca_file),
    )
    assert added.returncode == 0, added.stderr
    listed = tradegw(database_url, "partners", "list")
    assert "TH" in listed.stdout
    assert "CN=Thai customs CA" in listed.stdout
    again = tradegw(
        database_url,
        "partners",
        "add",
        "TH",
        "--name",
        "x",
        "--country",
        "TH",
        "--inbox",
        "https://gw.customs.example/v1/inbox",
        "--format",
        "ubl-coo-2.4",
        "--trust",
        str(ca_file),
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
    missing = tradegw(
        database_url,
        "partners",
        "add",
        "ID",
        "--name",
        "x",
        "--country",
        "ID",
        "--inbox",
        "https://x.example",
        "--format",
        "ubl-coo-2.4",
    )
    assert missing.returncode == 2
    assert "at least one trust anchor" in missing.stderr
