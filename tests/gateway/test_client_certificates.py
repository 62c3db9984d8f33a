"""Client certificates bound to partners (ADR 0015, THREATS row 16), in process and on both databases.

Where a request's certificate comes from is decided by its TCP peer: a trusted proxy's header, otherwise the TLS
connection itself; the header from anyone else is ignored and counted. A partner that binds certificates
(fingerprints, a CA, or both) is refused with 401 — on the API and at the inbox — unless the request presents a
matching one; a partner without a binding is not asked for one. The TLS handshake and nginx in front of a real
``tradegw serve`` are in ``tests/test_serve_tls.py``.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import col

from gateway.audit.models import AuditEntry
from gateway.auth.client_certificates import Presented, check_binding, read_presented
from gateway.db import make_engine, unit_of_work
from gateway.delivery.wire import delivery_headers
from gateway.directory.keyring import init_development_keyring
from gateway.partners.models import Partner
from schemas.engine import ValidationEngine
from signing._result import CheckStatus
from signing.keys import SigningKey
from tests.conftest import FIXTURES
from tests.gateway.conftest import Gateway, register_partner, register_thai_partner, running_gateway
from tests.pki import Issued, make_ca, make_leaf, make_tls_client
from tests.signing.conftest import make_ca as make_ca_between

CLIENT_CA = make_ca("Thai customs client CA")
TH_CLIENT = make_tls_client(CLIENT_CA, "Thai customs gateway")
TH_BENCH = make_tls_client(CLIENT_CA, "Thai customs test bench")  # the same CA, not pinned
ID_CLIENT_CA = make_ca("Indonesian customs client CA")
ID_CLIENT = make_tls_client(ID_CLIENT_CA, "Indonesian customs gateway")
IMPOSTOR = make_tls_client(make_ca("Somebody's CA"), "Thai customs gateway")  # TH's name under another CA

PROXY = "127.0.0.1"
UNTRUSTED = "192.0.2.10"  # TEST-NET-1: only ever an address in a scope, never contacted
HEADER = "X-SSL-Client-Cert"
TRUSTED = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]
NOW = datetime.now(UTC)


def escaped(certificate: Issued) -> str:
    """The certificate as nginx's $ssl_client_escaped_cert passes it: URL-escaped PEM."""
    return quote(certificate.pem, safe="")


def scope(peer: str | None, header: str | None = None, *, tls: Issued | None = None, times: int = 1) -> dict[str, Any]:
    """An HTTP scope from ``peer`` with the header ``times`` times, over a TLS connection that presented ``tls``."""
    headers = [(HEADER.lower().encode(), header.encode())] * times if header is not None else []
    built: dict[str, Any] = {"type": "http", "headers": headers, "client": (peer, 51000) if peer else None}
    if tls is not None:
        built["extensions"] = {"tls": {"client_cert_chain": [tls.pem], "tls_version": 0x0304}}
    return built


def seen(presented: Presented) -> tuple[str | None, str, str | None]:
    certificate = presented.certificate
    name = None if certificate is None else certificate.subject.rfc4514_string()
    return name, presented.source, presented.ignored


# ----- where the certificate comes from -------------------------------------------------------------------------


def test_a_trusted_proxys_header_is_the_clients_certificate() -> None:
    presented = read_presented(scope(PROXY, escaped(TH_CLIENT)), HEADER, TRUSTED)
    assert presented.certificate == TH_CLIENT.certificate
    assert (presented.source, presented.ignored) == ("proxy", None)


def test_the_header_from_an_untrusted_address_is_ignored_and_its_own_tls_certificate_stands() -> None:
    spoofed = read_presented(scope(UNTRUSTED, escaped(TH_CLIENT)), HEADER, TRUSTED)
    assert seen(spoofed) == (None, "none", "untrusted-peer")
    over_tls = read_presented(scope(UNTRUSTED, escaped(TH_CLIENT), tls=IMPOSTOR), HEADER, TRUSTED)
    assert over_tls.certificate == IMPOSTOR.certificate
    assert (over_tls.source, over_tls.ignored) == ("tls", "untrusted-peer")


def test_no_address_is_a_trusted_proxy_unless_configured() -> None:
    assert seen(read_presented(scope(PROXY, escaped(TH_CLIENT)), HEADER, [])) == (None, "none", "untrusted-peer")


def test_a_proxys_own_tls_certificate_is_never_taken_for_its_clients() -> None:
    assert seen(read_presented(scope(PROXY, None, tls=TH_CLIENT), HEADER, TRUSTED)) == (None, "proxy", None)


