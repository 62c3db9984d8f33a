"""openapi.yaml is the app's OpenAPI document: regenerate with `make openapi` when the API changes."""

from __future__ import annotations

from typing import Any

import pytest
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


def test_parameter_errors_are_documented_as_the_problems_the_app_answers_with() -> None:
    # FastAPI documents its own JSON shape for a 422; the app answers every request error with problem+json.
    document = _committed()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "422" in operation["responses"]:
                assert set(operation["responses"]["422"]["content"]) == {"application/problem+json"}, f"{method} {path}"


# Answers the fuzzing (test_fuzz_openapi.py, test_fuzz_documents.py) met that the document did not list.
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v1/directory/self", 503),  # no signing key configured
        ("get", "/v1/exchanges", 400),  # a time without a zone, a cursor not from this API
        ("get", "/v1/audit/entries", 400),  # an exchange id that is not a UUID
        ("get", "/v1/audit/entries/{index}/proof", 404),  # no checkpoint signed yet
        ("post", "/v1/clients", 400),  # a partner client without a partner code
        ("delete", "/v1/clients/{client_id}", 404),
        ("post", "/v1/partners", 400),  # a code already registered
        ("get", "/v1/partners/{code}", 404),
        ("patch", "/v1/partners/{code}", 404),
        ("post", "/v1/certificates/{country}/{number}/withdraw", 400),  # a body that is not UTF-8
        ("post", "/v1/inbox", 400),  # a signed delivery whose body the parser refuses
    ],
)
def test_operations_document_the_problems_they_answer_with(method: str, path: str, status: int) -> None:
    response = _committed()["paths"][path][method]["responses"][str(status)]
    assert response["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
