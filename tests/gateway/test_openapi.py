"""openapi.yaml is the app's OpenAPI document: regenerate with `make openapi` when the API changes."""

from __future__ import annotations

from typing import Any

import yaml

from gateway.app import create_app
from tests.conftest import ROOT


def _committed() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return document


def test_openapi_yaml_matches_the_app() -> None:
    assert _committed() == create_app().openapi(), "openapi.yaml is stale: run `make openapi`"


def test_every_operation_has_a_stable_operation_id_and_documents_its_errors() -> None:
    for path, item in _committed()["paths"].items():
        for method, operation in item.items():
            assert operation.get("operationId"), f"{method} {path}"


def test_validate_declares_its_problem_responses() -> None:
    responses = _committed()["paths"]["/v1/validate"]["post"]["responses"]
    assert {"200", "400", "413", "422"} <= set(responses)
    assert "application/problem+json" in responses["413"]["content"]
