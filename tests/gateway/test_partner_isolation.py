"""Partner isolation (THREATS rows 9 and 17): partner A never reads partner B's exchanges, documents, receipts,
certificates or audit entries — another partner's object is a 404, exactly like one that does not exist — and a
document signed with B's key, delivered on A's channel, is refused.

A = TH (the test's "partner" key), B = ID (its "partner-b" key). Each has its own exchanges at this gateway (JP);
every check is made both ways, and each partner reads its own objects, so no 404 here comes from an empty database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import ReceiptOutcome, parse_receipt
from gateway.delivery.wire import delivery_headers
from gateway.directory.keyring import init_development_keyring
from schemas.engine import ValidationEngine
from signing.keys import SigningKey
from signing.xmldsig import SignaturePlacement, sign_xml
from tests.gateway.conftest import Gateway, register_partner, running_gateway
from tests.gateway.test_certificates import COUNTRY, certificate


@dataclass
class Partners:
    app: Gateway
    keys: dict[str, dict[str, str]]  # partner code → Authorization header of its API key
    signing: dict[str, SigningKey]  # partner code → the key its gateway signs with
    exchanges: dict[str, dict[str, Any]]  # partner code → detail of an exchange with it
    numbers: dict[str, str]  # partner code → certificate number of that exchange


@pytest.fixture
def partners(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[Partners]:
    keys_dir = tmp_path / "keys"
    init_development_keyring(keys_dir)
    signing = {code: register_partner(database_url, code, f"{code} customs") for code in ("TH", "ID")}
    with running_gateway(database_url, tmp_path, engine, keys_dir=keys_dir, gateway_code="JP") as app:
        keys = {"TH": app.headers("partner"), "ID": app.headers("partner-b")}
        exchanges, numbers = {}, {}
        for code in ("TH", "ID"):
            numbers[code] = f"ISO-{code}-0001"
            submitted = app.client.post(
                "/v1/exchanges",
                params={"to": code},
                content=certificate(numbers[code]),
                headers={**app.headers("platform"), "Content-Type": "application/xml"},
            )
            assert submitted.status_code == 202, submitted.text
            exchanges[code] = app.client.get(
                f"/v1/exchanges/{submitted.json()['id']}", headers=app.headers("admin")
            ).json()
        yield Partners(app, keys, signing, exchanges, numbers)


def _reads(partners: Partners, reader: str, owner: str) -> dict[str, int]:
    """The status of every read of ``owner``'s objects made with ``reader``'s key."""
    app, headers = partners.app, partners.keys[reader]
    exchange = partners.exchanges[owner]
    entry = app.client.get("/v1/audit/entries", params={"exchange": exchange["id"]}, headers=app.headers("admin"))
    index = entry.json()["entries"][0]["index"]
    paths = {
        "exchange": f"/v1/exchanges/{exchange['id']}",
        "original": f"/v1/exchanges/{exchange['id']}/documents/original",
        "sent": f"/v1/exchanges/{exchange['id']}/documents/sent",
        "document by digest": f"/v1/documents/{exchange['documents']['sent']}",
        "certificate": f"/v1/certificates/{COUNTRY}/{partners.numbers[owner]}",
        "audit proof": f"/v1/audit/entries/{index}/proof?size={index + 1}",
        "partner record": f"/v1/partners/{owner}",
    }
    return {name: app.client.get(path, headers=headers).status_code for name, path in paths.items()}


@pytest.mark.parametrize(("reader", "owner"), [("TH", "ID"), ("ID", "TH")])
def test_a_partner_gets_404_for_every_object_of_another_partner(partners: Partners, reader: str, owner: str) -> None:
    assert set(_reads(partners, owner, owner).values()) == {200}, "each partner reads its own objects"
    assert _reads(partners, reader, owner) == dict.fromkeys(_reads(partners, owner, owner), 404)


@pytest.mark.parametrize(("reader", "owner"), [("TH", "ID"), ("ID", "TH")])
def test_listings_hold_only_the_callers_own_objects(partners: Partners, reader: str, owner: str) -> None:
    app, headers = partners.app, partners.keys[reader]
    listed = app.client.get("/v1/exchanges", headers=headers).json()["exchanges"]
    assert [e["id"] for e in listed] == [partners.exchanges[reader]["id"]]
    entries = app.client.get("/v1/audit/entries", headers=headers).json()["entries"]
    assert entries, "its own entries are listed"
    assert {e["entry"]["partner"] for e in entries} == {reader}
    other = {"exchange": partners.exchanges[owner]["id"]}
    assert app.client.get("/v1/audit/entries", params=other, headers=headers).json()["entries"] == []
    assert app.client.get("/v1/audit/entries", params={"partner": owner}, headers=headers).json()["entries"] == []
    assert app.client.get("/v1/exchanges", params={"partner": owner}, headers=headers).json()["exchanges"] == []
    assert app.client.get("/v1/partners", headers=headers).status_code == 403


def _deliver(partners: Partners, sender: str, http_key: SigningKey, body: bytes) -> Any:
    app = partners.app
    headers = delivery_headers(
        inbox_url=app.settings.public_inbox_url,
        body=body,
        media_type="application/xml",
        message_id=str(uuid.uuid4()),
        sender=sender,
        receiver="JP",
        document_type="ubl-coo-2.4",
        key=http_key,
        now=datetime.now(UTC),
    )
    return app.client.post("/v1/inbox", content=body, headers=headers)


def test_a_document_signed_by_another_partner_is_refused_on_a_partners_channel(partners: Partners) -> None:
    th, indonesia = partners.signing["TH"], partners.signing["ID"]
    signed_by_id = sign_xml(certificate("ISO-ID-0002"), indonesia, SignaturePlacement.UBL_EXTENSION)
    # On its own channel, Indonesia's document is accepted: the document is fine.
    own = _deliver(partners, "ID", indonesia, signed_by_id)
    assert own.status_code == 200, own.text
    assert parse_receipt(own.content).outcome is ReceiptOutcome.ACCEPTED
    # TH's gateway relaying it (TH's HTTP signature, ID's document signature): rejected with a signed receipt.
    relayed = _deliver(
        partners, "TH", th, sign_xml(certificate("ISO-ID-0003"), indonesia, SignaturePlacement.UBL_EXTENSION)
    )
    assert relayed.status_code == 200, relayed.text
    receipt = parse_receipt(relayed.content)
    assert receipt.outcome is ReceiptOutcome.REJECTED
    assert [f.code for f in receipt.findings] == ["signature:untrusted-signer"]
    # Claiming to be TH with Indonesia's transport key: refused before anything is read.
    spoofed = _deliver(
        partners, "TH", indonesia, sign_xml(certificate("ISO-ID-0004"), th, SignaturePlacement.UBL_EXTENSION)
    )
    assert spoofed.status_code == 401
    assert spoofed.json()["reason"] == "not-authenticated"
    stored = partners.app.client.get(
        "/v1/exchanges", params={"direction": "inbound"}, headers=partners.app.headers("admin")
    ).json()["exchanges"]
    assert sorted((e["partner"], e["state"]) for e in stored) == [("ID", "accepted"), ("TH", "rejected")]
