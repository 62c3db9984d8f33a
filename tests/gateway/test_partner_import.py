"""Registering a partner from its signed capability document: trust on first use, then the rotations it announces.

The partner is a real gateway ("JP", its own keyring) whose GET /v1/directory/self is imported into ours, through
the API and the command line; documents it signs must then verify against what was imported.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.audit.checkpoints import CheckpointSigner, init_audit_key
from gateway.directory.keyring import KEYRING_FILE, KeyRing
from gateway.directory.service import capability_document
from gateway.documents.service import prepare_signing, sign_prepared
from gateway.errors import BadRequest, DocumentProblem, PayloadTooLarge, ProblemError
from gateway.partners.capability import MAX_CAPABILITY_BYTES, CapabilityRefused, partner_from_capability
from gateway.settings import Settings
from schemas.engine import ValidationEngine
from signing._result import certificate_sha256
from signing.jws import sign_json
from signing.keys import SigningKey, generate_dev_pki, load_signing_key
from tests.conftest import FIXTURES, ROOT
from tests.gateway.conftest import Gateway, make_settings
from tests.pki import make_ca
from tests.signing.conftest import issue_leaf

NOW = datetime.now(UTC)
JP_INBOX = "https://gateway.customs.example.jp/v1/inbox"
COO = (FIXTURES / "coo" / "valid-10.xml").read_bytes()


@dataclass(frozen=True)
class PartnerPki:
    """A partner gateway's development PKI: an RSA key and an EC key from one CA."""

    directory: Path

    def key(self, kind: str) -> SigningKey:
        return load_signing_key(self.directory / f"{kind}-signing.key.pem", self.directory / f"{kind}-signing.pem")

    def keyring(self, name: str, *keys: tuple[str, datetime]) -> Path:
        """A keys directory whose keyring lists ``(kind, signs_from)`` keys of this PKI."""
        directory = self.directory / name
        directory.mkdir(exist_ok=True)  # the database tests run once per backend with the same keyrings
        (directory / KEYRING_FILE).write_text(
            "".join(
                f'[[key]]\nid = "{kind}"\ncertificate = "../{kind}-signing.pem"\n'
                f'private_key = "../{kind}-signing.key.pem"\nsigns_from = {when:%Y-%m-%dT%H:%M:%SZ}\n'
                for kind, when in keys
            )
        )
        return directory


@pytest.fixture(scope="module")
def jp(tmp_path_factory: pytest.TempPathFactory) -> PartnerPki:
    directory = tmp_path_factory.mktemp("jp-pki")
    generate_dev_pki(directory, common_name="Japan Customs", now=NOW - timedelta(days=1))
    return PartnerPki(directory)


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> PartnerPki:
    """Someone else's keys, publishing a document that claims to be JP's."""
    directory = tmp_path_factory.mktemp("impostor-pki")
    generate_dev_pki(directory, common_name="Not Japan Customs", now=NOW - timedelta(days=1))
    return PartnerPki(directory)


def jp_settings(database_url: str, keys_dir: Path) -> Settings:
    return make_settings(
        database_url,
        keys_dir.parent,
        keys_dir=keys_dir,
        gateway_code="JP",
        gateway_name="Japan Customs",
        gateway_country="JP",
        public_inbox_url=JP_INBOX,
    )


def built(keys_dir: Path, engine: ValidationEngine) -> bytes:
    """The capability document the JP gateway with these keys publishes now, without a server (pure checks)."""
    settings = jp_settings("sqlite://", keys_dir)
    keyring = KeyRing.load(keys_dir, timedelta(days=settings.key_publication_days))
    envelope = capability_document(settings, engine.catalog, keyring, NOW)
    assert envelope is not None
    return json.dumps(envelope).encode()


def served(database_url: str, keys_dir: Path, engine: ValidationEngine) -> bytes:
    """The capability document as the running JP gateway serves it at GET /v1/directory/self."""
    with TestClient(create_app(jp_settings(database_url, keys_dir), validation=engine)) as client:
        response = client.get("/v1/directory/self")
    assert response.status_code == 200, response.text
    content: bytes = response.content
    return content


