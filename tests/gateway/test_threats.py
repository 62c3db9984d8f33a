"""THREATS.md rows 1–4 through the HTTP API: every route that takes a document refuses hostile input with a 4xx
problem, stores nothing as accepted, records the refusal (an audit entry for an authenticated caller, a metric
otherwise), leaks nothing, opens no socket, and the process keeps serving.

The inbox is attacked with a valid HTTP message signature of a registered partner, so the hostile bodies get past
the transport check and reach the parser."""

from __future__ import annotations

import json
import socket
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.db import make_engine
from gateway.delivery.wire import delivery_headers
from signing.keys import SigningKey
from tests.conftest import FIXTURES
from tests.gateway.conftest import Gateway, register_thai_partner
from tests.gateway.test_authorization_matrix import MATRIX, Row
from tests.schemas.test_xmlparse import BILLION_LAUGHS, QUADRATIC, XXE_FILE, XXE_HTTP, nested

# Routes that take a document body (the matrix rows with a raw body).
DOCUMENT_ROUTES = [row for row in MATRIX if row.body is not None]
_COO = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
HOSTILE = {
    "xxe-file": (XXE_FILE, "forbidden-construct"),
    "xxe-http": (XXE_HTTP, "forbidden-construct"),
    "external-parameter-entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><r/>',
        "forbidden-construct",
    ),
    "xxe-in-utf-16": (XXE_FILE.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"), "forbidden-construct"),
    "billion-laughs": (BILLION_LAUGHS, "forbidden-construct"),
    "quadratic": (QUADRATIC, "forbidden-construct"),
    "depth-300": (nested(300), "depth-limit-exceeded"),
    "a-million-elements": (b"<a>" + b"<b/>" * 1_000_000 + b"</a>", "element-limit-exceeded"),
    "invalid-utf-8": (b'<?xml version="1.0" encoding="UTF-8"?><a>\xff\xfe\xfd</a>', "malformed"),
    "empty-body": (b"", "malformed"),
}
# (body, Content-Type, status, problem): what the declared media type allows.
MISLABELLED = {
    "wrong-content-type": (_COO, "text/plain", 415, "unsupported-media-type"),
    "json-to-an-xml-type": (b'{"certificate": {"id": "X"}}', "application/xml", 400, "media-type-mismatch"),
    "xml-to-a-json-type": (_COO, "application/json", 400, "media-type-mismatch"),
}


@pytest.fixture
def no_outbound_sockets(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        attempts.append(address)
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempts


@pytest.fixture
def partner_th(gateway: Gateway) -> SigningKey:
    """Partner TH: submissions go to it, and its signed deliveries reach the inbox's parser."""
    return register_thai_partner(gateway.database_url)


def _headers(
    gateway: Gateway, row: Row, payload: bytes, key: SigningKey, media_type: str = "application/xml"
) -> dict[str, str]:
    if not row.signed:
        return {"Content-Type": media_type, **gateway.headers("platform")}
    # The inbox is reached with a valid HTTP signature of a partner, so the hostile body meets the parser.
    return delivery_headers(
        inbox_url=gateway.settings.public_inbox_url,
        body=payload,
        media_type=media_type,
        message_id=str(uuid.uuid4()),
        sender="TH",
        receiver=gateway.settings.gateway_code,
        document_type="ubl-coo-2.1",
        key=key,
        now=datetime.now(UTC),
    )


def test_there_is_a_document_route_to_attack() -> None:
    assert DOCUMENT_ROUTES


@dataclass(frozen=True)
class Traces:
    """What the gateway keeps of requests: audit entries, exchanges, and the refusal counters."""

    audit_size: int
    exchanges: dict[str, int]
    refusals: float

    @classmethod
    def of(cls, gateway: Gateway) -> Traces:
        db = make_engine(gateway.database_url)
        with db.connect() as connection:
            size = connection.execute(text("SELECT size FROM audit_head")).scalar_one()
            rows = connection.execute(text("SELECT state, count(*) FROM exchanges GROUP BY state")).all()
            states: dict[str, int] = {state: count for state, count in rows}
        db.dispose()
        metrics = gateway.client.get("/metrics", headers=gateway.headers("admin")).text
        counted = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith(("gateway_documents_refused_total", "gateway_request_body_too_large_total"))
        ]
        return cls(size, states, sum(counted))

    def entries_since(self, gateway: Gateway) -> list[dict[str, object]]:
        db = make_engine(gateway.database_url)
        with db.connect() as connection:
            leaves = connection.execute(
                text('SELECT leaf FROM audit_entries WHERE "index" >= :size ORDER BY "index"'),
                {"size": self.audit_size},
            ).scalars()
            found = [json.loads(leaf) for leaf in leaves]
        db.dispose()
        return found


