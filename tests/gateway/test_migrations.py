"""The migrations build exactly the tables the models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text
from sqlmodel import SQLModel

import gateway.models  # noqa: F401
from gateway.migrate import head_revision
from tests.conftest import POSTGRES_URL, ROOT, DatabaseFactory, _postgres_admin_url


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == head_revision(database_url)
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_several_processes_upgrading_at_once_migrate_once(database_factory: DatabaseFactory) -> None:
    """A release rolled out to replicas that each run `tradegw db upgrade`: one migrates under the advisory lock,
    the others wait for it and find nothing left to do."""
    if database_factory.backend != "postgresql":
        pytest.skip("the migration lock is PostgreSQL's advisory lock; SQLite is one host's embedded database")
    name = f"gw_upgrade_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        env = {**os.environ, "GATEWAY_DATABASE_URL": url, "GATEWAY_ENV": "production"}
        upgrades = [
            subprocess.Popen(
                [sys.executable, "-m", "gateway", "db", "upgrade"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        errors = [process.communicate(timeout=120)[1] for process in upgrades]
        assert [process.returncode for process in upgrades] == [0, 0, 0], errors
        engine = create_engine(url)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision(url)
            assert compare_metadata(context, SQLModel.metadata) == []
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