def resigned(raw: bytes, edit: Callable[[dict[str, Any]], None], key: SigningKey) -> bytes:
    """The document changed by ``edit`` and signed again with ``key``: only the change is wrong, not the signature."""
    document = copy.deepcopy(json.loads(raw)["document"])
    edit(document)
    return json.dumps({"document": document, "signature": sign_json(document, key)}).encode()


def refusal(raw: bytes, *, code: str | None = "JP", formats: list[str] | None = None, now: datetime = NOW) -> str:
    with pytest.raises(CapabilityRefused) as refused:
        partner_from_capability(raw, expected_code=code, formats_we_send=formats, now=now)
    return refused.value.reason


# ----- the document alone: what it proves and what it asks for ---------------------------------------------------


def test_a_published_document_becomes_a_registration_pinning_current_and_next(
    jp: PartnerPki, engine: ValidationEngine
) -> None:
    keys = jp.keyring("rotating", ("rsa", NOW - timedelta(hours=1)), ("ec", NOW + timedelta(days=1)))
    imported = partner_from_capability(
        built(keys, engine), expected_code="JP", formats_we_send=engine.catalog.ids, now=NOW
    )
    rsa, ec = jp.key("rsa"), jp.key("ec")
    partner = imported.partner
    assert (partner.code, partner.name, partner.country, partner.inbox_url) == ("JP", "Japan Customs", "JP", JP_INBOX)
    assert "ubl-coo-2.4" in partner.formats
    assert "CertificateOfOrigin" in partner.document_types
    assert [(c.status, c.sha256) for c in imported.certificates] == [("current", rsa.key_id), ("next", ec.key_id)]
    assert [(a.kind, a.certificate_pem) for a in partner.trust] == [
        ("pinned", rsa.certificate.public_bytes(Encoding.PEM).decode()),
        ("pinned", ec.certificate.public_bytes(Encoding.PEM).decode()),
    ]
    assert imported.signer_sha256 == rsa.key_id
    assert imported.notes == ()
    summary = "\n".join(imported.summary())
    for certificate in imported.certificates:
        assert certificate.sha256 in summary  # the full fingerprint, to read out to the partner
        assert certificate.subject in summary
        assert f"not after {certificate.not_after:%Y-%m-%d}" in summary


def test_the_summary_shows_no_control_character_of_the_document(jp: PartnerPki, engine: ValidationEngine) -> None:
    # An escape sequence in the partner's name could otherwise redraw the fingerprint lines on the operator's terminal.
    raw = built(jp.keyring("escapes", ("rsa", NOW - timedelta(hours=1))), engine)
    raw = resigned(raw, lambda d: d["gateway"].update(name="Japan\x1b[2A\rCustoms"), jp.key("rsa"))
    imported = partner_from_capability(raw, expected_code="JP", formats_we_send=None, now=NOW)
    assert "partner        JP  Japan\\x1b[2A\\rCustoms (JP)" in imported.summary()


def test_formats_we_cannot_send_are_left_out_with_a_note(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("formats", ("rsa", NOW - timedelta(hours=1))), engine)
    imported = partner_from_capability(raw, expected_code=None, formats_we_send={"ubl-coo-2.4"}, now=NOW)
    assert imported.partner.formats == ["ubl-coo-2.4"]
    assert any("is not in our format catalog" in note for note in imported.notes)


def test_an_expired_next_certificate_is_not_pinned(jp: PartnerPki, engine: ValidationEngine) -> None:
    ca = make_ca("Japan Customs old CA")
    _, expired = issue_leaf(ca.authority, "JP old signer", not_before=NOW - timedelta(days=60), not_after=NOW)
    der = expired.public_bytes(Encoding.DER)
    entry = {
        "status": "next",
        "kid": certificate_sha256(expired),
        "algorithm": "ES256",
        "signs_from": "2026-01-01T00:00:00Z",
        "not_after": f"{NOW:%Y-%m-%dT%H:%M:%SZ}",
        "x5c": [base64.b64encode(der).decode()],
    }
    raw = built(jp.keyring("expired-next", ("rsa", NOW - timedelta(hours=1))), engine)
    raw = resigned(raw, lambda d: d["certificates"].append(entry), jp.key("rsa"))
    imported = partner_from_capability(raw, expected_code="JP", formats_we_send=None, now=NOW + timedelta(seconds=1))
    assert [c.status for c in imported.certificates] == ["current"]
    assert len(imported.partner.trust) == 1
    [note] = imported.notes
    assert note.startswith(f"next certificate {certificate_sha256(expired)} (")
    assert note.endswith("; not pinned")


