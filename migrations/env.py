"""Alembic environment: the URL comes from the caller's Config (gateway.migrate), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool, text
from sqlmodel import SQLModel, create_engine

import gateway.models  # noqa: F401  (registers every table on SQLModel.metadata)

# An arbitrary constant: the key of the PostgreSQL advisory lock that lets only one process migrate at a time.
_MIGRATION_LOCK_KEY = 7_414_227_001


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    is_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=SQLModel.metadata,
                render_as_batch=is_sqlite,  # SQLite cannot ALTER most things: copy-and-move tables instead
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `tradegw db upgrade`")
run_migrations_online()
