"""Request and response models of the clients API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from gateway.auth.models import Role
from gateway.inputs import RequestBody


class ClientCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    partner_code: str | None = Field(default=None, description="required for role partner, refused otherwise")


class ClientOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    partner_code: str | None
    key_id: str = Field(description="the public part of the key, as it appears in the key itself")
    created_at: datetime
    revoked_at: datetime | None


class ClientCreated(ClientOut):
    key: str = Field(description="the API key; shown once, only its hash is stored")


class ClientList(BaseModel):
    clients: list[ClientOut]


class WhoAmI(BaseModel):
    client_id: uuid.UUID
    name: str
    role: Role
    partner_code: str | None