@pytest.mark.parametrize(
    ("header", "times"),
    [
        ("not a certificate", 1),
        (quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 1),
        (escaped(TH_CLIENT), 2),
    ],
    ids=["junk", "broken-pem", "sent-twice"],
)
def test_a_malformed_or_repeated_header_from_the_proxy_is_no_certificate(header: str, times: int) -> None:
    presented = read_presented(scope(PROXY, header, times=times), HEADER, TRUSTED)
    assert seen(presented) == (None, "proxy", "malformed")


@pytest.mark.parametrize("peer", ["::ffff:10.1.2.3", "10.200.0.1"])
def test_trusted_networks_match_ipv4_peers_also_when_a_dual_stack_socket_reports_them(peer: str) -> None:
    assert read_presented(scope(peer, escaped(TH_CLIENT)), HEADER, TRUSTED).source == "proxy"


@pytest.mark.parametrize("peer", [None, "testclient", "11.0.0.1", "::1"])
def test_other_peers_are_not_trusted(peer: str | None) -> None:
    assert read_presented(scope(peer, escaped(TH_CLIENT)), HEADER, TRUSTED).source == "none"


# ----- the check against a partner's binding --------------------------------------------------------------------


def partner(**binding: Any) -> Partner:
    return Partner(code="TH", name="Thai customs", country="TH", inbox_url="https://th.example/v1/inbox", **binding)


def test_a_partner_without_a_binding_is_not_asked_for_a_certificate() -> None:
    assert check_binding(partner(), None, NOW).status is CheckStatus.VALID


def test_a_pinned_fingerprint_admits_that_certificate_only() -> None:
    bound = partner(client_cert_sha256=[TH_CLIENT.sha256])
    assert check_binding(bound, TH_CLIENT.certificate, NOW).status is CheckStatus.VALID
    assert check_binding(bound, TH_BENCH.certificate, NOW).reason == "client-certificate-mismatch"
    assert check_binding(bound, None, NOW).reason == "client-certificate-missing"


def test_a_bound_ca_admits_what_it_issued_and_not_a_certificate_that_copies_a_name() -> None:
    bound = partner(client_ca_pem=CLIENT_CA.pem)
    assert check_binding(bound, TH_CLIENT.certificate, NOW).status is CheckStatus.VALID
    assert check_binding(bound, TH_BENCH.certificate, NOW).status is CheckStatus.VALID
    assert check_binding(bound, IMPOSTOR.certificate, NOW).reason == "client-certificate-mismatch"


def test_a_certificate_outside_its_validity_window_is_refused_even_when_pinned() -> None:
    bound = partner(client_cert_sha256=[TH_CLIENT.sha256])
    after = TH_CLIENT.certificate.not_valid_after_utc + timedelta(days=1)
    before = TH_CLIENT.certificate.not_valid_before_utc - timedelta(days=1)
    assert check_binding(bound, TH_CLIENT.certificate, after).reason == "client-certificate-expired"
    assert check_binding(bound, TH_CLIENT.certificate, before).reason == "client-certificate-not-yet-valid"


# ----- the binding in the partner directory ---------------------------------------------------------------------


def bind(gateway: Gateway, code: str, **binding: Any) -> dict[str, Any]:
    answer = gateway.client.patch(f"/v1/partners/{code}", json=binding, headers=gateway.headers("admin"))
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()["client_certificates"]
    return shown


@pytest.fixture
def bound(gateway: Gateway) -> Gateway:
    """Partner TH (the gateway fixture's partner key is TH's), bound to TH_CLIENT by its fingerprint."""
    register_thai_partner(gateway.database_url)
    bind(gateway, "TH", client_cert_sha256=[TH_CLIENT.sha256])
    return gateway


def test_a_binding_is_set_on_registration_and_shown_with_the_partner(gateway: Gateway) -> None:
    # `openssl x509 -noout -fingerprint -sha256` prints upper-case hex with colons: accepted, kept as plain hex.
    openssl_style = ":".join(TH_CLIENT.sha256[i : i + 2] for i in range(0, 64, 2)).upper()
    body = {
        "code": "ID",
        "name": "Indonesian customs",
        "country": "ID",
        "inbox_url": "https://id.example/v1/inbox",
        "formats": ["ubl-coo-2.1"],
        "trust": [{"kind": "ca", "certificate_pem": make_ca("ID signing CA").pem}],
        "client_cert_sha256": [openssl_style, TH_CLIENT.sha256],
        "client_ca_pem": CLIENT_CA.pem,
    }
    created = gateway.client.post("/v1/partners", json=body, headers=gateway.headers("admin"))
    assert created.status_code == 201, created.text
    shown = created.json()["client_certificates"]
    assert shown["sha256"] == [TH_CLIENT.sha256]
    assert [(ca["sha256"], ca["subject"]) for ca in shown["ca"]] == [(CLIENT_CA.sha256, "CN=Thai customs client CA")]
    again = gateway.client.get("/v1/partners/ID", headers=gateway.headers("admin"))
    assert again.json()["client_certificates"] == shown


