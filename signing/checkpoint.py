"""Audit-log checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note), Ed25519 only.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` plus optional extension lines; the
signed note appends a blank line and lines ``— <key name> <base64(4-byte key ID || signature)>``. Keys are written
as ``<name>+<hex key ID>+<base64(0x01 || public key)>`` (verifier) and
``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` (signer), as the Go sumdb note package does.

Exceptions: :class:`NoteRefused` is the base of :class:`MalformedNote` (not in the format: nothing was checked)
and :class:`UnverifiedNote` (well formed, but no signature by the expected key verifies). :class:`MalformedKey`
is a key string that is not in its format. A checkpoint's size and root are only meaningful together, as signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "MalformedKey",
    "MalformedNote",
    "NoteRefused",
    "NoteSigner",
    "NoteVerifier",
    "UnverifiedNote",
    "open_note",
    "parse_verifier_key",
    "verify_note",
]

# The spec asks verifiers to bound the number of signatures and to accept at least 16 (witness cosignatures
# accumulate). A line holds one post-quantum signature (nearly 5 kB, so 6.6 kB of base64) with room to spare, and
# the whole note a checkpoint and every allowed signature at full length.
MAX_SIGNATURES: Final = 100
MAX_LINE_BYTES: Final = 8192
MAX_NOTE_BYTES: Final = 1 << 20
HASH_SIZE: Final = 32
# Signature type 0x01 of c2sp.org/signed-note: Ed25519 over the note text.
ED25519: Final = b"\x01"
_SIGNATURE_PREFIX: Final = "\u2014 "  # EM DASH, space
_KEY_ID_SIZE: Final = 4
_ED25519_SIGNATURE_SIZE: Final = 64
_SIZE_LIMIT: Final = 1 << 64  # tree sizes are uint64 in every other implementation
_CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_PRIVATE_PREFIX: Final = "PRIVATE+KEY+"


class NoteRefused(Exception):
    """The note must not be acted on."""


class MalformedNote(NoteRefused, ValueError):
    """Not a signed note, or its text is not a checkpoint: refused before any signature counted."""


class UnverifiedNote(NoteRefused):
    """No signature by the expected key verifies, or one claiming to be by it does not."""


class MalformedKey(ValueError):
    """A verifier or signer key string that is not in its format, or whose key ID does not match its key."""


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Standard base64 with padding (RFC 4648 §4), refusing other alphabets and non-zero trailing bits.

    Only the canonical spelling is accepted so that one value has one text: a checkpoint body re-serialises to the
    bytes that were signed.
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("not standard base64") from exc
    if _b64encode(data) != text:
        raise ValueError("not canonical base64")
    return data


def _check_text_line(line: str, what: str) -> None:
    if not line:
        raise ValueError(f"{what} is empty")
    if any(char < " " for char in line):
        raise ValueError(f"{what} contains a control character")
    if len(line.encode("utf-8")) > MAX_LINE_BYTES:
        raise ValueError(f"{what} is longer than {MAX_LINE_BYTES} bytes")


def _check_key_name(name: str) -> None:
    # signed-note: key names are non-empty, without Unicode spaces or "+" (the key strings split on "+").
    if not name or "+" in name or any(char.isspace() or char < " " for char in name):
        raise ValueError(f"key name {name!r} is empty or contains a space, a plus sign or a control character")


def _key_id(name: str, public_key: bytes) -> bytes:
    # signed-note §Ed25519 signatures: SHA-256(key name || 0x0A || 0x01 || public key)[:4].
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + public_key).digest()[:_KEY_ID_SIZE]


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head (c2sp.org/tlog-checkpoint): origin, tree size, root hash and opaque extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_text_line(self.origin, "the origin")
        if not 0 <= self.size < _SIZE_LIMIT:
            raise ValueError(f"tree size {self.size} is not a uint64")
        if len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"the root hash has {len(self.root_hash)} bytes, not {HASH_SIZE}")
        for extension in self.extensions:
            _check_text_line(extension, "an extension line")

    def body(self) -> bytes:
        """The note text that is signed."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(f"{line}\n" for line in lines).encode("utf-8")

    @classmethod
    def parse_body(cls, body: bytes) -> Checkpoint:
        """The checkpoint in a note text; :class:`MalformedNote` unless it is exactly what :meth:`body` writes."""
        text = _decode_note_text(body, "the checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedNote("a checkpoint has at least three lines: origin, tree size, root hash")
        origin, size, root_hash, *extensions = lines
        if not _CANONICAL_DECIMAL.fullmatch(size):
            raise MalformedNote(f"tree size {size!r} is not a decimal number without leading zeros")
        try:
            return cls(origin, int(size), _b64decode(root_hash), tuple(extensions))
        except ValueError as exc:
            raise MalformedNote(f"not a checkpoint: {exc}") from exc


def _decode_note_text(data: bytes, what: str) -> str:
    """UTF-8 text ending in a newline with no other control characters (signed-note §Format)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote(f"{what} is not UTF-8") from exc
    if not text.endswith("\n"):
        raise MalformedNote(f"{what} does not end in a newline")
    for number, line in enumerate(text[:-1].split("\n"), start=1):
        if any(char < " " for char in line):
            raise MalformedNote(f"line {number} of {what} contains a control character")
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            raise MalformedNote(f"line {number} of {what} is longer than {MAX_LINE_BYTES} bytes")
    return text


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 note verifier key: the (name, key ID) pair a signature line must carry, and the public key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def __str__(self) -> str:
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(ED25519 + raw)}"


def _key_fields(text: str, shape: str, material: str) -> tuple[str, str, bytes]:
    """(name, key ID as written, the 32 key bytes) of ``<name>+<key ID>+<base64(0x01 || 32 bytes)>``, the common
    shape of verifier and signer keys; :class:`MalformedKey` naming ``shape`` and ``material`` otherwise."""
    # Names and key IDs hold no "+"; base64 may, so only the first two separate fields.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise MalformedKey(shape)
    name, key_id, encoded = parts
    try:
        _check_key_name(name)
        typed_key = _b64decode(encoded)
    except ValueError as exc:
        raise MalformedKey(str(exc)) from exc
    if not _KEY_ID_HEX.fullmatch(key_id):
        raise MalformedKey(f"key ID {key_id!r} is not 8 lower-case hex digits")
    if typed_key[:1] != ED25519 or len(typed_key) != 1 + 32:
        raise MalformedKey(f"only Ed25519 keys (type 0x01, {material}) are supported")
    return name, key_id, typed_key[1:]


def parse_verifier_key(key: str) -> NoteVerifier:
    """``<name>+<8 lower-case hex digits>+<base64(0x01 || 32-byte public key)>``; :class:`MalformedKey` otherwise."""
    name, key_id, public_key = _key_fields(key, "a verifier key is <name>+<key ID>+<key>", "32 bytes")
    if _key_id(name, public_key) != bytes.fromhex(key_id):
        raise MalformedKey(f"key ID {key_id} is not the ID of this name and key")
    return NoteVerifier(name, bytes.fromhex(key_id), Ed25519PublicKey.from_public_bytes(public_key))


class NoteSigner:
    """Signs note texts with an Ed25519 key under a key name (for a log, the name SHOULD be its origin)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name)
        self.name = name
        self._private_key = private_key
        self._public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = _key_id(name, self._public_key)

    @classmethod
    def from_signer_key(cls, key: str) -> NoteSigner:
        """``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>``; :class:`MalformedKey` otherwise."""
        if not key.startswith(_PRIVATE_PREFIX):
            raise MalformedKey("a signer key starts with PRIVATE+KEY+")
        name, key_id, seed = _key_fields(
            key[len(_PRIVATE_PREFIX) :], "a signer key is PRIVATE+KEY+<name>+<key ID>+<key>", "32-byte seed"
        )
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key_id.hex() != key_id:
            raise MalformedKey(f"key ID {key_id} is not the ID of this name and key")
        return signer

    def signer_key(self) -> str:
        """The private key string (keep it with the signer's last signed tree head, outside the database)."""
        seed = self._private_key.private_bytes_raw()
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{_b64encode(ED25519 + seed)}"

    def verifier_key(self) -> str:
        """The public key string partners configure to verify this signer's notes."""
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(ED25519 + self._public_key)}"

    def sign(self, body: bytes) -> bytes:
        """The signed note: ``body``, a blank line, and this key's signature line.

        ``body`` must be a valid note text (UTF-8, ending in a newline, no other control characters).
        """
        _decode_note_text(body, "the note text")
        signature = self._private_key.sign(body)
        line = f"{_SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"
        return body + b"\n" + line.encode("utf-8")


