"""All SQL about API clients."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from gateway.auth.models import ApiClient


class ApiClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, client: ApiClient) -> ApiClient:
        self.session.add(client)
        self.session.flush()
        return client

    def by_key_id(self, key_id: str) -> ApiClient | None:
        return self.session.exec(select(ApiClient).where(ApiClient.key_id == key_id)).first()

    def get(self, client_id: uuid.UUID) -> ApiClient | None:
        return self.session.get(ApiClient, client_id)

    def list(self, *, include_revoked: bool = False) -> list[ApiClient]:
        query = select(ApiClient).order_by(col(ApiClient.created_at), col(ApiClient.id))
        if not include_revoked:
            query = query.where(col(ApiClient.revoked_at).is_(None))
        return list(self.session.exec(query))

    def revoke(self, client: ApiClient, when: datetime) -> None:
        client.revoked_at = when
        self.session.add(client)
        self.session.flush()
