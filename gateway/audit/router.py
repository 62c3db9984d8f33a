"""The auditor's API: entries, the signed checkpoint, inclusion and consistency proofs (RFC 9162 order)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import col

from gateway.audit.bundle import BUNDLE_VERSION
from gateway.audit.checkpoints import latest
from gateway.audit.log import decode_leaf
from gateway.audit.models import AuditEntry, AuditHead
from gateway.audit.tree import StoredTree
from gateway.auth.models import Role
from gateway.auth.service import Identity
from gateway.db import unit_of_work
from gateway.deps import PUBLIC, DbEngineDep, allow
from gateway.errors import PROBLEM_JSON, BadRequest, NotFound
from gateway.inputs import STORABLE_TEXT, time_window

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
MAX_INDEX = 2**63 - 1  # the largest index the BIGINT column holds
AuditorDep = Annotated[Identity, Depends(allow(Role.admin, Role.auditor, Role.partner))]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class EntryOut(BaseModel):
    index: int
    leaf: str = Field(description="the exact hashed bytes (RFC 8785 JSON), base64")
    entry: dict[str, Any] = Field(description="the decoded leaf")


class EntryList(BaseModel):
    entries: list[EntryOut]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on the last page")


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    path: list[str] = Field(description="base64 hashes, RFC 9162 §2.1.3 order")


class ConsistencyProof(BaseModel):
    first: int
    second: int
    path: list[str] = Field(description="base64 hashes, RFC 9162 §2.1.4 order")


def _size(session: Any) -> int:
    size: int = session.execute(select(col(AuditHead.size)).where(col(AuditHead.id) == 1)).scalar_one()
    return size


@router.get(
    "/entries",
    operation_id="listAuditEntries",
    response_model=EntryList,
    responses={
        400: {"description": "exchange not a UUID, or since or until without a time zone or out of range", **_PROBLEM}
    },
)
def entries(
    db: DbEngineDep,
    identity: AuditorDep,
    exchange: Annotated[str | None, Query(max_length=36, description="an exchange id")] = None,
    certificate: Annotated[
        str | None, Query(max_length=128, pattern=STORABLE_TEXT, description="a certificate number")
    ] = None,
    partner: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,16}$")] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=STORABLE_TEXT)] = None,
    outcome: Annotated[str | None, Query(max_length=64, pattern=STORABLE_TEXT)] = None,
    since: Annotated[datetime | None, Query(description="at or after (ISO 8601 with zone)")] = None,
    until: Annotated[datetime | None, Query(description="before (ISO 8601 with zone)")] = None,
    after: Annotated[int | None, Query(ge=-1, le=MAX_INDEX, description="next_after of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EntryList:
    """Entries in index order, each with its exact leaf bytes. A partner sees only the entries about itself."""
    query = select(AuditEntry).order_by(col(AuditEntry.index)).limit(limit + 1)
    if identity.role is Role.partner:
        query = query.where(col(AuditEntry.partner_code) == identity.partner_code)
    if exchange is not None:
        query = query.where(col(AuditEntry.exchange_id) == _uuid(exchange))
    for column, value in (
        (AuditEntry.certificate_number, certificate),
        (AuditEntry.partner_code, partner),
        (AuditEntry.action, action),
        (AuditEntry.outcome, outcome),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    since, until = time_window(since, until)
    if since is not None:
        query = query.where(col(AuditEntry.created_at) >= since)
    if until is not None:
        query = query.where(col(AuditEntry.created_at) < until)
    if after is not None:
        query = query.where(col(AuditEntry.index) > after)
    with unit_of_work(db) as session:
        rows = list(session.execute(query).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return EntryList(
        entries=[EntryOut(index=r.index, leaf=_b64(r.leaf), entry=decode_leaf(r.leaf)) for r in rows],
        next_after=rows[-1].index if more and rows else None,
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadRequest("exchange is an exchange id (UUID)") from None


@router.get(
    "/checkpoint",
    operation_id="getAuditCheckpoint",
    response_class=Response,
    responses={
        200: {"description": "the latest signed checkpoint (C2SP tlog-checkpoint note)", "content": {"text/plain": {}}},
        404: {"description": "no checkpoint signed yet", **_PROBLEM},
    },
)
def checkpoint(db: DbEngineDep, _public: Annotated[None, Depends(PUBLIC)]) -> Response:
    """The latest signed checkpoint: public, like a transparency log's, since partners are its witnesses."""
    with unit_of_work(db) as session:
        found = latest(session)
    if found is None:
        raise NotFound("no checkpoint has been signed yet")
    return Response(found.note, media_type="text/plain; charset=utf-8")