def _signature_lines(block: str) -> list[tuple[str, bytes]]:
    """(key name, key ID || signature) of each signature line, or :class:`MalformedNote`."""
    if not block:
        raise MalformedNote("the note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"the note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise MalformedNote(f"signature line {line[:40]!r} does not start with an em dash and a space")
        parts = line[len(_SIGNATURE_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise MalformedNote(f"signature line {line[:40]!r} is not '— <key name> <signature>'")
        name, encoded = parts
        try:
            _check_key_name(name)
            signature = _b64decode(encoded)
        except ValueError as exc:
            raise MalformedNote(f"signature line {line[:40]!r}: {exc}") from exc
        if len(signature) <= _KEY_ID_SIZE:
            raise MalformedNote(f"signature line {line[:40]!r} carries no signature after the key ID")
        signatures.append((name, signature))
    return signatures


def verify_note(note: bytes, key: NoteVerifier | str) -> bytes:
    """The text of ``note`` if a signature by ``key`` verifies over it.

    Signatures by other keys are ignored, as the spec requires (they are other logs' or witnesses' business),
    including one that shares only the name or only the key ID. One that carries both and fails refuses the note.
    """
    verifier = parse_verifier_key(key) if isinstance(key, str) else key
    if len(note) > MAX_NOTE_BYTES:
        raise MalformedNote(f"the note is larger than {MAX_NOTE_BYTES} bytes")
    text = _decode_note_text(note, "the note")
    # The text may itself hold empty lines; the signatures start after the last one.
    separator = text.rfind("\n\n")
    if separator < 0:
        raise MalformedNote("the note has no blank line before its signatures")
    body, block = text[: separator + 1], text[separator + 2 :]
    signatures = _signature_lines(block)
    body_bytes = body.encode("utf-8")
    verified = False
    for name, signature in signatures:
        if name != verifier.name or signature[:_KEY_ID_SIZE] != verifier.key_id:
            continue
        if len(signature) != _KEY_ID_SIZE + _ED25519_SIGNATURE_SIZE:
            raise UnverifiedNote(f"the signature by {verifier.name} is not an Ed25519 signature")
        try:
            verifier.public_key.verify(signature[_KEY_ID_SIZE:], body_bytes)
        except InvalidSignature as exc:
            raise UnverifiedNote(f"the signature by {verifier.name} does not verify") from exc
        verified = True
    if not verified:
        raise UnverifiedNote(f"the note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return body_bytes


def open_note(note: bytes, verifier_key: NoteVerifier | str) -> Checkpoint:
    """The checkpoint in ``note``, once a signature by ``verifier_key`` has verified over it.

    The caller still compares the origin with the log it expects and the size with the last checkpoint it holds.
    """
    return Checkpoint.parse_body(verify_note(note, verifier_key))
