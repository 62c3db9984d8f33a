"""Submissions that carry an issuing body's signature (THREATS: signature wrapping and what is read after a check).

The issuer trust is the development CA of the gateway's keys dir; the issuer signs with that PKI's RSA key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.directory.keyring import init_development_keyring
from schemas.engine import ValidationEngine
from signing.keys import SigningKey, load_signing_key
from signing.xmldsig import SignaturePlacement, sign_xml
from tests.conftest import FIXTURES
from tests.gateway.conftest import Gateway, register_thai_partner, running_gateway
from tests.pki import make_ca, make_leaf

NUMBER = b"TH-D-2026-0014873"
ORIGINAL = (FIXTURES / "coo" / "valid-10.xml").read_bytes()


@pytest.fixture
def app(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[tuple[Gateway, Path]]:
    keys = tmp_path / "keys"
    init_development_keyring(keys)
    register_thai_partner(database_url)
    with running_gateway(
        database_url, tmp_path, engine, keys_dir=keys, issuer_trust=[keys / "ca.pem"], gateway_code="JP"
    ) as gateway:
        yield gateway, keys


def _signed_by_issuer(keys: Path) -> bytes:
    issuer = load_signing_key(keys / "rsa-signing.key.pem", keys / "rsa-signing.pem")
    return sign_xml(ORIGINAL, issuer, SignaturePlacement.UBL_EXTENSION)


def _submit(gateway: Gateway, data: bytes) -> dict[str, object]:
    answer = gateway.client.post(
        "/v1/exchanges",
        params={"to": "TH"},
        content=data,
        headers={**gateway.headers("platform"), "Content-Type": "application/xml"},
    )
    return {"status": answer.status_code, **answer.json()}


def test_a_signed_original_is_verified_and_only_its_signed_content_is_sent(app: tuple[Gateway, Path]) -> None:
    gateway, keys = app
    # A comment inside a value: canonicalisation drops it, so the issuer's signature still holds, but a parser that
    # read the submitted bytes would see the number cut short at the comment.
    signed = _signed_by_issuer(keys)
    split = signed.replace(b"<cbc:ID>" + NUMBER + b"</cbc:ID>", b"<cbc:ID>TH-D-2026-00<!---->14873</cbc:ID>", 1)
    assert split != signed
    answer = _submit(gateway, split)
    assert answer["status"] == 202, answer
    assert answer["certificate_number"] == NUMBER.decode()
    detail = gateway.client.get(f"/v1/exchanges/{answer['id']}", headers=gateway.headers("admin")).json()
    assert detail["signature"]["integrity"]["status"] == "VALID"
    sent = gateway.client.get(f"/v1/exchanges/{answer['id']}/documents/sent", headers=gateway.headers("admin"))
    assert NUMBER in sent.content
    original = gateway.client.get(f"/v1/exchanges/{answer['id']}/documents/original", headers=gateway.headers("admin"))
    assert original.content == split, "the original is kept exactly as submitted"


def test_a_signature_that_does_not_hold_rejects_the_submission(app: tuple[Gateway, Path]) -> None:
    gateway, keys = app
    tampered = _signed_by_issuer(keys).replace(NUMBER, b"TH-D-2026-9999999", 1)
    answer = _submit(gateway, tampered)
    assert answer["status"] == 422
    assert answer["reason"] == "issuer-signature-invalid"
    stranger = make_leaf(make_ca("Not an issuing body"), "Someone")
    foreign = sign_xml(ORIGINAL, SigningKey(stranger.key, stranger.certificate), SignaturePlacement.UBL_EXTENSION)
    answer = _submit(gateway, foreign)
    assert answer["status"] == 422
    assert answer["reason"] == "issuer-signature-invalid"
