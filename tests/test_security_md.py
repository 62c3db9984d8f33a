"""SECURITY.md maps every threat of THREATS.md to tests; each test it names must exist, so the map cannot rot."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

SECURITY = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
THREATS = ROOT.parent / "shared" / "THREATS.md"
ROW = re.compile(r"^\| (\d+) \|(.+)\|$", re.MULTILINE)
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _rows(text: str) -> dict[int, str]:
    return {int(number): rest for number, rest in ROW.findall(text)}


def test_every_threat_row_has_at_least_one_named_test() -> None:
    rows = _rows(SECURITY)
    assert sorted(rows) == list(range(1, 20))
    for number, row in rows.items():
        assert NAMED_TEST.search(row), f"row {number} names no test"


def test_every_named_test_exists() -> None:
    named = NAMED_TEST.findall(SECURITY)
    assert named
    for path, function in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {function}\(", source, re.MULTILINE), f"{path}::{function} does not exist"


def test_the_rows_are_the_rows_of_the_threat_list() -> None:
    if not THREATS.exists():
        pytest.skip("../shared/THREATS.md is not beside the repository (the shared corpus checkout)")
    assert sorted(_rows(THREATS.read_text(encoding="utf-8"))) == sorted(_rows(SECURITY))