REFUSED_STATES = {"rejected"}


def _attack(
    gateway: Gateway, row: Row, key: SigningKey, payload: bytes, media_type: str, status: int, problem: str
) -> None:
    before = Traces.of(gateway)
    response = gateway.client.request(
        row.method, row.url, content=payload, headers=_headers(gateway, row, payload, key, media_type)
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:trade-gateway:problem:{problem}"
    after = Traces.of(gateway)
    # Nothing is stored as accepted: at most a rejected exchange, the record of the refusal.
    new_states = {state for state, count in after.exchanges.items() if count > before.exchanges.get(state, 0)}
    assert new_states <= REFUSED_STATES
    # The refusal is on record: an audit entry when an API client or an authenticated partner sent it; a metric
    # when the sender was not authenticated (the inbox before the signature check, a body refused for its size).
    entries = before.entries_since(gateway)
    if (row.signed and problem in ("unsupported-media-type", "media-type-mismatch")) or status == 413:
        assert after.refusals > before.refusals
        assert entries == []
    else:
        assert [e["action"] for e in entries] in (["document.refused"], ["exchange.rejected"], ["inbox.refused"])
        assert entries[0]["outcome"] in (problem, "rejected")
    assert gateway.client.get("/healthz").status_code == 200


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("row", DOCUMENT_ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_hostile_xml_is_refused_at_every_document_route(
    gateway: Gateway, partner_th: SigningKey, no_outbound_sockets: list[object], row: Row, name: str
) -> None:
    payload, problem = HOSTILE[name]
    _attack(gateway, row, partner_th, payload, "application/xml", 400, problem)
    if name == "xxe-file":
        hostname = Path("/etc/hostname").read_text().strip()
        again = gateway.client.request(
            row.method, row.url, content=payload, headers=_headers(gateway, row, payload, partner_th)
        )
        assert hostname not in again.text
    # The database connection of the test app may connect to PostgreSQL on loopback; nothing else may.
    assert all(isinstance(a, tuple) and a[0] in ("127.0.0.1", "::1") for a in no_outbound_sockets)


@pytest.mark.parametrize("name", sorted(MISLABELLED))
@pytest.mark.parametrize("row", DOCUMENT_ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_a_body_must_be_what_its_content_type_says(
    gateway: Gateway, partner_th: SigningKey, row: Row, name: str
) -> None:
    payload, media_type, status, problem = MISLABELLED[name]
    _attack(gateway, row, partner_th, payload, media_type, status, problem)


@pytest.mark.parametrize("row", DOCUMENT_ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_one_byte_over_the_size_limit_is_413_before_the_body_is_read(
    gateway: Gateway, partner_th: SigningKey, row: Row
) -> None:
    payload = b" " * (gateway.settings.max_body_bytes + 1)
    _attack(gateway, row, partner_th, payload, "application/xml", 413, "payload-too-large")


def test_the_billion_laughs_is_refused_at_the_doctype_without_expanding_anything(
    gateway: Gateway,
) -> None:
    """THREATS row 2: the refusal names the DOCTYPE, and the process allocated next to nothing for it."""
    tracemalloc.start()
    try:
        response = gateway.client.post(
            "/v1/validate",
            content=BILLION_LAUGHS,
            headers={"Content-Type": "application/xml", **gateway.headers("platform")},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert "DOCTYPE" in response.json()["detail"]
    # 10^9 "lol"s would be gigabytes; the request as a whole (client, app, problem answer) stays under a few MB.
    assert peak < 4 * 1024 * 1024
