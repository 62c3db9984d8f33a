"""Every route × every identity, from one table: who gets through, who gets 401, who gets 403.

A route added to the app without a row here fails ``test_every_route_is_in_the_matrix``; a route whose
declared roles differ from its row fails ``test_declared_roles_match_the_matrix``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi.routing import APIRoute

from gateway.app import ROUTERS, create_app
from gateway.deps import Access
from tests.conftest import FIXTURES
from tests.gateway.conftest import IDENTITIES, ROLE_OF, Gateway

ALL_ROLES = frozenset({"admin", "platform", "partner", "auditor"})
PUBLIC = None


@dataclass(frozen=True)
class Row:
    method: str
    template: str
    allowed: frozenset[str] | None  # None: public
    path: str = ""
    body: bytes | None = None
    json: dict[str, object] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Public to API keys, authenticated by an HTTP message signature instead: no API key, whatever its role, gets
    # through without one (401 delivery-refused).
    signed: bool = False

    @property
    def url(self) -> str:
        return self.path or self.template


_COO = (FIXTURES / "coo" / "valid-10.xml").read_bytes() if (FIXTURES / "coo" / "valid-10.xml").exists() else b""
_UNKNOWN_CLIENT = "00000000-0000-4000-8000-000000000000"
_UNKNOWN_EXCHANGE = "00000000-0000-4000-8000-000000000001"

MATRIX: list[Row] = [
    Row("GET", "/healthz", PUBLIC),
    Row("GET", "/readyz", PUBLIC),
    Row("GET", "/metrics", frozenset({"admin", "auditor"})),
    Row(
        "POST",
        "/v1/validate",
        frozenset({"admin", "platform", "partner"}),
        body=_COO,
        headers={"Content-Type": "application/xml"},
    ),
    Row("GET", "/v1/formats", ALL_ROLES),
    Row("GET", "/v1/me", ALL_ROLES),
    Row("GET", "/v1/clients", frozenset({"admin"})),
    Row("POST", "/v1/clients", frozenset({"admin"}), json={"name": "matrix", "role": "auditor"}),
    Row("DELETE", "/v1/clients/{client_id}", frozenset({"admin"}), path=f"/v1/clients/{_UNKNOWN_CLIENT}"),
    Row("GET", "/v1/partners", frozenset({"admin", "auditor"})),
    Row("GET", "/v1/partners/{code}", frozenset({"admin", "auditor", "partner"}), path="/v1/partners/TH"),
    Row("POST", "/v1/partners", frozenset({"admin"}), json={"code": "ZZ"}),
    Row("PATCH", "/v1/partners/{code}", frozenset({"admin"}), path="/v1/partners/TH", json={}),
    Row("POST", "/v1/partners/import", frozenset({"admin"}), json={"document": {}, "signature": ""}),
    Row("GET", "/v1/directory/self", PUBLIC),
    Row(
        "POST",
        "/v1/translate",
        frozenset({"admin", "platform"}),
        path="/v1/translate?to=ubl-coo-2.1",
        body=_COO,
        headers={"Content-Type": "application/xml"},
    ),
    Row("POST", "/v1/sign", frozenset({"admin", "platform"}), body=_COO, headers={"Content-Type": "application/xml"}),
    Row(
        "POST",
        "/v1/verify",
        ALL_ROLES,
        path="/v1/verify?partner=TH",
        body=_COO,
        headers={"Content-Type": "application/xml"},
    ),
    Row(
        "POST",
        "/v1/exchanges",
        frozenset({"admin", "platform"}),
        path="/v1/exchanges?to=TH",
        body=_COO,
        headers={"Content-Type": "application/xml"},
    ),
    Row("GET", "/v1/exchanges", ALL_ROLES),
    Row("GET", "/v1/exchanges/{exchange_id}", ALL_ROLES, path=f"/v1/exchanges/{_UNKNOWN_EXCHANGE}"),
    Row(
        "GET",
        "/v1/exchanges/{exchange_id}/documents/{kind}",
        ALL_ROLES,
        path=f"/v1/exchanges/{_UNKNOWN_EXCHANGE}/documents/original",
    ),
    Row(
        "POST",
        "/v1/exchanges/{exchange_id}/retry",
        frozenset({"admin"}),
        path=f"/v1/exchanges/{_UNKNOWN_EXCHANGE}/retry",
    ),
    Row("GET", "/v1/documents/{sha256}", ALL_ROLES, path=f"/v1/documents/{'0' * 64}"),
    Row("GET", "/v1/certificates/{country}/{number}", ALL_ROLES, path="/v1/certificates/TH/UNKNOWN-1"),
    Row("GET", "/v1/audit/entries", frozenset({"admin", "auditor", "partner"})),
    Row("GET", "/v1/audit/checkpoint", PUBLIC),
    Row(
        "GET",
        "/v1/audit/entries/{index}/proof",
        frozenset({"admin", "auditor", "partner"}),
        path="/v1/audit/entries/0/proof",
    ),
    Row("GET", "/v1/audit/consistency", PUBLIC, path="/v1/audit/consistency?first=0&second=0"),
    Row("GET", "/v1/audit/export", frozenset({"admin", "auditor"})),
    Row(
        "POST",
        "/v1/certificates/{country}/{number}/withdraw",
        frozenset({"admin"}),
        path="/v1/certificates/TH/UNKNOWN-1/withdraw",
        json={"reason": "matrix"},
    ),
    Row(
        "POST",
        "/v1/inbox",
        PUBLIC,
        body=_COO,
        headers={"Content-Type": "application/xml", "From": "TH", "To": "LOCAL"},
        signed=True,
    ),
]

# FastAPI's own documentation routes are public by design and carry no document.
DOCUMENTATION_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _access_of(route: APIRoute) -> Access:
    found = [d.call for d in route.dependant.dependencies if isinstance(d.call, Access)]
    found += [sub.call for d in route.dependant.dependencies for sub in d.dependencies if isinstance(sub.call, Access)]
    assert len(found) == 1, f"{route.path} declares {len(found)} access rules, expected exactly one"
    return found[0]


def _api_routes() -> list[APIRoute]:
    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def test_every_route_is_in_the_matrix() -> None:
    declared = {(m, r.path) for r in _api_routes() for m in r.methods or ()}
    listed = {(row.method, row.template) for row in MATRIX}
    assert declared == listed


def test_declared_roles_match_the_matrix() -> None:
    rows = {(row.method, row.template): row for row in MATRIX}
    for route in _api_routes():
        access = _access_of(route)
        for method in route.methods or ():
            row = rows[(method, route.path)]
            if row.allowed is None:
                assert access.public, f"{method} {route.path} should be public"
            else:
                assert set(access.roles) == set(row.allowed), f"{method} {route.path}"


def test_the_app_mounts_exactly_the_matrix_routes() -> None:
    app = create_app()
    mounted = {path for path in app.openapi()["paths"]}
    assert mounted == {row.template for row in MATRIX}
    others = {getattr(r, "path", None) for r in app.routes} - {None}
    assert others <= DOCUMENTATION_ROUTES


@pytest.mark.parametrize("row", MATRIX, ids=lambda r: f"{r.method} {r.template}")
def test_each_identity_gets_what_the_matrix_says(gateway: Gateway, row: Row) -> None:
    for identity in IDENTITIES:
        response = gateway.client.request(
            row.method,
            row.url,
            content=row.body,
            json=row.json,
            headers={**row.headers, **gateway.headers(identity)},
        )
        status = response.status_code
        if row.signed:
            assert status == 401, f"{identity}: an unsigned delivery answered {status}"
            assert response.json()["type"] == "urn:trade-gateway:problem:delivery-refused"
        elif row.allowed is None:
            assert status not in (401, 403), f"{identity}: public route answered {status}"
        elif identity in ("anonymous", "bad-key", "revoked"):
            assert status == 401, f"{identity}: expected 401, got {status}"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
        elif ROLE_OF[identity] in row.allowed:
            assert status not in (401, 403), f"{identity}: allowed but answered {status}: {response.text[:200]}"
        else:
            assert status == 403, f"{identity}: expected 403, got {status}"
            assert response.json()["type"] == "urn:trade-gateway:problem:forbidden"
