"""POST /v1/translate and `tradegw translate`: validated in, validated out, and every loss reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, FIXTURES, ROOT
from tests.gateway.conftest import Gateway

COO = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
XML = {"Content-Type": "application/xml"}


def test_a_ubl_24_certificate_translates_to_the_21_profile_with_its_fills_reported(gateway: Gateway) -> None:
    response = gateway.client.post(
        "/v1/translate", params={"to": "ubl-coo-2.1"}, content=COO, headers={**XML, **gateway.headers("platform")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source_format"], body["target_format"]) == ("ubl-coo-2.4", "ubl-coo-2.1")
    assert body["report"]["valid"] is True
    assert body["report"]["format"]["id"] == "ubl-coo-2.1"
    assert body["document"].lstrip().startswith("<")
    assert all(entry["kind"] in ("dropped", "filled") and entry["reason"] for entry in body["losses"])


def test_a_ubl_certificate_translates_to_json_and_back(gateway: Gateway) -> None:
    headers = gateway.headers("platform")
    to_json = gateway.client.post(
        "/v1/translate", params={"to": "edi3-coo-json"}, content=COO, headers={**XML, **headers}
    )
    assert to_json.status_code == 200, to_json.text
    assert to_json.json()["report"]["valid"] is True
    json.loads(to_json.json()["document"])
    back = gateway.client.post(
        "/v1/translate",
        params={"to": "ubl-coo-2.4"},
        content=to_json.json()["document"].encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    assert back.status_code == 200, back.text
    assert back.json()["report"]["valid"] is True


def test_an_invalid_source_is_not_translated(gateway: Gateway) -> None:
    invalid = (FIXTURES / "coo" / "invalid" / "hs-code-5-digits.xml").read_bytes()
    response = gateway.client.post(
        "/v1/translate", params={"to": "ubl-coo-2.1"}, content=invalid, headers={**XML, **gateway.headers("platform")}
    )
    assert response.status_code == 422
    assert response.json()["report"]["valid"] is False


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_formats_without_an_adapter_are_refused_clearly(gateway: Gateway) -> None:
    headers = {**XML, **gateway.headers("platform")}
    cii = (CORPUS / "en16931" / "cii" / "examples" / "CII_example1.xml").read_bytes()
    assert (
        gateway.client.post("/v1/translate", params={"to": "ubl-coo-2.4"}, content=cii, headers=headers).status_code
        == 422
    )
    assert (
        gateway.client.post("/v1/translate", params={"to": "cii-d16b"}, content=COO, headers=headers).status_code == 422
    )
    unknown = gateway.client.post("/v1/translate", params={"to": "nope"}, content=COO, headers=headers)
    assert unknown.status_code == 400


def test_formats_say_what_translates_to_what(gateway: Gateway) -> None:
    formats = {
        f["id"]: f for f in gateway.client.get("/v1/formats", headers=gateway.headers("platform")).json()["formats"]
    }
    assert set(formats["ubl-coo-2.4"]["translates_to"]) == {"ubl-coo-2.1", "edi3-coo-json"}
    assert formats["cii-d16b"]["translates_to"] == []


def test_translate_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "coo-21.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "translate",
            str(FIXTURES / "coo" / "valid-10.xml"),
            "--to",
            "ubl-coo-2.1",
            "-o",
            str(out),
            "--report",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "translated ubl-coo-2.4 → ubl-coo-2.1" in result.stderr
    report = json.loads(result.stderr[result.stderr.index("[") :])
    assert isinstance(report, list)
    assert out.read_bytes().lstrip().startswith(b"<")
    refused = subprocess.run(
        [sys.executable, "-m", "gateway", "translate", str(FIXTURES / "coo" / "valid-10.xml"), "--to", "nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_every_tradetrust_chafta_sample_translates_to_a_valid_ubl_certificate(gateway: Gateway) -> None:
    for name in ("ChaftaCooSampleV2.json", "ChaftaCooSampleV3.json"):
        response = gateway.client.post(
            "/v1/translate",
            params={"to": "ubl-coo-2.4"},
            content=(CORPUS / "eco-json" / name).read_bytes(),
            headers={"Content-Type": "application/json", **gateway.headers("platform")},
        )
        assert response.status_code == 200, (name, response.text[:500])
        assert response.json()["report"]["valid"] is True
