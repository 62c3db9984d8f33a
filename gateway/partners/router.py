"""HTTP surface of the partner directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.deps import ReadSessionDep, ValidationEngineDep, WriteSessionDep, allow
from gateway.errors import NotFound
from gateway.partners.repository import PartnerRepository
from gateway.partners.schemas import PartnerCreate, PartnerList, PartnerOut, PartnerUpdate
from gateway.partners.service import create_partner, get_partner, partner_out, update_partner

router = APIRouter(prefix="/v1", tags=["partners"])

AdminDep = Annotated[Identity, Depends(allow(Role.admin))]
CodePath = Annotated[str, Path(pattern=r"^[A-Z0-9]{2,16}$", description="partner connection code")]


@router.get("/partners", operation_id="listPartners", response_model=PartnerList)
def list_partners(
    session: ReadSessionDep, _identity: Annotated[Identity, Depends(allow(Role.admin, Role.auditor))]
) -> PartnerList:
    """Every partner with its full trust history."""
    return PartnerList(partners=[partner_out(session, p) for p in PartnerRepository(session).all()])


@router.get("/partners/{code}", operation_id="getPartner", response_model=PartnerOut)
def read_partner(
    code: CodePath,
    session: ReadSessionDep,
    identity: Annotated[Identity, Depends(allow(Role.admin, Role.auditor, Role.partner))],
) -> PartnerOut:
    """One partner; a partner's key sees only its own entry (others are 404, as if absent)."""
    if identity.role is Role.partner and identity.partner_code != code:
        raise NotFound(f"no partner {code}")
    return partner_out(session, get_partner(session, code))


@router.post("/partners", operation_id="createPartner", status_code=status.HTTP_201_CREATED, response_model=PartnerOut)
def add_partner(
    body: PartnerCreate, session: WriteSessionDep, engine: ValidationEngineDep, _admin: AdminDep
) -> PartnerOut:
    """Register a partner with at least one trust anchor."""
    return partner_out(session, create_partner(session, body, engine.catalog.ids))


@router.patch("/partners/{code}", operation_id="updatePartner", response_model=PartnerOut)
def change_partner(
    code: CodePath, body: PartnerUpdate, session: WriteSessionDep, engine: ValidationEngineDep, _admin: AdminDep
) -> PartnerOut:
    """Change a partner's settings; add trust anchors and retire others (retired anchors stay on record)."""
    return partner_out(session, update_partner(session, code, body, engine.catalog.ids))
