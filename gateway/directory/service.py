"""The capability document: who this gateway is, what it accepts, and the certificates partners must trust.

It is served as ``{"document": {...}, "signature": "<detached JWS>"}``; the JWS covers the RFC 8785 form of
``document`` and is made with the key that signs at that moment, so partners can check it against the
certificates they already trust before adding a "next" one.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from gateway.directory.keyring import KeyRing
from gateway.settings import Settings
from schemas.catalog import FormatCatalog
from signing.jws import sign_json

__all__ = ["PROTOCOL_VERSION", "capability_document"]

PROTOCOL_VERSION = 1


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def capability_document(
    settings: Settings, catalog: FormatCatalog, keyring: KeyRing, at: datetime, audit_verifier_key: str | None = None
) -> dict[str, Any] | None:
    """The signed capability document at ``at``; None when no key may sign at that moment.

    ``audit_verifier_key``: the verifier key of our audit checkpoints; with it, the document tells partners how to
    witness our log (the key that signs the checkpoints we send, and where to fetch consistency proofs)."""
    current = keyring.signing_key(at)
    if current is None:
        return None
    # The formats we accept, in our order of preference: the configured list (rendering profiles such as
    # ubl-coo-2.1 included, since a partner's gateway renders them on purpose), or every format we detect.
    if settings.accepted_formats:
        accepted = [p for p in (catalog.get(i) for i in settings.accepted_formats) if p is not None]
    else:
        accepted = [p for p in catalog.packs if p.detect]
    document: dict[str, Any] = {
        "gateway": {"code": settings.gateway_code, "name": settings.gateway_name, "country": settings.gateway_country},
        "protocol_version": PROTOCOL_VERSION,
        "inbox_url": settings.public_inbox_url,
        "formats": [{"id": p.id, "version": p.version, "digest": p.digest} for p in accepted],
        "document_types": sorted({t for p in accepted for t in p.document_types}),
        "certificates": [
            {
                "status": status,
                "kid": entry.key.key_id,
                "algorithm": entry.key.algorithm,
                "signs_from": _iso(entry.signs_from),
                "not_after": _iso(entry.certificate.not_valid_after_utc),
                "x5c": [
                    base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii")
                    for c in (entry.certificate, *entry.key.chain)
                ],
            }
            for status, entry in keyring.published(at)
        ],
        "issued_at": _iso(at),
    }
    if audit_verifier_key is not None:
        document["audit"] = {"verifier_key": audit_verifier_key, "url": settings.resolved_public_audit_url}
    return {"document": document, "signature": sign_json(document, current.key)}
