"""Storing and reading content-addressed blobs. Writing the same bytes twice stores them once."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from gateway.db import utcnow
from gateway.documents.models import Blob

__all__ = ["get_blob", "put_blob"]


def put_blob(session: Session, data: bytes, media_type: str) -> str:
    """Store ``data`` (if not yet stored) and return its SHA-256 (lowercase hex)."""
    digest = hashlib.sha256(data).hexdigest()
    values = {"sha256": digest, "media_type": media_type, "size": len(data), "data": data, "created_at": utcnow()}
    # ON CONFLICT DO NOTHING: two transactions storing the same bytes concurrently both succeed.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))
    return digest


def get_blob(session: Session, sha256: str) -> Blob | None:
    return session.execute(select(Blob).where(col(Blob.sha256) == sha256)).scalar_one_or_none()
