"""The certificate registry through the API, in process, on both databases (no delivery worker runs here).

Two partners, TH and ID, both accepting the UBL 2.1 profile. What travels between two real gateways (replacement
chains seen on both sides, withdrawal notices delivered with retries) is in test_exchange_e2e.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import ADAPTERS
from adapters.model import CertificateStatus
from gateway.directory.keyring import init_development_keyring
from schemas.engine import ValidationEngine
from tests.conftest import FIXTURES
from tests.gateway.conftest import Gateway, register_partner, register_thai_partner, running_gateway

UBL = ADAPTERS["ubl-coo-2.4"]
BASE = UBL.parse((FIXTURES / "coo" / "valid-10.xml").read_bytes()).certificate
COUNTRY = BASE.issuing_country


def certificate(number: str, **changes: Any) -> bytes:
    """The fixture certificate under another number (and any other canonical changes), as UBL 2.4."""
    return UBL.render(BASE.model_copy(update={"number": number, **changes})).data


def replacement(number: str, replaces: str) -> bytes:
    return certificate(number, status=CertificateStatus.REPLACEMENT, replaces=replaces)


@pytest.fixture
def app(database_url: str, tmp_path: Path, engine: ValidationEngine) -> Iterator[Gateway]:
    keys = tmp_path / "keys"
    init_development_keyring(keys)
    register_thai_partner(database_url)
    register_partner(database_url, "ID", "Indonesian customs")
    with running_gateway(database_url, tmp_path, engine, keys_dir=keys, gateway_code="JP") as gateway:
        yield gateway


def submit(app: Gateway, data: bytes, to: str = "TH", role: str = "platform") -> Any:
    return app.client.post(
        "/v1/exchanges",
        params={"to": to},
        content=data,
        headers={**app.headers(role), "Content-Type": "application/xml"},
    )


def status(app: Gateway, number: str, role: str = "admin") -> Any:
    return app.client.get(f"/v1/certificates/{COUNTRY}/{number}", headers=app.headers(role))


def test_a_sent_certificate_is_registered_as_issued(app: Gateway) -> None:
    sent = submit(app, certificate("REG-0001"))
    assert sent.status_code == 202, sent.text
    answer = status(app, "REG-0001")
    assert answer.status_code == 200
    current = answer.json()["current"]
    assert (current["version"], current["status"], current["origin"]) == (1, "issued", "sent")
    assert [e["partner"] for e in current["exchanges"]] == ["TH"]
    assert [h["event"] for h in current["history"]] == ["registered", "sent"]


def test_another_document_under_the_same_number_and_version_is_refused_and_recorded(app: Gateway) -> None:
    assert submit(app, certificate("REG-0002")).status_code == 202
    other = submit(app, certificate("REG-0002", remarks=("a different document",)))
    assert other.status_code == 422
    problem = other.json()
    assert problem["type"].endswith(":duplicate-certificate")
    recorded = app.client.get(f"/v1/exchanges/{problem['exchange_id']}", headers=app.headers("admin")).json()
    assert recorded["state"] == "rejected"
    # A new version of the same number is a different certificate.
    assert submit(app, certificate("REG-0002", version=2, remarks=("corrected",))).status_code == 202
    assert [v["version"] for v in status(app, "REG-0002").json()["versions"]] == [1, 2]


def test_the_same_document_again_is_the_existing_exchange_and_a_new_partner_a_new_one(app: Gateway) -> None:
    data = certificate("REG-0003")
    first = submit(app, data)
    again = submit(app, data)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    to_id = submit(app, data, to="ID")
    assert to_id.status_code == 202
    assert to_id.json()["id"] != first.json()["id"]
    versions = status(app, "REG-0003").json()["versions"]
    assert len(versions) == 1, "one certificate, sent to two partners"
    assert sorted(e["partner"] for e in versions[0]["exchanges"]) == ["ID", "TH"]


def test_a_replacement_marks_the_original_and_goes_to_every_partner_that_received_it(app: Gateway) -> None:
    original = certificate("REG-0004")
    assert submit(app, original, to="TH").status_code == 202
    assert submit(app, original, to="ID").status_code == 202
    replaced = submit(app, replacement("REG-0005", "REG-0004"), to="TH")
    assert replaced.status_code == 202, replaced.text
    assert [d["partner"] for d in replaced.json()["replacement_deliveries"]] == ["ID"]
    old = status(app, "REG-0004").json()["current"]
    assert (old["status"], old["replaced_by"]) == ("replaced", "REG-0005")
    new = status(app, "REG-0005").json()["current"]
    assert (new["status"], new["replaces"]) == ("issued", "REG-0004")
    assert sorted(e["partner"] for e in new["exchanges"]) == ["ID", "TH"]
    # A replaced certificate cannot be replaced again: the chain goes on from its replacement.
    again = submit(app, replacement("REG-0006", "REG-0004"))
    assert again.status_code == 422
    assert again.json()["type"].endswith(":replacement-refused")


def test_withdrawal_marks_the_certificate_and_queues_a_signed_notice_per_recipient(app: Gateway) -> None:
    data = certificate("REG-0007")
    submit(app, data, to="TH")
    submit(app, data, to="ID")
    withdrawn = app.client.post(
        f"/v1/certificates/{COUNTRY}/REG-0007/withdraw",
        json={"reason": "issued in error"},
        headers=app.headers("admin"),
    )
    assert withdrawn.status_code == 202, withdrawn.text
    answer = withdrawn.json()
    assert answer["certificate"]["status"] == "withdrawn"
    assert sorted(n["partner"] for n in answer["notices"]) == ["ID", "TH"]
    notice = app.client.get(
        f"/v1/exchanges/{answer['notices'][0]['id']}/documents/sent", headers=app.headers("admin")
    ).content
    assert b"DocumentStatus" in notice
    assert b"issued in error" in notice
    again = app.client.post(
        f"/v1/certificates/{COUNTRY}/REG-0007/withdraw", json={"reason": "twice"}, headers=app.headers("admin")
    )
    assert again.status_code == 409
    unknown = app.client.post(
        f"/v1/certificates/{COUNTRY}/NOPE/withdraw", json={"reason": "x"}, headers=app.headers("admin")
    )
    assert unknown.status_code == 404


def test_the_status_service_is_scoped_to_who_exchanged_the_certificate(app: Gateway) -> None:
    submit(app, certificate("REG-0008"), to="ID")
    assert status(app, "REG-0008", "auditor").status_code == 200
    assert status(app, "REG-0008", "platform").status_code == 200, "the platform that submitted it"
    assert status(app, "REG-0008", "partner").status_code == 404, "the test's partner key is TH's: not sent to TH"
    submit(app, certificate("REG-0008"), to="TH")
    seen_by_th = status(app, "REG-0008", "partner").json()["current"]
    assert [e["partner"] for e in seen_by_th["exchanges"]] == ["TH"], "TH does not learn that ID got it too"
    assert all(h["partner"] in (None, "TH") for h in seen_by_th["history"])


# ----- values the registry cannot hold: refused as problems on both databases, never a server error --------------


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"number": "N" * 129}, "a number over the 128 characters the registry stores"),
        ({"version": 1_000_000_000}, "a version over nine digits, past what a notice carries"),
    ],
    ids=["long-number", "huge-version"],
)
def test_a_certificate_the_registry_cannot_hold_is_refused(app: Gateway, changes: dict[str, Any], what: str) -> None:
    # PostgreSQL refused such a row with a server error (SQLite stored it); the canonical model now bounds both.
    answer = submit(app, UBL.render(BASE.model_copy(update={"number": "REG-BIG", **changes})).data)
    assert answer.status_code == 422, what
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "reason",
    ["issued in error\x01", "\t \n", "issued\x00in error"],
    ids=["control-character", "blank", "nul"],
)
def test_a_withdrawal_reason_a_notice_cannot_carry_is_refused_and_changes_nothing(app: Gateway, reason: str) -> None:
    # The reason goes into the signed UBL notice to every recipient: rendering it used to fail with a server error.
    assert submit(app, certificate("REG-0009")).status_code == 202
    body = json.dumps({"reason": reason}).encode()
    refused = app.client.post(
        f"/v1/certificates/{COUNTRY}/REG-0009/withdraw",
        content=body,
        headers={**app.headers("admin"), "Content-Type": "application/json"},
    )
    assert refused.status_code == 422
    assert refused.json()["type"] == "urn:trade-gateway:problem:invalid-request"
    assert status(app, "REG-0009").json()["current"]["status"] == "issued"


def test_a_version_past_nine_digits_is_not_looked_up(app: Gateway) -> None:
    assert submit(app, certificate("REG-0010")).status_code == 202
    refused = app.client.post(
        f"/v1/certificates/{COUNTRY}/REG-0010/withdraw",
        json={"reason": "issued in error", "version": 2**31},
        headers=app.headers("admin"),
    )
    assert refused.status_code == 422


def _cursor(created: str) -> str:
    """A cursor of the form GET /v1/exchanges returns (creation time, id), for another time."""
    raw = json.dumps([created, str(uuid.UUID(int=0))]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        (f"/v1/certificates/{COUNTRY}/REG%00X", {}, 422),
        ("/v1/exchanges", {"certificate_number": "REG\x00X"}, 422),
        # 9999-12-31T23:00-05:00 is already in year 10000 in UTC, where the database compares times.
        ("/v1/exchanges", {"since": "9999-12-31T23:00:00-05:00"}, 400),
        ("/v1/exchanges", {"until": "0001-01-01T00:00:00+01:00"}, 400),
        ("/v1/exchanges", {"cursor": _cursor("9999-12-31T23:00:00-05:00")}, 400),
    ],
    ids=["nul-in-number", "nul-in-filter", "since-past-year-9999", "until-before-year-1", "cursor-past-year-9999"],
)
def test_a_query_no_database_can_answer_is_a_problem(
    app: Gateway, path: str, params: dict[str, str], expected: int
) -> None:
    # A NUL reached PostgreSQL (which refuses it) and a time past the calendar overflowed: both were server errors.
    answer = app.client.get(path, params=params, headers=app.headers("admin"))
    assert answer.status_code == expected, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
