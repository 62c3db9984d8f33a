"""THREATS.md rows 1–4 through the HTTP API: every endpoint that takes a document refuses hostile XML with a 4xx
problem, leaks nothing, opens no socket, and the process keeps serving."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.delivery.wire import delivery_headers
from signing.keys import SigningKey
from tests.gateway.conftest import Gateway, register_thai_partner
from tests.gateway.test_authorization_matrix import MATRIX, Row
from tests.schemas.test_xmlparse import BILLION_LAUGHS, QUADRATIC, XXE_FILE, XXE_HTTP, nested

# Routes that take a document body (the matrix rows with a raw body).
DOCUMENT_ROUTES = [row for row in MATRIX if row.body is not None]
HOSTILE = {
    "xxe-file": (XXE_FILE, "forbidden-construct"),
    "xxe-http": (XXE_HTTP, "forbidden-construct"),
    "billion-laughs": (BILLION_LAUGHS, "forbidden-construct"),
    "quadratic": (QUADRATIC, "forbidden-construct"),
    "depth-300": (nested(300), "depth-limit-exceeded"),
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


def _headers(gateway: Gateway, row: Row, payload: bytes, key: SigningKey) -> dict[str, str]:
    if not row.signed:
        return {"Content-Type": "application/xml", **gateway.headers("platform")}
    # The inbox is reached with a valid HTTP signature of a partner, so the hostile body meets the parser.
    return delivery_headers(
        inbox_url=gateway.settings.public_inbox_url,
        body=payload,
        media_type="application/xml",
        message_id=str(uuid.uuid4()),
        sender="TH",
        receiver=gateway.settings.gateway_code,
        document_type="ubl-coo-2.1",
        key=key,
        now=datetime.now(UTC),
    )


def test_there_is_a_document_route_to_attack() -> None:
    assert DOCUMENT_ROUTES


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("row", DOCUMENT_ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_hostile_xml_is_refused_at_every_document_route(
    gateway: Gateway, partner_th: SigningKey, no_outbound_sockets: list[object], row: Row, name: str
) -> None:
    payload, problem = HOSTILE[name]
    hostname = Path("/etc/hostname").read_text().strip() if name == "xxe-file" else None
    response = gateway.client.request(
        row.method, row.url, content=payload, headers=_headers(gateway, row, payload, partner_th)
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:trade-gateway:problem:{problem}"
    if hostname:
        assert hostname not in response.text
    # The database connection of the test app may connect to PostgreSQL on loopback; nothing else may.
    assert all(isinstance(a, tuple) and a[0] in ("127.0.0.1", "::1") for a in no_outbound_sockets)
    assert gateway.client.get("/healthz").status_code == 200
