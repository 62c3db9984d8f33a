"""POST /v1/validate: 200 with the report for valid and invalid documents, problem+json for everything else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.service import issue_client
from gateway.db import make_engine, unit_of_work
from schemas.errors import ValidationEngineError
from tests.conftest import CORPUS, FIXTURES
from tests.gateway.conftest import Gateway, make_settings
from tests.schemas.test_engine_failures import broken_catalog

PROBLEM = "application/problem+json"


def _validate(
    gateway: Gateway, body: bytes, *, fmt: str | None = None, content_type: str = "application/xml"
) -> httpx.Response:
    response: httpx.Response = gateway.client.post(
        "/v1/validate",
        content=body,
        params={"format": fmt} if fmt else None,
        headers={"Content-Type": content_type, **gateway.headers("platform")},
    )
    return response


def test_a_valid_certificate_gets_200_and_a_valid_report(gateway: Gateway) -> None:
    response = _validate(gateway, (FIXTURES / "coo" / "valid-10.xml").read_bytes())
    assert response.status_code == 200
    report = response.json()
    assert report["valid"] is True
    assert report["format"]["id"] == "ubl-coo-2.4"
    assert report["format"]["detected"] is True
    assert len(report["format"]["digest"]) == 64
    assert response.headers["x-request-id"]


def test_an_invalid_certificate_gets_200_with_located_findings(gateway: Gateway) -> None:
    response = _validate(gateway, (FIXTURES / "coo" / "invalid" / "hs-code-5-digits.xml").read_bytes())
    assert response.status_code == 200
    report = response.json()
    assert report["valid"] is False
    assert {f["area"] for f in report["findings"]} == {"schematron"}
    assert all(f["line"] > 0 for f in report["findings"])


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_json_documents_are_validated_too(gateway: Gateway) -> None:
    body = (CORPUS / "eco-json" / "ChaftaCooSampleV3.json").read_bytes()
    response = _validate(gateway, body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["format"]["id"] == "edi3-coo-json"


@pytest.mark.parametrize(
    ("body", "fmt", "status", "problem"),
    [
        (b"<unclosed>", None, 400, "malformed"),
        (b"", None, 400, "malformed"),
        (b'<Thing xmlns="urn:example"/>', None, 422, "unsupported-format"),
        (b"<a/>", "no-such-format", 400, "unknown-format"),
        (b"<a>" * 300 + b"</a>" * 300, None, 400, "depth-limit-exceeded"),
    ],
    ids=["malformed", "empty", "unsupported", "unknown-format", "too-deep"],
)
def test_documents_that_cannot_be_validated_get_a_problem(
    gateway: Gateway, body: bytes, fmt: str | None, status: int, problem: str
) -> None:
    response = _validate(gateway, body, fmt=fmt)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    details = response.json()
    assert details["type"] == f"urn:trade-gateway:problem:{problem}"
    assert details["status"] == status
    assert details["detail"]
    assert details["instance"].startswith("urn:trade-gateway:request:")


def test_a_body_one_byte_over_the_limit_gets_413_from_the_app(gateway: Gateway) -> None:
    limit = gateway.settings.max_body_bytes
    at_limit = b"<r>" + b"x" * (limit - 7) + b"</r>"
    assert len(at_limit) == limit
    assert _validate(gateway, at_limit, fmt="ubl-2.4").status_code != 413
    response = _validate(gateway, at_limit + b" ")
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["limit"] == limit


def test_a_streamed_body_without_length_is_capped_too(gateway: Gateway) -> None:
    limit = gateway.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = gateway.client.post(
        "/v1/validate",
        content=chunks(),
        headers={"Content-Type": "application/xml", **gateway.headers("platform")},
    )
    assert response.status_code == 413


def test_metrics_count_validations_by_outcome(gateway: Gateway) -> None:
    _validate(gateway, (FIXTURES / "coo" / "valid-10.xml").read_bytes())
    _validate(gateway, b"<unclosed>")
    text = gateway.client.get("/metrics", headers=gateway.headers("admin")).text
    assert 'gateway_validations_total{format="ubl-coo-2.4",outcome="valid"} 1.0' in text
    assert 'gateway_validations_total{format="detect",outcome="malformed"} 1.0' in text


def test_a_step_that_cannot_run_is_a_500_problem_never_a_valid_report(database_url: str, tmp_path: Path) -> None:

    db = make_engine(database_url)
    with unit_of_work(db, write=True) as session:
        key = issue_client(session, role="platform", name="p").key
    db.dispose()
    settings = make_settings(database_url, tmp_path, format_catalogs=[broken_catalog(tmp_path, per_root=True)])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/validate",
            content=b'<Doc xmlns="urn:example:broken"/>',
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        )
    assert response.status_code == 500
    assert response.json()["type"] == "urn:trade-gateway:problem:validation-engine-error"
    assert "valid" not in response.json()


def test_a_fixed_schema_that_cannot_compile_stops_start_up(database_url: str, tmp_path: Path) -> None:

    settings = make_settings(database_url, tmp_path, format_catalogs=[broken_catalog(tmp_path)])
    with pytest.raises(ValidationEngineError, match="did not compile"), TestClient(create_app(settings)):
        pass


def test_an_unknown_format_name_is_not_a_metric_label(gateway: Gateway) -> None:
    _validate(gateway, b"<a/>", fmt="attacker-chosen-label")
    text = gateway.client.get("/metrics", headers=gateway.headers("admin")).text
    assert "attacker-chosen-label" not in text
    assert 'gateway_validations_total{format="unknown",outcome="unknown-format"} 1.0' in text
