"""Mutated certificates of origin against the two routes that judge documents (issue: fuzzing).

Valid certificates (the UBL 2.4 fixture, and the same certificate in the UBL 2.1 profile partners exchange) are
mutated byte by byte (a bit flipped, bytes inserted, deleted or repeated, the end cut off) and through their structure
(an element deleted, repeated or given other text, its children reordered, an attribute changed, added or removed),
one to three edits at a time. Each mutant goes to POST /v1/validate, and, signed with the partner's key (when it can
still be signed) and delivered with the partner's HTTP signature, to POST /v1/inbox. Whatever arrives:

- the gateway never answers 5xx, and every answer is a status the committed openapi.yaml documents for the route;
- every 4xx is application/problem+json;
- /v1/validate reports what the validation engine itself finds for the same bytes;
- the inbox accepts (with or without warnings) only a document that validates, in a receipt about this delivery.

Examples are few and derandomized (the same ones on every run and on both databases); no example database is kept.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters import ADAPTERS, ReceiptOutcome, parse_receipt
from gateway.delivery.wire import delivery_headers
from gateway.directory.keyring import init_development_keyring
from schemas.engine import ValidationEngine
from schemas.errors import DocumentError
from signing.keys import SigningKey
from signing.xmldsig import SignaturePlacement, sign_xml
from tests.conftest import FIXTURES, ROOT
from tests.gateway.conftest import Gateway, register_thai_partner, running_gateway

PROBLEM = "application/problem+json"
NUMBER = b"TH-D-2026-0014873"  # the certificate number of the fixture, made unique per delivery
FUZZ_SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    # One gateway serves all the examples of a test: building one per example would cost more than the examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@cache
def seed(format_id: str) -> bytes:
    """A valid certificate in ``format_id``: the UBL 2.4 fixture, or the same certificate rendered by its adapter."""
    fixture = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
    if format_id == "ubl-coo-2.4":
        return fixture
    return ADAPTERS[format_id].render(ADAPTERS["ubl-coo-2.4"].parse(fixture).certificate).data


SEEDS = ("ubl-coo-2.4", "ubl-coo-2.1")


@cache
def documented_statuses(path: str) -> frozenset[int]:
    """The statuses the committed OpenAPI document lists for POST ``path``."""
    document: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return frozenset(int(status) for status in document["paths"][path]["post"]["responses"])


# ----- mutations ------------------------------------------------------------------------------------------------

# Bytes that mean something to an XML parser, beside arbitrary ones.
MARKUP = [b"<", b">", b"&", b"&amp;", b"&#0;", b"]]>", b"<![CDATA[", b"<!--", b"<!DOCTYPE d>", b"\x00", b"\xff", b'"']
# Values a certificate's fields are checked against: empty, blank, signs, numbers over a column's range, impossible
# dates, wrong codes, and a number one character longer than the registry holds.
VALUES = [
    "",
    " ",
    "0",
    "-1",
    "1000000000",
    "2147483648",
    "99999999999999999999",
    "1e309",
    "NaN",
    "2026-02-30",
    "9999-12-31",
    "ZZ",
    "TH",
    "１２３",
    "9" * 129,
]


@st.composite
def byte_edit(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate"]))
    if kind == "flip" and data:
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if kind == "insert":
        inserted = draw(st.one_of(st.sampled_from(MARKUP), st.binary(min_size=1, max_size=8)))
        return data[:at] + inserted + data[at:]
    length = draw(st.integers(1, 64))
    if kind == "delete":
        return data[:at] + data[at + length :]
    if kind == "repeat":
        return data[: at + length] + data[at : at + length] + data[at + length :]
    return data[:at]


def _tree(data: bytes) -> Any:
    """The document as a tree, or None when it no longer parses (a structural edit then has nothing to work on)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return None


# Text lxml can put in a document: no control characters but white space, no lone surrogates.
xml_text = st.one_of(
    st.sampled_from(VALUES),
    st.text(st.characters(exclude_categories=["Cc", "Cs"], include_characters="\t\n"), max_size=40),
)


@st.composite
def structural_edit(draw: st.DrawFn, data: bytes) -> bytes:
    root = _tree(data)
    if root is None:
        return draw(byte_edit(data))
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    kind = draw(st.sampled_from(["delete", "repeat", "text", "reorder", "attribute"]))
    # New text goes into a value (an element without children), where the business rules and the registry read it.
    element = draw(st.sampled_from([e for e in elements if len(e) == 0] if kind == "text" else elements))
    parent = element.getparent()
    if kind == "delete" and parent is not None:
        parent.remove(element)
    elif kind == "repeat" and parent is not None:
        element.addnext(copy.deepcopy(element))
    elif kind == "reorder" and len(element) > 1:
        element[:] = draw(st.permutations(list(element)))
    elif kind == "attribute":
        name = draw(st.sampled_from([*element.attrib, "schemeID", "listID", "currencyID", "unitCode", "Id"]))
        if name in element.attrib and draw(st.booleans()):
            del element.attrib[name]
        else:
            element.set(name, draw(xml_text))
    else:
        element.text = draw(xml_text)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, bytes]:
    """(the seed's format id, a valid certificate after one to three byte or structural edits)."""
    format_id = draw(st.sampled_from(SEEDS))
    data = seed(format_id)
    for _ in range(draw(st.integers(1, 3))):
        # Most byte edits leave a document that no longer parses; structural ones reach validation and the registry.
        edit = draw(st.sampled_from([byte_edit, structural_edit, structural_edit]))
        data = draw(edit(data))
    return format_id, data


