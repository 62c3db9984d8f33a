"""Shared fixtures: corpus paths, the validation engine, and a clean database per test on SQLite and PostgreSQL.

Databases: migrations build one template per backend per session; each test gets a copy (a file copy on
SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL). PostgreSQL comes from ``GATEWAY_TEST_POSTGRES_URL``
(default: the server on 127.0.0.1:5432); outside CI an unreachable server skips those tests with a reason, in CI
it fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gateway.migrate import upgrade
from schemas.catalog import load_catalog
from schemas.engine import ValidationEngine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"
POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config: pytest.Config) -> None:
    """schemathesis (tests/gateway/test_fuzz_openapi.py) installs a pytest plugin that loads with every run and, on
    import, swaps Hypothesis' example printer for one that prints nothing (for its own speed): every property test of
    the suite would then fail without showing its example. The printer is put back."""
    from hypothesis import core
    from hypothesis.vendor import pretty

    core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (it sits beside the repository checkout)")
    return CORPUS


@pytest.fixture(scope="session")
def engine() -> ValidationEngine:
    """One validation engine for the session: compiling schemas is what is expensive, not validating."""
    return ValidationEngine(load_catalog())


def _postgres_admin_url() -> str:
    try:
        probe = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except OperationalError as exc:
        message = (
            f"PostgreSQL not reachable at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} "
            f"({type(exc.orig).__name__}); start it or set GATEWAY_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


class DatabaseFactory:
    """Hands out clean, migrated databases of one backend."""

    def __init__(self, backend: str, tmp_root: Path) -> None:
        self.backend = backend
        self.tmp_root = tmp_root
        self._template: str | None = None
        self._created: list[str] = []

    def _template_url(self) -> str:
        if self._template is None:
            if self.backend == "sqlite":
                path = self.tmp_root / "template.db"
                upgrade(f"sqlite:///{path}")
                self._template = str(path)
            else:
                name = f"gw_template_{os.getpid()}"
                admin = create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                admin.dispose()
                upgrade(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
                self._template = name
        return self._template

    def new(self) -> str:
        template = self._template_url()
        if self.backend == "sqlite":
            path = self.tmp_root / f"db-{uuid.uuid4().hex}.db"
            shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        name = f"gw_test_{uuid.uuid4().hex[:16]}"
        admin = create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        self._created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        if self.backend != "postgresql":
            return
        name = make_url(url).database
        admin = create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    def close(self) -> None:
        if self.backend == "postgresql" and self._template is not None:
            self.drop(f"postgresql+psycopg:///{self._template}")


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    yield factory
    factory.close()


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> Iterator[str]:
    """A clean, migrated database of each backend (the test runs once per backend)."""
    url = database_factory.new()
    yield url
    database_factory.drop(url)