def test_a_tampered_document_fails_its_signature(jp: PartnerPki, engine: ValidationEngine) -> None:
    envelope = json.loads(built(jp.keyring("tampered", ("rsa", NOW - timedelta(hours=1))), engine))
    envelope["document"]["inbox_url"] = "https://attacker.example/inbox"
    assert refusal(json.dumps(envelope).encode()) == "bad-signature"


def test_the_signer_must_be_a_current_certificate_of_the_document(jp: PartnerPki, engine: ValidationEngine) -> None:
    # The next key is listed, but may not vouch for the document before it takes over.
    keys = jp.keyring("next-signs", ("rsa", NOW - timedelta(hours=1)), ("ec", NOW + timedelta(days=1)))
    assert refusal(resigned(built(keys, engine), lambda d: None, jp.key("ec"))) == "signer-not-current"


def test_a_document_signed_by_a_key_it_does_not_list_is_refused(
    jp: PartnerPki, impostor: PartnerPki, engine: ValidationEngine
) -> None:
    raw = built(jp.keyring("foreign-signer", ("rsa", NOW - timedelta(hours=1))), engine)
    assert refusal(resigned(raw, lambda d: None, impostor.key("rsa"))) == "signer-not-current"


def test_the_document_must_name_the_expected_partner(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("code", ("rsa", NOW - timedelta(hours=1))), engine)
    assert refusal(raw, code="TH") == "code-mismatch"


def test_another_protocol_version_is_refused(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("protocol", ("rsa", NOW - timedelta(hours=1))), engine)
    assert refusal(resigned(raw, lambda d: d.update(protocol_version=2), jp.key("rsa"))) == "protocol-version"


def test_a_partner_with_no_format_we_know_is_refused(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("no-format", ("rsa", NOW - timedelta(hours=1))), engine)
    foreign = resigned(
        raw, lambda d: d.update(formats=[{"id": "x-coo-9", "version": "9", "digest": "0"}]), jp.key("rsa")
    )
    assert refusal(foreign, formats=engine.catalog.ids) == "no-common-format"


def test_a_document_whose_certificates_all_expired_is_refused(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("expired", ("rsa", NOW - timedelta(hours=1))), engine)
    assert refusal(raw, now=NOW + timedelta(days=400)) == "certificates-expired"


def test_a_document_dated_in_the_future_is_refused(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("future", ("rsa", NOW - timedelta(hours=1))), engine)
    assert refusal(raw, now=NOW - timedelta(hours=1)) == "issued-in-future"


@pytest.mark.parametrize(
    ("raw", "problem", "message"),
    [
        (b"{not json", DocumentProblem, "not well-formed JSON"),
        (b'{"document": {}, "document": {}, "signature": ""}', DocumentProblem, "duplicate"),
        (b"[]", BadRequest, '{"document": {...}, "signature"'),
        (b'{"document": {}, "signature": "x", "extra": 1}', BadRequest, "nothing else"),
        (b'{"document": {}, "signature": 7}', BadRequest, "signature must be a detached JWS"),
        (b'{"document": {"protocol_version": "1"}, "signature": ""}', BadRequest, "protocol_version"),
        (b" " * (MAX_CAPABILITY_BYTES + 1), PayloadTooLarge, "at most"),
    ],
    ids=["garbage", "duplicate-member", "not-an-object", "extra-member", "signature-type", "version-type", "oversized"],
)
def test_what_is_not_a_capability_document_is_refused_before_any_check(
    raw: bytes, problem: type[ProblemError], message: str
) -> None:
    with pytest.raises(problem) as refused:
        partner_from_capability(raw, expected_code=None, formats_we_send=None, now=NOW)
    assert message in refused.value.detail