# ----- the properties -------------------------------------------------------------------------------------------


def assert_documented_answer(response: httpx.Response, path: str) -> None:
    """Never a server error; a status the OpenAPI document lists for the route; a problem document for a 4xx."""
    assert response.status_code < 500, response.text
    assert response.status_code in documented_statuses(path), f"undocumented {response.status_code}: {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["type"].startswith("urn:trade-gateway:problem:")


@pytest.fixture
def fuzzed(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[tuple[Gateway, SigningKey]]:
    """A gateway with keys to sign receipts, and the key partner TH signs its documents and deliveries with. No rate
    limit: the examples come faster than one client may send (the limit has its own tests)."""
    keys = tmp_path / "keys"
    init_development_keyring(keys)
    partner_key = register_thai_partner(database_url)
    with running_gateway(database_url, tmp_path, engine, keys_dir=keys, rate_limit_per_second=0) as gateway:
        yield gateway, partner_key


@pytest.mark.parametrize("format_id", SEEDS)
def test_every_seed_is_a_valid_certificate(engine: ValidationEngine, format_id: str) -> None:
    # Mutants of valid documents land on both sides of validity; mutants of an invalid one would all be rejected.
    assert engine.validate(seed(format_id), format_id).valid


@FUZZ_SETTINGS
@given(mutant=mutants())
def test_validate_answers_every_mutant_with_what_the_engine_finds(
    fuzzed: tuple[Gateway, SigningKey], engine: ValidationEngine, mutant: tuple[str, bytes]
) -> None:
    gateway, _ = fuzzed
    _, data = mutant
    response = gateway.client.post(
        "/v1/validate", content=data, headers={"Content-Type": "application/xml", **gateway.headers("platform")}
    )
    assert_documented_answer(response, "/v1/validate")
    if response.status_code != 200:
        event(f"{response.status_code} {response.json()['type'].rsplit(':', 1)[-1]}")  # --hypothesis-show-statistics
        return
    report = response.json()
    event(f"200 {'valid' if report['valid'] else 'invalid'}")
    # The same bytes through the engine directly: the HTTP layer neither hides a finding nor invents validity.
    direct = engine.validate(data, None)
    assert (report["valid"], report["format"]["id"], report["sha256"]) == (
        direct.valid,
        direct.format.id,
        direct.sha256,
    )
    if report["valid"]:
        assert not [f for f in report["findings"] if f["severity"] == "error"]


# Each delivery carries its own certificate number, so that an accepted mutant does not make the next valid one a
# duplicate of a registered certificate (refused whatever its validity).
_numbers = itertools.count(1)


def _signed(data: bytes, key: SigningKey) -> bytes:
    """``data`` signed by the partner, or as it is when it can no longer be signed (the inbox must refuse it then)."""
    try:
        return sign_xml(data, key, SignaturePlacement.UBL_EXTENSION)
    except (DocumentError, ValueError):
        return data


@FUZZ_SETTINGS
@given(mutant=mutants())
def test_the_inbox_accepts_a_signed_mutant_only_when_it_validates(
    fuzzed: tuple[Gateway, SigningKey], engine: ValidationEngine, mutant: tuple[str, bytes]
) -> None:
    gateway, partner_key = fuzzed
    format_id, data = mutant
    body = _signed(data.replace(NUMBER, b"FUZZ-%06d" % next(_numbers)), partner_key)
    message_id = str(uuid.uuid4())
    headers = delivery_headers(
        inbox_url=gateway.settings.public_inbox_url,
        body=body,
        media_type="application/xml",
        message_id=message_id,
        sender="TH",
        receiver=gateway.settings.gateway_code,
        document_type=format_id,
        key=partner_key,
        now=datetime.now(UTC),
    )
    response = gateway.client.post("/v1/inbox", content=body, headers=headers)
    assert_documented_answer(response, "/v1/inbox")
    if response.status_code != 200:
        event(f"{response.status_code} {response.json()['type'].rsplit(':', 1)[-1]}")  # --hypothesis-show-statistics
        return
    receipt = parse_receipt(response.content)
    event(f"200 {receipt.outcome.value}: {', '.join(sorted({f.code.split(':')[0] for f in receipt.findings}))}")
    assert str(receipt.message_id) == message_id
    assert receipt.received_sha256 == hashlib.sha256(body).hexdigest()
    if receipt.outcome is not ReceiptOutcome.REJECTED:
        report = engine.validate(body, format_id)
        assert report.valid, f"accepted, yet {[f.message for f in report.findings if f.severity == 'error']}"