def test_patch_replaces_the_binding_and_empty_values_remove_it(bound: Gateway) -> None:
    shown = bind(bound, "TH", client_ca_pem=CLIENT_CA.pem)
    assert shown["sha256"] == [TH_CLIENT.sha256], "a field not sent is left as it is"
    assert [ca["sha256"] for ca in shown["ca"]] == [CLIENT_CA.sha256]
    assert bind(bound, "TH", client_cert_sha256=[], client_ca_pem=None) == {"sha256": [], "ca": []}
    # Without a binding, the partner's key is enough again.
    assert bound.client.get("/v1/partners/TH", headers=bound.headers("partner")).status_code == 200


def _expired_ca_pem() -> str:
    name = make_ca("expired client CA").certificate.subject
    expired = make_ca_between(name, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    return expired.certificate.public_bytes(Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_cert_sha256": ["abc123"]}, "not a SHA-256 fingerprint"),
        ({"client_cert_sha256": ["g" * 64]}, "not a SHA-256 fingerprint"),
        ({"client_ca_pem": "not a pem"}, "no certificate found"),
        ({"client_ca_pem": TH_CLIENT.pem}, "is not a CA certificate"),
        ({"client_ca_pem": make_leaf(CLIENT_CA, "a document signer").pem}, "is not a CA certificate"),
        ({"client_ca_pem": _expired_ca_pem()}, "expired"),
    ],
    ids=["short", "not-hex", "not-pem", "tls-leaf", "signer-leaf", "expired-ca"],
)
def test_a_bad_binding_is_400_and_changes_nothing(bound: Gateway, change: dict[str, Any], message: str) -> None:
    answer = bound.client.patch("/v1/partners/TH", json=change, headers=bound.headers("admin"))
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert message in answer.json()["detail"]
    shown = bound.client.get("/v1/partners/TH", headers=bound.headers("admin")).json()["client_certificates"]
    assert shown == {"sha256": [TH_CLIENT.sha256], "ca": []}


# ----- partner API clients --------------------------------------------------------------------------------------