@pytest.mark.parametrize(
    ("issued_at", "message"),
    # A time whose UTC form falls before year 1 (it used to overflow into a server error).
    [("0001-01-01T00:00:00+05:00", "outside years 1-9999"), ("2026-11-30T12:00:00", "has no time zone")],
    ids=["before-year-1", "no-zone"],
)
def test_an_issue_time_that_is_no_moment_is_refused(
    jp: PartnerPki, engine: ValidationEngine, issued_at: str, message: str
) -> None:
    raw = built(jp.keyring("dated", ("rsa", NOW - timedelta(hours=1))), engine)
    redated = resigned(raw, lambda document: document.update(issued_at=issued_at), jp.key("rsa"))
    with pytest.raises(BadRequest) as refused:
        partner_from_capability(redated, expected_code="JP", formats_we_send=None, now=NOW)
    assert message in refused.value.detail


def test_a_name_no_database_can_store_is_refused_though_the_signature_holds(
    jp: PartnerPki, engine: ValidationEngine
) -> None:
    # The document is the partner's own, signed by a key it lists; a NUL in its name reached PostgreSQL (a server
    # error there, stored by SQLite) until registrations refused it.
    raw = built(jp.keyring("named", ("rsa", NOW - timedelta(hours=1))), engine)
    renamed = resigned(raw, lambda document: document["gateway"].update(name="Japan\x00Customs"), jp.key("rsa"))
    with pytest.raises(BadRequest) as refused:
        partner_from_capability(renamed, expected_code="JP", formats_we_send=None, now=NOW)
    assert "U+0000" in refused.value.detail


