"""HTTP surface of API client management (admin) and of the caller's own identity."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from gateway.auth.models import ApiClient, Role
from gateway.auth.repository import ApiClientRepository
from gateway.auth.schemas import ClientCreate, ClientCreated, ClientList, ClientOut, WhoAmI
from gateway.auth.service import Identity, issue_client, revoke_client
from gateway.deps import ReadSessionDep, WriteSessionDep, allow
from gateway.errors import PROBLEM_JSON

router = APIRouter(prefix="/v1", tags=["clients"])

AdminDep = Annotated[Identity, Depends(allow(Role.admin))]
_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _out(client: ApiClient) -> ClientOut:
    return ClientOut.model_validate(client, from_attributes=True)


@router.get("/clients", operation_id="listClients", response_model=ClientList)
def list_clients(
    session: ReadSessionDep,
    _admin: AdminDep,
    include_revoked: Annotated[bool, Query()] = False,
) -> ClientList:
    """API clients, oldest first (keys are never shown again)."""
    return ClientList(clients=[_out(c) for c in ApiClientRepository(session).list(include_revoked=include_revoked)])


@router.post(
    "/clients",
    operation_id="createClient",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientCreated,
    responses={
        400: {
            "description": "a role and partner code that do not go together, an empty name, or a body not in UTF-8",
            **_PROBLEM,
        }
    },
)
def create_client(body: ClientCreate, session: WriteSessionDep, _admin: AdminDep) -> ClientCreated:
    """Create a client; the response carries its key, which is not stored and cannot be shown again."""
    issued = issue_client(session, role=body.role.value, name=body.name, partner_code=body.partner_code)
    return ClientCreated(**_out(issued.client).model_dump(), key=issued.key)


@router.delete(
    "/clients/{client_id}",
    operation_id="revokeClient",
    response_model=ClientOut,
    responses={404: {"description": "no such client", **_PROBLEM}},
)
def revoke(client_id: uuid.UUID, session: WriteSessionDep, _admin: AdminDep) -> ClientOut:
    """Revoke a client's key at once; the row is kept for the record."""
    return _out(revoke_client(session, client_id))


@router.get("/me", operation_id="whoAmI", response_model=WhoAmI)
def who_am_i(
    identity: Annotated[Identity, Depends(allow(Role.admin, Role.platform, Role.partner, Role.auditor))],
) -> WhoAmI:
    """The identity behind the presented key (useful to check a key before going live)."""
    return WhoAmI(
        client_id=identity.client_id,
        name=identity.name,
        role=identity.role,
        partner_code=identity.partner_code,
    )
