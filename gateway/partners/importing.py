"""Applying a checked capability document to the partner directory: register a new partner, or update a known one.

Every import is an operator's trust decision made on the fingerprints the summary shows. A re-import is normally
vouched for by the partner's existing trust (a rotation: the current key signs the document that announces the next
one); one that is not would re-establish trust on first use, so it is refused unless the operator asks for exactly
that (``allow_unvouched``: the API's ``repin=true``, the CLI's interactive confirmation or ``--repin``). Whoever can
answer at a partner's URL, or get a document in front of an administrator, cannot add a key silently.

A re-import only adds: listed certificates not pinned yet are pinned (a retired one as a new anchor, its retired row
kept as history), and the inbox, formats, document types and audit key and URL follow the document (a document
without an ``audit`` member leaves them as they are). No anchor is ever retired by an
import: an old key may still have signed documents in flight.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from gateway.documents.service import partner_trust
from gateway.partners.capability import CapabilityImport, CapabilityRefused
from gateway.partners.models import Partner
from gateway.partners.repository import PartnerRepository
from gateway.partners.schemas import PartnerUpdate, TrustAnchorIn
from gateway.partners.service import create_partner, update_partner
from signing.jws import verify_json

__all__ = ["UNVOUCHED", "ImportOutcome", "continuity", "import_capability"]

UNVOUCHED = "WARNING:"


@dataclass(frozen=True)
class ImportOutcome:
    partner: Partner
    created: bool
    changes: tuple[str, ...]  # what the import did, one line each; empty when it was already up to date
    notes: tuple[str, ...]  # what differs but was deliberately left alone
    continuity: str | None  # for a re-import: whether the partner's trust already vouched for the document


def continuity(session: Session, imported: CapabilityImport, now: datetime) -> str | None:
    """For a registered partner, whether its trust in force at ``now`` accepts the document's signature; else None."""
    code = imported.partner.code
    if PartnerRepository(session).get(code) is None:
        return None
    anchors, _ = partner_trust(session, code, now)
    result = verify_json(imported.document, imported.signature, anchors, at=now)
    failed = result.failure
    if failed is None:
        return f"the document is signed by a certificate partner {code} is already trusted with"
    return (
        f"{UNVOUCHED} the document is NOT signed by a certificate partner {code} is trusted with now "
        f"({failed.reason}); importing it re-establishes trust on first use: confirm the fingerprints with the partner"
    )


def import_capability(
    session: Session,
    imported: CapabilityImport,
    known_formats: Collection[str],
    now: datetime,
    *,
    allow_unvouched: bool = False,
) -> ImportOutcome:
    """Register the partner of ``imported``, or bring a registered one up to date with it (additions only)."""
    body = imported.partner
    repository = PartnerRepository(session)
    existing = repository.get(body.code)
    if existing is None:
        partner = create_partner(session, body, known_formats)
        pinned = tuple(f"pinned {c.status} certificate {c.sha256} ({c.subject})" for c in imported.certificates)
        return ImportOutcome(partner, True, (f"registered partner {body.code}", *pinned), (), None)

    # Judged before anything changes: afterwards the document's own certificates are trusted and it always verifies.
    vouched = continuity(session, imported, now)
    if vouched is not None and vouched.startswith(UNVOUCHED) and not allow_unvouched:
        raise CapabilityRefused(
            "untrusted-update",
            f"partner {body.code} is registered and its current trust does not vouch for this document; confirm the "
            "fingerprints with the partner, then import with repin (API ?repin=true, CLI --repin) or pin the "
            f"certificate with PATCH /v1/partners/{body.code}",
        )
    history = repository.anchors(body.code)
    active = {a.sha256 for a in history if a.retired_at is None and a.kind == "pinned"}
    retired = {a.sha256: a.retired_at for a in history if a.retired_at is not None}
    changes: list[str] = []
    add_trust: list[TrustAnchorIn] = []
    for certificate in imported.certificates:
        if certificate.sha256 in active:
            continue
        add_trust.append(TrustAnchorIn(kind="pinned", certificate_pem=certificate.pem))
        when = retired.get(certificate.sha256)
        again = f" again (retired here on {when:%Y-%m-%d})" if when is not None else ""
        changes.append(f"pinned{again} {certificate.status} certificate {certificate.sha256} ({certificate.subject})")

    # None leaves a field as it is (PartnerUpdate's convention).
    inbox_url: str | None = None
    formats: list[str] | None = None
    document_types: list[str] | None = None
    if existing.inbox_url != body.inbox_url:
        inbox_url = body.inbox_url
        changes.append(f"inbox: {existing.inbox_url} -> {body.inbox_url}")
    if list(existing.formats) != body.formats:
        formats = body.formats
        changes.append(f"formats: {', '.join(existing.formats)} -> {', '.join(body.formats)}")
    audit: dict[str, str | None] = {}
    if body.audit_verifier_key is not None and existing.audit_verifier_key != body.audit_verifier_key:
        audit["audit_verifier_key"] = body.audit_verifier_key
        changes.append(f"audit key: {existing.audit_verifier_key or '-'} -> {body.audit_verifier_key}")
    if body.audit_url is not None and existing.audit_url != body.audit_url:
        audit["audit_url"] = body.audit_url
        changes.append(f"audit URL: {existing.audit_url or '-'} -> {body.audit_url}")
    if list(existing.document_types) != list(dict.fromkeys(body.document_types)):
        document_types = list(dict.fromkeys(body.document_types))
        changes.append(f"document types: {', '.join(existing.document_types)} -> {', '.join(document_types)}")
    # The name is the operator's label and the country cannot change under a connection code: both are left alone.
    notes: list[str] = []
    if existing.name != body.name:
        notes.append(f"the document names the partner {body.name!r}; the directory keeps {existing.name!r}")
    if existing.country != body.country:
        notes.append(f"the document says country {body.country}; the directory keeps {existing.country}")
    if not changes:
        return ImportOutcome(existing, False, (), tuple(notes), vouched)
    update = PartnerUpdate(
        inbox_url=inbox_url, formats=formats, document_types=document_types, add_trust=add_trust, **audit
    )
    partner = update_partner(session, body.code, update, known_formats)
    return ImportOutcome(partner, False, tuple(changes), tuple(notes), vouched)
