"""The gateway's signing keys with their windows, loaded once at start-up from ``<keys dir>/keyring.toml``.

    [[key]]
    id = "rsa-2026"                      # a label for operators
    certificate = "rsa-signing.pem"      # leaf first, then any intermediates; paths relative to the file
    private_key = "rsa-signing.key.pem"
    signs_from = 2026-11-30T00:00:00Z    # the key signs from this instant (until a newer key takes over)

A key is *published* (listed as "next" in the capability document) for ``publication`` before it signs, so that
partners can add it to their trust before they see it; the newest key whose ``signs_from`` has passed signs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from signing.keys import SigningKey, generate_dev_pki, load_signing_key

__all__ = ["KeyRing", "KeyRingError", "KeyringEntry", "init_development_keyring"]

KEYRING_FILE = "keyring.toml"


class KeyRingError(ValueError):
    """A keyring that cannot be used (missing file, bad key, overlapping ids); raised at start-up."""


@dataclass(frozen=True)
class KeyringEntry:
    id: str
    key: SigningKey
    signs_from: datetime

    @property
    def certificate(self) -> x509.Certificate:
        return self.key.certificate


@dataclass(frozen=True)
class KeyRing:
    entries: tuple[KeyringEntry, ...]  # ordered by signs_from
    publication: timedelta

    @classmethod
    def load(cls, directory: Path, publication: timedelta) -> KeyRing:
        path = directory / KEYRING_FILE
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise KeyRingError(f"{path}: {exc}") from None
        entries = []
        for raw in document.get("key", []):
            try:
                signs_from = raw["signs_from"]
                if not isinstance(signs_from, datetime) or signs_from.tzinfo is None:
                    raise KeyRingError(f"{path}: key {raw.get('id')!r}: signs_from must be a date-time with a zone")
                key = load_signing_key(directory / raw["private_key"], directory / raw["certificate"])
                entries.append(KeyringEntry(id=str(raw["id"]), key=key, signs_from=signs_from.astimezone(UTC)))
            except KeyError as exc:
                raise KeyRingError(f"{path}: a key lacks {exc}") from None
            except (OSError, ValueError) as exc:
                raise KeyRingError(f"{path}: key {raw.get('id')!r}: {exc}") from None
        if not entries:
            raise KeyRingError(f"{path}: no [[key]] entries")
        if len({e.id for e in entries}) != len(entries):
            raise KeyRingError(f"{path}: duplicate key ids")
        return cls(tuple(sorted(entries, key=lambda e: e.signs_from)), publication)

    def signing_key(self, at: datetime) -> KeyringEntry | None:
        """The key that signs at ``at``: the newest that has started and whose certificate is valid then."""
        started = [
            e
            for e in self.entries
            if e.signs_from <= at and e.certificate.not_valid_before_utc <= at < e.certificate.not_valid_after_utc
        ]
        return started[-1] if started else None

    def published(self, at: datetime) -> list[tuple[str, KeyringEntry]]:
        """("current" | "next", entry) for the capability document at ``at``."""
        current = self.signing_key(at)
        listed: list[tuple[str, KeyringEntry]] = []
        if current is not None:
            listed.append(("current", current))
        for entry in self.entries:
            if entry.signs_from > at and entry.signs_from - self.publication <= at:
                listed.append(("next", entry))
        return listed


def init_development_keyring(directory: Path, now: datetime | None = None) -> bool:
    """Create a development PKI and a keyring whose RSA-3072 key signs from now; False when one exists already."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    pki = generate_dev_pki(directory, now=now)
    keyring = directory / KEYRING_FILE
    if keyring.exists():
        return False
    rsa_cert, rsa_key = pki.rsa
    keyring.write_text(
        "# Development keyring written by `tradegw keys init`. Never use these keys in production.\n"
        "[[key]]\n"
        'id = "dev-rsa"\n'
        f'certificate = "{rsa_cert.name}"\n'
        f'private_key = "{rsa_key.name}"\n'
        f"signs_from = {now.strftime('%Y-%m-%dT%H:%M:%SZ')}\n",
        encoding="utf-8",
    )
    return True