@router.get(
    "/entries/{index}/proof",
    operation_id="getAuditInclusionProof",
    response_model=InclusionProof,
    responses={
        400: {"description": "index or size outside the log", **_PROBLEM},
        404: {
            "description": "no size named and no checkpoint signed yet, or an entry not about the calling partner",
            **_PROBLEM,
        },
    },
)
def proof(
    index: Annotated[int, Path(ge=0)],
    db: DbEngineDep,
    identity: AuditorDep,
    size: Annotated[int | None, Query(ge=1, description="tree size (default: the latest checkpoint's)")] = None,
) -> InclusionProof:
    """The inclusion proof of one entry in the tree of ``size`` entries: verify it against a signed checkpoint."""
    with unit_of_work(db) as session:
        if size is None:
            signed = latest(session)
            if signed is None:
                raise NotFound("no checkpoint has been signed yet: name a size")
            size = signed.size
        if size > _size(session) or index >= size:
            raise BadRequest(f"entry {index} is not in a log of {size} entries (the log has {_size(session)})")
        if identity.role is Role.partner:
            entry = session.get(AuditEntry, index)
            if entry is None or entry.partner_code != identity.partner_code:
                raise NotFound(f"no entry {index}")
        path = StoredTree(session, size).inclusion(index)
    return InclusionProof(leaf_index=index, tree_size=size, path=[_b64(h) for h in path])


@router.get(
    "/consistency",
    operation_id="getAuditConsistencyProof",
    response_model=ConsistencyProof,
    responses={400: {"description": "sizes outside the log, or first > second", **_PROBLEM}},
)
def consistency(
    db: DbEngineDep,
    _public: Annotated[None, Depends(PUBLIC)],
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int, Query(ge=0)],
) -> ConsistencyProof:
    """The proof that the log of ``second`` entries extends the log of ``first``: public, for witnesses."""
    with unit_of_work(db) as session:
        if first > second or second > _size(session):
            raise BadRequest(f"need 0 <= first <= second <= {_size(session)}")
        path = StoredTree(session, second).consistency(first)
    return ConsistencyProof(first=first, second=second, path=[_b64(h) for h in path])


MAX_EXPORT = 10_000


@router.get(
    "/export",
    operation_id="exportAudit",
    responses={
        200: {"description": "a bundle for `tradegw audit verify`: checkpoint, entries with proofs, consistency"},
        400: {"description": "the range is not within the latest checkpoint, or too long", **_PROBLEM},
        404: {"description": "no checkpoint signed yet", **_PROBLEM},
    },
)
def export(
    db: DbEngineDep,
    _identity: Annotated[Identity, Depends(allow(Role.admin, Role.auditor))],
    from_: Annotated[int, Query(alias="from", ge=0, description="first index")] = 0,
    to: Annotated[int | None, Query(ge=0, description="end index, exclusive (default: the checkpoint's size)")] = None,
    previous: Annotated[
        int | None, Query(ge=0, description="also prove consistency from this earlier checkpoint size")
    ] = None,
) -> dict[str, Any]:
    """Entries [from, to) of the log with their inclusion proofs in the latest signed checkpoint's tree: verifiable
    offline. A range from 0 to the checkpoint's size lets the verifier recompute the root itself."""
    with unit_of_work(db) as session:
        signed = latest(session)
        if signed is None:
            raise NotFound("no checkpoint has been signed yet")
        end = signed.size if to is None else to
        if not from_ <= end <= signed.size or end - from_ > MAX_EXPORT:
            raise BadRequest(f"need from <= to <= {signed.size} and at most {MAX_EXPORT} entries")
        if previous is not None and previous > signed.size:
            raise BadRequest(f"previous must be at most {signed.size}")
        tree = StoredTree(session, signed.size)
        rows = session.execute(
            select(col(AuditEntry.index), col(AuditEntry.leaf))
            .where(col(AuditEntry.index) >= from_, col(AuditEntry.index) < end)
            .order_by(col(AuditEntry.index))
        ).all()
        proofs = tree.inclusions([index for index, _ in rows])
        bundle: dict[str, Any] = {
            "v": BUNDLE_VERSION,
            "checkpoint": signed.note,
            "from": from_,
            "to": end,
            "entries": [
                {"index": index, "leaf": _b64(leaf), "proof": [_b64(h) for h in proof]}
                for (index, leaf), proof in zip(rows, proofs, strict=True)
            ],
        }
        if previous is not None:
            path = tree.consistency(previous)
            bundle["consistency"] = {"first": previous, "path": [_b64(h) for h in path]}
    return bundle