def metric(gateway: Gateway, name: str, label: str) -> float:
    exposition = gateway.client.get("/metrics", headers=gateway.headers("admin")).text
    for line in exposition.splitlines():
        if line.startswith(f"{name}{{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_bound_partners_key_alone_is_401(bound: Gateway) -> None:
    answer = bound.client.get("/v1/partners/TH", headers=bound.headers("partner"))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert "client-certificate-missing" in answer.json()["detail"]
    assert metric(bound, "gateway_auth_failures_total", 'reason="client-certificate-missing"') == 1


def test_other_roles_and_unbound_partners_are_not_asked_for_a_certificate(bound: Gateway) -> None:
    register_partner(bound.database_url, "ID", "Indonesian customs")
    created = bound.client.post(
        "/v1/clients", json={"role": "partner", "name": "ID", "partner_code": "ID"}, headers=bound.headers("admin")
    )
    unbound = {"Authorization": f"Bearer {created.json()['key']}"}
    assert bound.client.get("/v1/partners/ID", headers=unbound).status_code == 200
    for role in ("admin", "auditor", "platform"):
        assert bound.client.get("/v1/exchanges", headers=bound.headers(role)).status_code == 200


@dataclass
class Proxied:
    """A gateway behind a reverse proxy at 127.0.0.1: TH bound to TH_CLIENT by fingerprint, ID to its client CA."""

    gateway: Gateway
    th_signer: SigningKey  # what TH's gateway signs its deliveries with

    def via(self, address: str) -> TestClient:
        return self.gateway.from_address(address)


@pytest.fixture(scope="module")
def receipt_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The keyring the inbox signs its receipts with (read only: one for the module)."""
    keys = tmp_path_factory.mktemp("keys")
    init_development_keyring(keys)
    return keys


@pytest.fixture
def proxied(database_url: str, tmp_path: Path, engine: ValidationEngine, receipt_keys: Path) -> Iterator[Proxied]:
    with running_gateway(database_url, tmp_path, engine, trusted_proxies=[PROXY], keys_dir=receipt_keys) as gateway:
        th_signer = register_thai_partner(database_url)
        register_partner(database_url, "ID", "Indonesian customs")
        bind(gateway, "TH", client_cert_sha256=[TH_CLIENT.sha256])
        bind(gateway, "ID", client_ca_pem=ID_CLIENT_CA.pem)
        yield Proxied(gateway, th_signer)


def test_a_trusted_proxy_passes_the_bound_certificate_and_the_partner_is_in(proxied: Proxied) -> None:
    key = proxied.gateway.headers("partner")
    answer = proxied.via(PROXY).get("/v1/partners/TH", headers={**key, HEADER: escaped(TH_CLIENT)})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "certificate", [TH_BENCH, ID_CLIENT, IMPOSTOR], ids=["same-ca-not-pinned", "other-partners", "copied-name"]
)
def test_a_certificate_not_bound_to_the_keys_partner_is_401(proxied: Proxied, certificate: Issued) -> None:
    key = proxied.gateway.headers("partner")
    answer = proxied.via(PROXY).get("/v1/partners/TH", headers={**key, HEADER: escaped(certificate)})
    assert answer.status_code == 401
    assert "client-certificate-mismatch" in answer.json()["detail"]


def test_a_spoofed_header_from_an_untrusted_address_is_ignored_and_counted(proxied: Proxied) -> None:
    """THREATS row 16: the very header the proxy sends, sent by anyone else, is not believed."""
    key = proxied.gateway.headers("partner")
    spoofed = proxied.via(UNTRUSTED).get("/v1/partners/TH", headers={**key, HEADER: escaped(TH_CLIENT)})
    assert spoofed.status_code == 401
    assert "client-certificate-missing" in spoofed.json()["detail"]
    assert metric(proxied.gateway, "gateway_client_cert_headers_ignored_total", 'reason="untrusted-peer"') == 1


# ----- deliveries to the inbox ----------------------------------------------------------------------------------


def deliver(proxied: Proxied, address: str, certificate: Issued | None, *, signer: SigningKey | None = None) -> Any:
    body = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
    headers = delivery_headers(
        inbox_url=proxied.gateway.settings.public_inbox_url,
        body=body,
        media_type="application/xml",
        message_id=str(uuid.uuid4()),
        sender="TH",
        receiver=proxied.gateway.settings.gateway_code,
        document_type="ubl-coo-2.4",
        key=signer or proxied.th_signer,
        now=datetime.now(UTC),
    )
    if certificate is not None:
        headers[HEADER] = escaped(certificate)
    return proxied.via(address).post("/v1/inbox", content=body, headers=headers)


def refusals(database_url: str) -> list[dict[str, Any]]:
    db = make_engine(database_url)
    with unit_of_work(db) as session:
        leaves = session.execute(
            select(col(AuditEntry.leaf))
            .where(col(AuditEntry.action) == "inbox.refused")
            .order_by(col(AuditEntry.index))
        ).scalars()
        found = [json.loads(leaf) for leaf in leaves]
    db.dispose()
    return found


def test_a_delivery_from_a_bound_partner_with_its_certificate_gets_a_receipt(proxied: Proxied) -> None:
    answer = deliver(proxied, PROXY, TH_CLIENT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert b"ApplicationResponse" in answer.content


@pytest.mark.parametrize(
    ("address", "certificate", "reason"),
    [
        (PROXY, None, "client-certificate-missing"),
        (PROXY, TH_BENCH, "client-certificate-mismatch"),
        (UNTRUSTED, TH_CLIENT, "client-certificate-missing"),  # spoofed: ignored
    ],
    ids=["no-certificate", "other-certificate", "spoofed-header"],
)
def test_a_signed_delivery_without_the_bound_certificate_is_refused_and_recorded(
    proxied: Proxied, address: str, certificate: Issued | None, reason: str
) -> None:
    answer = deliver(proxied, address, certificate)
    assert answer.status_code == 401
    problem = answer.json()
    assert (problem["type"], problem["reason"]) == ("urn:trade-gateway:problem:delivery-refused", reason)
    # The signature held, so the sender is known: the refusal is an audit entry in its name, nothing is stored.
    [entry] = refusals(proxied.gateway.database_url)
    assert (entry["actor"], entry["outcome"], entry["partner"]) == ("partner:TH", reason, "TH")
    listing = proxied.gateway.client.get("/v1/exchanges", headers=proxied.gateway.headers("admin")).json()
    assert listing["exchanges"] == []


def test_before_the_signature_holds_the_refusal_says_nothing_about_certificates(proxied: Proxied) -> None:
    stranger = make_leaf(make_ca("not TH's CA"), "someone")
    forged = SigningKey(stranger.key, stranger.certificate)
    answer = deliver(proxied, PROXY, None, signer=forged)
    assert answer.status_code == 401
    assert answer.json()["reason"] == "not-authenticated"
    assert refusals(proxied.gateway.database_url) == []
