"""Trust for the signatures of issuing bodies on submitted originals (not partners: theirs is in the directory)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from gateway.settings import Settings
from signing.trust import TrustAnchors, load_pem_certificates

__all__ = ["issuer_trust"]

ISSUER_LABEL = "issuers"


def issuer_trust(settings: Settings) -> TrustAnchors | None:
    """The CAs configured in ``GATEWAY_ISSUER_TRUST``; in development, the dev CA when none is configured (so a
    document signed with `tradegw sign` can be submitted); None when nothing is configured."""
    paths = list(settings.issuer_trust)
    if not paths and settings.env == "development":
        dev_ca = settings.resolved_keys_dir / "ca.pem"
        if dev_ca.exists():
            paths = [dev_ca]
    if not paths:
        return None
    return _load(tuple(p.resolve() for p in paths), tuple(p.stat().st_mtime_ns for p in paths))


@lru_cache(maxsize=8)
def _load(paths: tuple[Path, ...], _mtimes: tuple[int, ...]) -> TrustAnchors:
    # Keyed on the files' modification times as well: replacing a bundle takes effect without a restart.
    certificates = [c for path in paths for c in load_pem_certificates(path.read_bytes())]
    return TrustAnchors(label=ISSUER_LABEL, ca_certificates=tuple(certificates))
