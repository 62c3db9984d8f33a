"""Every operation of the committed openapi.yaml, fuzzed by schemathesis against the app in process (issue: fuzzing).

schemathesis reads openapi.yaml as committed (what clients are given, not what the running app would serve) and, for
each operation, sends the schema's examples, its boundary values (coverage phase) and generated requests, valid and
invalid, as an admin, so that every operation reaches its own logic rather than stopping at authentication. Each
answer must be no server error, a status the document lists for the operation, with a documented content type and a
body (and headers) that conform to the documented schema.

One gateway per database serves the whole run, with signing keys (so that signing, the capability document and
withdrawal notices work) and one partner, TH; requests pile up in it as in a deployed gateway. Both databases are
fuzzed: PostgreSQL refuses values SQLite stores (a NUL character in a query parameter was a server error there only).

The inbox is fuzzed here like any operation, but its requests carry no partner's HTTP signature, so they all stop at
the transport check (401, documented); what lies behind it is fuzzed in test_fuzz_documents.py with signed deliveries.

Bounded and reproducible: a fixed seed, derandomized generation, a few dozen generated requests per operation (about
two thousand requests per database in all, with the boundary values), and no example database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.directory.keyring import init_development_keyring
from schemas.engine import ValidationEngine
from tests.conftest import ROOT, DatabaseFactory
from tests.gateway.conftest import Gateway, register_thai_partner, running_gateway

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261130,
        "generation": {
            "max-examples": 40,
            "deterministic": True,
            "database": "none",
            # The admin key is added to every request; schemathesis does not make up credentials of its own.
            "with-security-parameters": False,
        },
    }
)
SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=CONFIG)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
Case = schemathesis.Case[Any]  # a generated request to one operation of the schema
# What requests.Request takes of the request schemathesis serialized (the rest are transport options).
_REQUEST_PARTS = ("method", "url", "headers", "params", "data", "json", "files", "cookies")


@pytest.fixture(scope="module")
def fuzzed(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory, engine: ValidationEngine
) -> Iterator[Gateway]:
    """One gateway per database for the whole module: building one per operation would cost more than fuzzing it."""
    url = database_factory.new()
    data_dir = tmp_path_factory.mktemp(f"fuzz-{database_factory.backend}")
    init_development_keyring(data_dir / "keys")
    register_thai_partner(url)
    try:
        # No rate limit: the fuzzing sends requests faster than one client may (the limit has its own tests).
        with running_gateway(url, data_dir, engine, keys_dir=data_dir / "keys", rate_limit_per_second=0) as gateway:
            yield gateway
    finally:
        database_factory.drop(url)


def send(gateway: Gateway, case: Case) -> httpx.Response:
    """The request schemathesis generated, serialized as it would send it, through the app's test client."""
    serialized = case.as_transport_kwargs(base_url="http://testserver", headers=gateway.headers("admin"))
    prepared = requests.Request(**{k: v for k, v in serialized.items() if k in _REQUEST_PARTS}).prepare()
    assert prepared.method is not None
    assert prepared.url is not None
    response: httpx.Response = gateway.client.request(
        prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body
    )
    return response


@SCHEMA.parametrize()
def test_every_answer_is_documented_and_no_server_error(case: Case, fuzzed: Gateway) -> None:
    case.validate_response(send(fuzzed, case), checks=CHECKS)
