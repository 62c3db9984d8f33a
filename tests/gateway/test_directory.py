"""Our signing keys over time and the signed capability document (GET /v1/directory/self)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.directory.keyring import KEYRING_FILE, KeyRing, KeyRingError, init_development_keyring
from schemas.engine import ValidationEngine
from signing.jws import verify_json
from signing.keys import generate_dev_pki
from signing.trust import TrustAnchors, load_pem_certificates
from tests.gateway.conftest import make_settings

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture(scope="module")
def two_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keyring with the RSA key signing from T0 and the EC key taking over 30 days later."""
    directory = tmp_path_factory.mktemp("keys")
    pki = generate_dev_pki(directory, now=T0 - timedelta(days=1))
    (directory / KEYRING_FILE).write_text(
        "[[key]]\n"
        f'id = "old"\ncertificate = "{pki.rsa[0].name}"\nprivate_key = "{pki.rsa[1].name}"\n'
        "signs_from = 2026-11-30T12:00:00Z\n"
        "[[key]]\n"
        f'id = "new"\ncertificate = "{pki.ec[0].name}"\nprivate_key = "{pki.ec[1].name}"\n'
        "signs_from = 2026-12-30T12:00:00Z\n"
    )
    return directory


def test_a_new_key_is_published_before_it_signs(two_keys: Path) -> None:
    keyring = KeyRing.load(two_keys, WEEK)
    takeover = T0 + timedelta(days=30)

    def listed(at: datetime) -> list[tuple[str, str]]:
        return [(status, entry.id) for status, entry in keyring.published(at)]

    assert listed(T0 - WEEK - timedelta(seconds=1)) == []
    assert listed(T0 - timedelta(seconds=1)) == [("next", "old")]
    assert listed(takeover - WEEK - timedelta(seconds=1)) == [("current", "old")]
    assert listed(takeover - WEEK) == [("current", "old"), ("next", "new")]
    assert listed(takeover) == [("current", "new")]
    signer = keyring.signing_key(takeover)
    assert signer is not None
    assert signer.id == "new"


def test_a_key_whose_certificate_expired_does_not_sign(two_keys: Path) -> None:
    keyring = KeyRing.load(two_keys, WEEK)
    assert keyring.signing_key(T0 + timedelta(days=400)) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"no \[\[key\]\] entries"),
        (
            '[[key]]\nid = "a"\ncertificate = "rsa-signing.pem"\nprivate_key = "missing.pem"\n'
            "signs_from = 2026-11-30T12:00:00Z\n",
            "key 'a'",
        ),
        (
            '[[key]]\nid = "a"\ncertificate = "rsa-signing.pem"\nprivate_key = "rsa-signing.key.pem"\n'
            "signs_from = 2026-11-30T12:00:00\n",
            "with a zone",
        ),
        ('[[key]]\nid = "a"\n', "lacks"),
    ],
    ids=["empty", "missing-file", "naive-time", "incomplete"],
)
def test_a_broken_keyring_is_refused_at_load(two_keys: Path, tmp_path: Path, content: str, message: str) -> None:
    for name in ("rsa-signing.pem", "rsa-signing.key.pem"):
        (tmp_path / name).write_bytes((two_keys / name).read_bytes())
    (tmp_path / KEYRING_FILE).write_text(content)
    with pytest.raises(KeyRingError, match=message):
        KeyRing.load(tmp_path, WEEK)


def test_keys_init_keeps_what_exists(tmp_path: Path) -> None:
    assert init_development_keyring(tmp_path / "keys") is True
    before = (tmp_path / "keys" / "rsa-signing.key.pem").read_bytes()
    assert init_development_keyring(tmp_path / "keys") is False
    assert (tmp_path / "keys" / "rsa-signing.key.pem").read_bytes() == before


@pytest.fixture
def keyed_client(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[TestClient]:
    init_development_keyring(tmp_path / "keys")
    settings = make_settings(database_url, tmp_path, gateway_code="JP", gateway_country="JP")
    with TestClient(create_app(settings, validation=engine)) as client:
        yield client


def test_the_capability_document_is_signed_and_verifies_against_our_ca(
    keyed_client: TestClient, tmp_path: Path
) -> None:
    response = keyed_client.get("/v1/directory/self")
    assert response.status_code == 200
    body = response.json()
    document = body["document"]
    assert document["gateway"] == {"code": "JP", "name": "trade-gateway", "country": "JP"}
    assert document["protocol_version"] == 1
    assert [c["status"] for c in document["certificates"]] == ["current"]
    assert "ubl-coo-2.4" in {f["id"] for f in document["formats"]}
    assert "ubl-coo-2.1" not in {f["id"] for f in document["formats"]}  # a profile is not accepted on its own
    assert "CertificateOfOrigin" in document["document_types"]
    ca = load_pem_certificates((tmp_path / "keys" / "ca.pem").read_bytes())
    result = verify_json(document, body["signature"], TrustAnchors(label="self", ca_certificates=tuple(ca)))
    assert result.ok, result.as_dict()
    tampered = {**document, "inbox_url": "https://attacker.example/inbox"}
    assert not verify_json(tampered, body["signature"], TrustAnchors(label="self", ca_certificates=tuple(ca))).ok


def test_without_keys_the_capability_document_is_unavailable(gateway_client_without_keys: TestClient) -> None:
    response = gateway_client_without_keys.get("/v1/directory/self")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def gateway_client_without_keys(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(database_url, tmp_path), validation=engine)) as client:
        yield client


def test_documents_signed_before_a_rotation_still_verify_after_it(two_keys: Path, engine: ValidationEngine) -> None:
    from gateway.documents.service import prepare_signing, sign_prepared, verify_document
    from tests.conftest import FIXTURES

    keyring = KeyRing.load(two_keys, WEEK)
    coo = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
    before, after = T0 + timedelta(days=1), T0 + timedelta(days=31)
    old_entry, new_entry = keyring.signing_key(before), keyring.signing_key(after)
    assert old_entry is not None
    assert new_entry is not None
    assert (old_entry.id, new_entry.id) == ("old", "new")
    signed_before = sign_prepared(prepare_signing(engine, coo, None), old_entry.key).body
    signed_after = sign_prepared(prepare_signing(engine, coo, None), new_entry.key).body
    anchors = TrustAnchors(
        label="self", ca_certificates=tuple(load_pem_certificates((two_keys / "ca.pem").read_bytes()))
    )
    for signed in (signed_before, signed_after):
        outcome = verify_document(engine, lambda: (anchors, False), signed, None, after)
        assert outcome.result.ok, outcome.result.as_dict()
