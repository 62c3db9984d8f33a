"""The migrations build exactly the tables the models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import gateway.models  # noqa: F401
from gateway.migrate import head_revision


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == head_revision(database_url)
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []
