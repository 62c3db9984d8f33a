"""HTTP surface of the partner directory."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.db import unit_of_work, utcnow
from gateway.deps import DbEngineDep, ReadSessionDep, ValidationEngineDep, WriteSessionDep, allow
from gateway.errors import NotFound
from gateway.partners.capability import partner_from_capability
from gateway.partners.importing import ImportOutcome, import_capability
from gateway.partners.repository import PartnerRepository
from gateway.partners.schemas import PartnerCreate, PartnerList, PartnerOut, PartnerUpdate
from gateway.partners.service import create_partner, get_partner, partner_out, update_partner

router = APIRouter(prefix="/v1", tags=["partners"])

AdminDep = Annotated[Identity, Depends(allow(Role.admin))]
CodePath = Annotated[str, Path(pattern=r"^[A-Z0-9]{2,16}$", description="partner connection code")]
_PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
# The body is read as bytes and parsed by the gateway's hardened JSON parse, so OpenAPI gets its shape by hand.
_CAPABILITY_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["document", "signature"],
                "properties": {
                    "document": {"type": "object", "description": "the partner's capability document"},
                    "signature": {"type": "string", "description": "detached JWS over the RFC 8785 form of document"},
                },
                "additionalProperties": False,
            }
        }
    },
}
log = structlog.get_logger("gateway.partners")


@router.get("/partners", operation_id="listPartners", response_model=PartnerList)
def list_partners(
    session: ReadSessionDep, _identity: Annotated[Identity, Depends(allow(Role.admin, Role.auditor))]
) -> PartnerList:
    """Every partner with its full trust history."""
    return PartnerList(partners=[partner_out(session, p) for p in PartnerRepository(session).all()])


@router.get(
    "/partners/{code}",
    operation_id="getPartner",
    response_model=PartnerOut,
    responses={404: {"description": "no such partner (or not the caller's own)", **_PROBLEM}},
)
def read_partner(
    code: CodePath,
    session: ReadSessionDep,
    identity: Annotated[Identity, Depends(allow(Role.admin, Role.auditor, Role.partner))],
) -> PartnerOut:
    """One partner; a partner's key sees only its own entry (others are 404, as if absent)."""
    if identity.role is Role.partner and identity.partner_code != code:
        raise NotFound(f"no partner {code}")
    return partner_out(session, get_partner(session, code))


@router.post(
    "/partners",
    operation_id="createPartner",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerOut,
    responses={
        400: {
            "description": "already registered, a country, URL, format, credential reference or trust anchor the "
            "gateway refuses, or a body that is not UTF-8",
            **_PROBLEM,
        }
    },
)
def add_partner(
    body: PartnerCreate, session: WriteSessionDep, engine: ValidationEngineDep, _admin: AdminDep
) -> PartnerOut:
    """Register a partner with at least one trust anchor."""
    return partner_out(session, create_partner(session, body, engine.catalog.ids))


@router.patch(
    "/partners/{code}",
    operation_id="updatePartner",
    response_model=PartnerOut,
    responses={
        400: {
            "description": "a URL, format, credential reference or trust anchor the gateway refuses, a change that "
            "would leave no active trust anchor, or a body that is not UTF-8",
            **_PROBLEM,
        },
        404: {"description": "no such partner", **_PROBLEM},
    },
)
def change_partner(
    code: CodePath, body: PartnerUpdate, session: WriteSessionDep, engine: ValidationEngineDep, _admin: AdminDep
) -> PartnerOut:
    """Change a partner's settings; add trust anchors and retire others (retired anchors stay on record)."""
    return partner_out(session, update_partner(session, code, body, engine.catalog.ids))


@router.post(
    "/partners/import",
    operation_id="importPartner",
    response_model=PartnerOut,
    response_description="the partner was registered already: updated (or already up to date)",
    openapi_extra={"requestBody": _CAPABILITY_BODY},
    responses={
        201: {"description": "a new partner, registered", "model": PartnerOut},
        400: {"description": "not a capability document (malformed JSON, missing or mistyped members)", **_PROBLEM},
        413: {"description": "body over the size limit of a capability document (1 MiB)", **_PROBLEM},
        422: {
            "description": "capability-refused: bad signature, signer not a current certificate, wrong code, "
            "unsupported protocol version, no format in common, every certificate expired, dated in the future, or "
            "a re-import the partner's current trust does not vouch for (without repin); the reason member says which",
            **_PROBLEM,
        },
    },
)
async def import_partner(
    request: Request,
    response: Response,
    db: DbEngineDep,
    engine: ValidationEngineDep,
    _admin: AdminDep,
    code: Annotated[
        str | None, Query(pattern=r"^[A-Z0-9]{2,16}$", description="the partner code the document must name")
    ] = None,
    repin: Annotated[
        bool,
        Query(
            description="for a registered partner whose current trust does not vouch for the document: re-establish "
            "trust on first use (confirm the fingerprints with the partner first); refused (untrusted-update) otherwise"
        ),
    ] = False,
) -> PartnerOut:
    """Register a partner from its signed capability document (the body of its GET /v1/directory/self).

    The document must be signed by one of the current certificates it lists; every listed certificate (current and
    next) becomes a pinned trust anchor. This is trust on first use: compare the fingerprints (trust[].sha256) with
    the partner out of band. Importing a registered partner again pins the certificates not pinned yet (none is
    retired) and the inbox, formats and document types follow the document.
    """
    body = await request.body()
    now = utcnow()
    known = engine.catalog.ids

    def apply() -> tuple[PartnerOut, ImportOutcome]:
        imported = partner_from_capability(body, expected_code=code, formats_we_send=known, now=now)
        with unit_of_work(db, write=True) as session:
            outcome = import_capability(session, imported, known, now, allow_unvouched=repin)
            return partner_out(session, outcome.partner), outcome

    # Signature checks and database work are blocking: keep them off the event loop.
    partner, outcome = await run_in_threadpool(apply)
    # Logged after the commit: a trust change is on record only once it took effect. The continuity says whether
    # the partner's existing trust vouched for the document, or the import re-established trust on first use.
    log.info(
        "partner imported from its capability document",
        partner=partner.code,
        changes=list(outcome.changes),
        continuity=outcome.continuity,
    )
    response.status_code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return partner
