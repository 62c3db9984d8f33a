"""GET /v1/directory/self: this gateway's signed capability document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.deps import PUBLIC, SettingsDep, ValidationEngineDep
from gateway.directory.service import capability_document
from gateway.errors import PROBLEM_JSON, ServiceUnavailable

router = APIRouter(prefix="/v1/directory", tags=["directory"])


@router.get(
    "/self",
    operation_id="getCapabilityDocument",
    dependencies=[Depends(PUBLIC)],
    responses={
        503: {
            "description": "no signing key configured or in force",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    },
)
def read_capability_document(request: Request, settings: SettingsDep, engine: ValidationEngineDep) -> dict[str, Any]:
    """This gateway's identity, accepted formats and certificates (current and next), signed (detached JWS).

    Public: partners fetch it to configure trust before they hold a key for this gateway.
    """
    keyring = request.app.state.keyring
    if keyring is None:
        raise ServiceUnavailable("this gateway has no signing keys configured (tradegw keys init, or a keyring)")
    signer = request.app.state.audit_signer
    document = capability_document(
        settings, engine.catalog, keyring, datetime.now(UTC), signer.verifier_key() if signer is not None else None
    )
    if document is None:
        raise ServiceUnavailable("no signing key is valid at this moment; check the keyring's windows")
    return document