def test_a_kid_that_is_not_its_certificates_fingerprint_is_refused(jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = built(jp.keyring("kid", ("rsa", NOW - timedelta(hours=1))), engine)
    wrong = resigned(raw, lambda d: d["certificates"][0].update(kid="0" * 64), jp.key("rsa"))
    with pytest.raises(BadRequest, match="kid is not the SHA-256"):
        partner_from_capability(wrong, expected_code="JP", formats_we_send=None, now=NOW)


# ----- through the API --------------------------------------------------------------------------------------------


def import_(gateway: Gateway, raw: bytes, code: str | None = "JP", *, repin: bool = False) -> Any:
    params: dict[str, str] = {"code": code} if code else {}
    if repin:
        params["repin"] = "true"
    return gateway.client.post(
        "/v1/partners/import",
        params=params or None,
        content=raw,
        headers={**gateway.headers("admin"), "Content-Type": "application/json"},
    )


def verify_as_jp(gateway: Gateway, key: SigningKey, engine: ValidationEngine) -> dict[str, Any]:
    """Our gateway's verdict on a certificate of origin signed with one of JP's keys."""
    signed = sign_prepared(prepare_signing(engine, COO, None), key).body
    response = gateway.client.post(
        "/v1/verify",
        params={"partner": "JP"},
        content=signed,
        headers={**gateway.headers("admin"), "Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_documents_signed_by_an_imported_partner_verify(
    gateway: Gateway, jp: PartnerPki, impostor: PartnerPki, engine: ValidationEngine
) -> None:
    keys = jp.keyring("api", ("rsa", NOW - timedelta(hours=1)))
    created = import_(gateway, served(gateway.database_url, keys, engine))
    assert created.status_code == 201, created.text
    partner = created.json()
    assert (partner["code"], partner["inbox_url"]) == ("JP", JP_INBOX)
    assert [(a["kind"], a["sha256"]) for a in partner["trust"]] == [("pinned", jp.key("rsa").key_id)]
    assert gateway.client.get("/v1/partners/JP", headers=gateway.headers("admin")).json() == partner

    assert verify_as_jp(gateway, jp.key("rsa"), engine)["valid"] is True
    stranger = verify_as_jp(gateway, impostor.key("rsa"), engine)
    assert stranger["valid"] is False
    assert stranger["trust"]["reason"] == "untrusted-signer"


def test_a_reimport_pins_the_announced_next_key_and_retires_nothing(
    gateway: Gateway, jp: PartnerPki, engine: ValidationEngine
) -> None:
    rsa, ec = jp.key("rsa"), jp.key("ec")
    before = jp.keyring("before", ("rsa", NOW - timedelta(hours=1)))
    announcing = jp.keyring("announcing", ("rsa", NOW - timedelta(hours=1)), ("ec", NOW + timedelta(days=1)))
    after = jp.keyring("after", ("ec", NOW - timedelta(minutes=1)))
    assert import_(gateway, served(gateway.database_url, before, engine)).status_code == 201
    assert verify_as_jp(gateway, ec, engine)["valid"] is False

    announced = import_(gateway, served(gateway.database_url, announcing, engine))
    assert announced.status_code == 200, announced.text
    trust = announced.json()["trust"]
    assert [(a["sha256"], a["retired_at"]) for a in trust] == [(rsa.key_id, None), (ec.key_id, None)]
    # Trusted before it signs anything: documents signed by the new key verify from the first one.
    assert verify_as_jp(gateway, ec, engine)["valid"] is True

    # Once the new key has taken over, the document no longer lists the old one; the old anchor stays, since
    # documents it signed may still be on their way.
    taken_over = import_(gateway, served(gateway.database_url, after, engine))
    assert taken_over.status_code == 200, taken_over.text
    assert taken_over.json()["trust"] == trust
    assert verify_as_jp(gateway, rsa, engine)["valid"] is True


def test_importing_the_same_document_twice_changes_nothing(
    gateway: Gateway, jp: PartnerPki, engine: ValidationEngine
) -> None:
    raw = served(gateway.database_url, jp.keyring("twice", ("rsa", NOW - timedelta(hours=1))), engine)
    first = import_(gateway, raw).json()
    again = import_(gateway, raw)
    assert again.status_code == 200
    assert again.json() == first  # updated_at included: nothing was written


def test_a_reimport_follows_the_inbox_and_formats(gateway: Gateway, jp: PartnerPki, engine: ValidationEngine) -> None:
    raw = served(gateway.database_url, jp.keyring("moving", ("rsa", NOW - timedelta(hours=1))), engine)
    import_(gateway, raw)

    def move(document: dict[str, Any]) -> None:
        document["inbox_url"] = "https://new.customs.example.jp/v1/inbox"
        document["formats"] = [f for f in document["formats"] if f["id"] == "ubl-coo-2.4"]

    changed = import_(gateway, resigned(raw, move, jp.key("rsa")))
    assert changed.status_code == 200, changed.text
    assert changed.json()["inbox_url"] == "https://new.customs.example.jp/v1/inbox"
    assert changed.json()["formats"] == ["ubl-coo-2.4"]


def test_the_audit_key_and_url_travel_in_the_document_and_follow_a_reimport(
    gateway: Gateway, jp: PartnerPki, engine: ValidationEngine
) -> None:
    keys = jp.keyring("audited", ("rsa", NOW - timedelta(hours=1)))
    init_audit_key(keys, "trade-gateway/JP")
    verifier_key = CheckpointSigner.load(keys).verifier_key()  # type: ignore[union-attr]
    raw = served(gateway.database_url, keys, engine)
    assert json.loads(raw)["document"]["audit"] == {
        "verifier_key": verifier_key,
        "url": "https://gateway.customs.example.jp/v1/audit",  # derived from the published inbox URL
    }
    registered = import_(gateway, raw).json()
    assert (registered["audit_verifier_key"], registered["audit_url"]) == (
        verifier_key,
        "https://gateway.customs.example.jp/v1/audit",
    )
    assert registered["witness"] == {"checkpoints": 0, "pending": 0, "inconsistent": 0, "verified": None, "alerts": []}

    def move(document: dict[str, Any]) -> None:
        document["audit"]["url"] = "https://audit.customs.example.jp/v1/audit"

    moved = import_(gateway, resigned(raw, move, jp.key("rsa")))
    assert moved.status_code == 200, moved.text
    assert moved.json()["audit_url"] == "https://audit.customs.example.jp/v1/audit"
    for bad, slug in (
        (lambda d: d["audit"].update(verifier_key="trade-gateway/JP+00000000+AQ=="), "bad-request"),
        (lambda d: d["audit"].update(url="http://audit.customs.example.jp/v1/audit"), "bad-request"),
        (lambda d: d.update(audit="not an object"), "bad-request"),
    ):
        refused = import_(gateway, resigned(raw, bad, jp.key("rsa")))
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == f"urn:trade-gateway:problem:{slug}"
    assert gateway.client.get("/v1/partners/JP", headers=gateway.headers("admin")).json()["audit_url"] == (
        "https://audit.customs.example.jp/v1/audit"
    )


def test_a_reimport_repairs_trust_pinning_a_retired_certificate_again(
    gateway: Gateway, jp: PartnerPki, impostor: PartnerPki, engine: ValidationEngine
) -> None:
    raw = served(gateway.database_url, jp.keyring("repair", ("rsa", NOW - timedelta(hours=1))), engine)
    [genuine] = import_(gateway, raw).json()["trust"]
    # Trust set wrongly: JP's certificate retired, someone else's pinned in its place.
    stranger = impostor.key("rsa").certificate.public_bytes(Encoding.PEM).decode()
    wrong = gateway.client.patch(
        "/v1/partners/JP",
        json={"retire_trust": [genuine["id"]], "add_trust": [{"kind": "pinned", "certificate_pem": stranger}]},
        headers=gateway.headers("admin"),
    )
    assert wrong.status_code == 200, wrong.text
    assert verify_as_jp(gateway, jp.key("rsa"), engine)["valid"] is False

    # JP's current trust (the stranger) does not vouch for the document: refused unless the operator asks to repin.
    refused = import_(gateway, raw)
    assert refused.status_code == 422
    assert refused.json()["reason"] == "untrusted-update"
    repaired = import_(gateway, raw, repin=True)
    assert repaired.status_code == 200, repaired.text
    rows = [(a["sha256"], a["retired_at"] is None) for a in repaired.json()["trust"]]
    # The retired row stays as history, the certificate is pinned again as a new anchor, and nothing is retired.
    assert sorted(rows) == sorted(
        [(jp.key("rsa").key_id, False), (jp.key("rsa").key_id, True), (impostor.key("rsa").key_id, True)]
    )
    assert verify_as_jp(gateway, jp.key("rsa"), engine)["valid"] is True


@pytest.mark.parametrize(
    ("mangle", "code", "status", "slug"),
    [
        (lambda raw: raw.replace(b"Japan Customs", b"Japan Custom$"), "JP", 422, "capability-refused"),
        (lambda raw: raw, "TH", 422, "capability-refused"),
        (lambda raw: raw[:-7], None, 400, "malformed"),
        (lambda raw: raw + b" " * MAX_CAPABILITY_BYTES, None, 413, "payload-too-large"),
    ],
    ids=["tampered", "wrong-code", "garbage", "oversized"],
)
def test_a_refused_import_is_a_problem_and_stores_nothing(
    gateway: Gateway,
    jp: PartnerPki,
    engine: ValidationEngine,
    mangle: Callable[[bytes], bytes],
    code: str | None,
    status: int,
    slug: str,
) -> None:
    raw = served(gateway.database_url, jp.keyring("refused", ("rsa", NOW - timedelta(hours=1))), engine)
    response = import_(gateway, mangle(raw), code)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:trade-gateway:problem:{slug}"
    assert gateway.client.get("/v1/partners", headers=gateway.headers("admin")).json()["partners"] == []


# ----- on the command line ----------------------------------------------------------------------------------------


def tradegw(database_url: str, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=answer,
        capture_output=True,
        text=True,
        env={**os.environ, "GATEWAY_DATABASE_URL": database_url},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_partners_import_from_a_file_prints_the_fingerprints_and_registers(
    gateway: Gateway, jp: PartnerPki, engine: ValidationEngine, tmp_path: Path
) -> None:
    document = tmp_path / "jp-capability.json"
    document.write_bytes(
        served(gateway.database_url, jp.keyring("cli-file", ("rsa", NOW - timedelta(hours=1))), engine)
    )
    added = tradegw(gateway.database_url, "partners", "import", str(document), "--code", "JP", "--yes")
    assert added.returncode == 0, added.stderr
    assert f"current sha256 {jp.key('rsa').key_id}" in added.stdout
    assert "registered partner JP with 1 pinned certificate(s)" in added.stdout
    assert verify_as_jp(gateway, jp.key("rsa"), engine)["valid"] is True

    again = tradegw(gateway.database_url, "partners", "import", str(document), "--yes")
    assert again.returncode == 0, again.stderr
    assert "signed by a certificate partner JP is already trusted with" in again.stdout
    assert "partner JP is up to date; nothing changed" in again.stdout


def test_partners_import_warns_when_no_trusted_key_signed_a_reimport(
    gateway: Gateway, jp: PartnerPki, impostor: PartnerPki, engine: ValidationEngine, tmp_path: Path
) -> None:
    genuine, other = tmp_path / "jp.json", tmp_path / "not-jp.json"
    genuine.write_bytes(
        served(gateway.database_url, jp.keyring("cli-genuine", ("rsa", NOW - timedelta(hours=1))), engine)
    )
    other.write_bytes(
        served(gateway.database_url, impostor.keyring("cli-other", ("rsa", NOW - timedelta(hours=1))), engine)
    )
    assert tradegw(gateway.database_url, "partners", "import", str(genuine), "--yes").returncode == 0
    declined = tradegw(gateway.database_url, "partners", "import", str(other), answer="n\n")
    assert declined.returncode == 1
    assert "WARNING: the document is NOT signed by a certificate partner JP is trusted with now" in declined.stdout
    assert impostor.key("rsa").key_id[:16] not in tradegw(gateway.database_url, "partners", "list").stdout


def test_partners_import_asks_before_trusting(
    gateway: Gateway, jp: PartnerPki, engine: ValidationEngine, tmp_path: Path
) -> None:
    document = tmp_path / "jp-capability.json"
    document.write_bytes(served(gateway.database_url, jp.keyring("cli-ask", ("rsa", NOW - timedelta(hours=1))), engine))
    for answer in ("n\n", ""):  # declined, and nobody there to answer
        declined = tradegw(gateway.database_url, "partners", "import", str(document), answer=answer)
        assert declined.returncode == 1
        assert "not confirmed; nothing was changed" in declined.stderr
    assert "JP" not in tradegw(gateway.database_url, "partners", "list").stdout
    confirmed = tradegw(gateway.database_url, "partners", "import", str(document), answer="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "registered partner JP" in confirmed.stdout


@dataclass
class Site:
    """A partner's web server: path -> (status, headers, body); Content-Length is sent unless headers say not to."""

    url: str
    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)


@pytest.fixture
def site() -> Iterator[Site]:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = pages.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                if value:
                    self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client gives up on an oversized answer, as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output to the test's own

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", pages)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_partners_import_fetches_the_document_from_the_partner(
    gateway: Gateway, jp: PartnerPki, engine: ValidationEngine, site: Site
) -> None:
    raw = served(gateway.database_url, jp.keyring("cli-url", ("rsa", NOW - timedelta(hours=1))), engine)
    site.pages["/v1/directory/self"] = (200, {"Content-Type": "application/json"}, raw)
    site.pages["/moved"] = (302, {"Location": f"{site.url}/v1/directory/self"}, b"")
    # No Content-Length: the cap must hold while reading, not only on what the server declares.
    site.pages["/huge"] = (200, {"Content-Length": ""}, b" " * (2 * MAX_CAPABILITY_BYTES))

    redirected = tradegw(gateway.database_url, "partners", "import", f"{site.url}/moved", "--yes")
    assert redirected.returncode == 2
    assert "redirects are not followed" in redirected.stderr
    huge = tradegw(gateway.database_url, "partners", "import", f"{site.url}/huge", "--yes")
    assert huge.returncode == 2
    assert f"over the {MAX_CAPABILITY_BYTES}-byte limit" in huge.stderr
    missing = tradegw(gateway.database_url, "partners", "import", f"{site.url}/nowhere", "--yes")
    assert missing.returncode == 2
    assert "answered HTTP 404" in missing.stderr
    wrong = tradegw(
        gateway.database_url, "partners", "import", f"{site.url}/v1/directory/self", "--code", "TH", "--yes"
    )
    assert wrong.returncode == 2
    assert "the document is for partner 'JP', not 'TH'" in wrong.stderr
    assert "JP" not in tradegw(gateway.database_url, "partners", "list").stdout

    fetched = tradegw(
        gateway.database_url, "partners", "import", f"{site.url}/v1/directory/self", "--code", "JP", "--yes"
    )
    assert fetched.returncode == 0, fetched.stderr
    assert "registered partner JP" in fetched.stdout
