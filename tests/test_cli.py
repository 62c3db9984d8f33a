"""``tradegw validate`` and ``tradegw formats``: exit 0 valid, 1 invalid, 2 malformed/unsupported/usage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, FIXTURES, ROOT


def tradegw(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_a_valid_document_exits_0() -> None:
    result = tradegw("validate", str(FIXTURES / "coo" / "valid-10.xml"))
    assert result.returncode == 0, result.stderr
    assert b"valid as ubl-coo-2.4" in result.stdout


def test_an_invalid_document_exits_1_and_lists_findings_with_lines() -> None:
    result = tradegw("validate", str(FIXTURES / "coo" / "invalid" / "hs-code-5-digits.xml"))
    assert result.returncode == 1
    assert b"INVALID" in result.stdout
    assert b"line " in result.stdout


@pytest.mark.usefixtures("corpus")  # skipped, with the reason, where the shared corpus is absent
def test_json_output_is_the_report() -> None:
    result = tradegw(
        "validate",
        "--json",
        str(CORPUS / "ubl-2.4" / "examples" / "UBL-Waybill-2.0-Example-International.xml"),
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["valid"] is True
    assert report["format"]["id"] == "ubl-2.4"


def test_standard_input_and_a_named_format() -> None:
    data = (FIXTURES / "coo" / "valid-10.xml").read_bytes()
    result = tradegw("validate", "--format", "ubl-coo-2.1", "-", stdin=data)
    assert b"as ubl-coo-2.1" in result.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["validate", "-"], b"<unclosed>", b"malformed"),
        (["validate", "-"], b'<Thing xmlns="urn:x"/>', b"unsupported-format"),
        (["validate", "--format", "nope", "-"], b"<a/>", b"unknown-format"),
        (["validate", "/no/such/file.xml"], None, b"cannot read"),
        (["validate"], None, b"Missing argument"),
    ],
    ids=["malformed", "unsupported", "unknown-format", "missing-file", "usage"],
)
def test_refusals_and_usage_errors_exit_2_with_a_readable_message(
    args: list[str], stdin: bytes | None, message: bytes
) -> None:
    result = tradegw(*args, stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert b"Traceback" not in result.stderr


def test_formats_lists_every_pack() -> None:
    result = tradegw("formats", "--json")
    ids = {row["id"] for row in json.loads(result.stdout)}
    assert {
        "ubl-coo-2.4",
        "ubl-coo-2.1",
        "ubl-2.4",
        "ubl-application-response-2.4",
        "ubl-document-status-2.4",
        "sps-ecert-17",
        "cii-d16b",
        "ubl-invoice-2.1",
        "wco-dms-3.6",
        "edi3-coo-json",
    } <= ids


def test_a_broken_extra_catalog_is_a_readable_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[[pack]]\nid = 'x'\n")
    result = tradegw("formats", env={"GATEWAY_FORMAT_CATALOGS": json.dumps([str(broken)])})
    assert result.returncode == 2
    assert b"missing key" in result.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"GATEWAY_DB_POOL_SIZE": "zero"}, b"GATEWAY_DB_POOL_SIZE: Input should be a valid integer"),
        ({"GATEWAY_DELIVERY_CLIENT_CERT": "/etc/tradegw/delivery.pem"}, b"set both GATEWAY_DELIVERY_CLIENT_CERT"),
    ],
    ids=["not-a-number", "half-an-identity"],
)
def test_bad_settings_are_one_readable_line_and_exit_2(env: dict[str, str], says: bytes) -> None:
    result = tradegw("formats", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(b"error: bad settings: ")
    assert says in result.stderr
    assert b"Traceback" not in result.stderr
