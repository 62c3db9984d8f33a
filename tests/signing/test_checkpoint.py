"""Checkpoints as C2SP signed notes: the published example, round trips, and every refusal.

Notes are also built here by hand — key ID from hashlib, signature from ``cryptography``, lines written out — so
that the tests show signing.checkpoint writes what the spec describes, and so that malformed notes carrying real
signatures can be made (``NoteSigner.sign`` refuses to sign most of them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signing.checkpoint import (
    MAX_LINE_BYTES,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    MalformedKey,
    MalformedNote,
    NoteRefused,
    NoteSigner,
    NoteVerifier,
    UnverifiedNote,
    open_note,
    parse_verifier_key,
    verify_note,
)
from tests.conftest import ROOT

VECTORS = ROOT.parent / "shared" / "vectors" / "rfc6962.json"
NAME = "gateway.customs.example.jp/audit"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ROOT_HASH = hashlib.sha256(b"a root").digest()
CHECKPOINT = Checkpoint(NAME, 1842, ROOT_HASH)
SIGNER = NoteSigner(NAME, KEY)
ED25519 = b"\x01"  # the signature type byte in key IDs and key strings
VERIFIER = SIGNER.verifier_key()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signature_line(body: bytes, name: str = NAME, key: Ed25519PrivateKey = KEY) -> bytes:
    """An Ed25519 signature line over ``body``, written from the spec without signing.checkpoint."""
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    return f"\u2014 {name} {_b64(key_id + key.sign(body))}\n".encode()


def signed(body: bytes, *lines: bytes) -> bytes:
    """``body`` signed by KEY, with any other signature lines first."""
    return body + b"\n" + b"".join(lines) + signature_line(body)


def body(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    if not VECTORS.is_file():
        pytest.skip(f"the shared vectors are not at {VECTORS} (they sit beside the repository checkout)")
    loaded: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))["c2sp_signed_note_example"]
    return loaded


# The formats


def test_a_checkpoint_body_is_origin_size_and_base64_root_then_extension_lines() -> None:
    assert CHECKPOINT.body() == f"{NAME}\n1842\n{_b64(ROOT_HASH)}\n".encode()
    extended = Checkpoint(NAME, 0, ROOT_HASH, ("Timestamp: 1772366400", "epoch 3"))
    assert extended.body() == f"{NAME}\n0\n{_b64(ROOT_HASH)}\nTimestamp: 1772366400\nepoch 3\n".encode()
    assert Checkpoint.parse_body(CHECKPOINT.body()) == CHECKPOINT
    assert Checkpoint.parse_body(extended.body()) == extended


def test_the_spec_example_checkpoint_body_parses() -> None:
    text = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = Checkpoint.parse_body(text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert checkpoint.root_hash.hex().startswith("0ac5186a")
    assert checkpoint.body() == text


def test_a_signed_note_is_the_body_a_blank_line_and_an_em_dash_signature_line() -> None:
    note = SIGNER.sign(CHECKPOINT.body())
    assert note == signed(CHECKPOINT.body())
    assert note.decode().splitlines()[3:5] == ["", f"\u2014 {NAME} {note.decode().split()[-1]}"]


def test_keys_are_name_plus_key_id_plus_typed_base64_key() -> None:
    public = KEY.public_key().public_bytes_raw()
    key_id = hashlib.sha256(NAME.encode() + b"\n\x01" + public).digest()[:4]
    typed_public, typed_seed = _b64(ED25519 + public), _b64(ED25519 + bytes(range(32)))
    assert SIGNER.verifier_key() == f"{NAME}+{key_id.hex()}+{typed_public}"
    assert SIGNER.signer_key() == f"PRIVATE+KEY+{NAME}+{key_id.hex()}+{typed_seed}"
    assert NoteSigner.from_signer_key(SIGNER.signer_key()).verifier_key() == VERIFIER
    assert "+" in typed_public, "the key's base64 holds a plus sign, which is not a separator"
    verifier = parse_verifier_key(VERIFIER)
    assert (verifier.name, verifier.key_id) == (NAME, key_id)
    assert str(verifier) == VERIFIER


# Opening notes


def test_a_signed_checkpoint_opens_with_its_verifier_key() -> None:
    extended = Checkpoint(NAME, 7, ROOT_HASH, ("extension",))
    for checkpoint in (CHECKPOINT, extended, Checkpoint(NAME, 0, hashlib.sha256(b"").digest())):
        note = SIGNER.sign(checkpoint.body())
        assert open_note(note, VERIFIER) == checkpoint
        assert open_note(note, parse_verifier_key(VERIFIER)) == checkpoint


def test_the_published_example_note_verifies_with_its_key(example: dict[str, Any]) -> None:
    note = example["note"].encode()
    verifier = parse_verifier_key(example["verifier_key"])
    assert (verifier.name, verifier.key_id.hex()) == ("example.com/foo", "530d903a")
    assert verify_note(note, verifier) == b"This is an example message.\n"
    with pytest.raises(UnverifiedNote):
        verify_note(note.replace(b"example message", b"example massage"), verifier)
    with pytest.raises(MalformedNote, match="at least three lines"):
        open_note(note, verifier)  # a genuine note, but not a checkpoint


def test_signatures_by_other_keys_are_ignored() -> None:
    text = CHECKPOINT.body()
    other_log = signature_line(text, "other.example/log", OTHER_KEY)
    same_name_other_key = signature_line(text, NAME, OTHER_KEY)
    # Right key ID under another name: the (name, ID) pair identifies a key, not either half.
    key_id = base64.b64decode(signature_line(text).split()[-1])[:4]
    same_id_other_name = f"\u2014 other.example/log {_b64(key_id + bytes(64))}\n".encode()
    not_ed25519 = f"\u2014 witness.example/w1 {_b64(b'wxyz' + bytes(3000))}\n".encode()
    note = signed(text, other_log, same_name_other_key, same_id_other_name, not_ed25519)
    assert open_note(note, VERIFIER) == CHECKPOINT


def test_a_note_signed_only_by_other_keys_is_not_verified() -> None:
    text = CHECKPOINT.body()
    by_other_log = text + b"\n" + signature_line(text, "other.example/log", OTHER_KEY)
    with pytest.raises(UnverifiedNote, match=f"not signed by {NAME}"):
        open_note(by_other_log, VERIFIER)
    impostor = NoteSigner(NAME, OTHER_KEY)  # same name, other key: another key ID
    with pytest.raises(UnverifiedNote, match=f"not signed by {NAME}"):
        open_note(impostor.sign(text), VERIFIER)


def test_a_tampered_body_is_not_verified() -> None:
    note = SIGNER.sign(CHECKPOINT.body())
    grown = note.replace(b"\n1842\n", b"\n1843\n")
    assert grown != note
    with pytest.raises(UnverifiedNote, match="does not verify"):
        open_note(grown, VERIFIER)


def test_a_tampered_signature_is_not_verified() -> None:
    note = SIGNER.sign(CHECKPOINT.body()).decode()
    encoded = note.split()[-1]
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01
    with pytest.raises(UnverifiedNote, match="does not verify"):
        open_note(note.replace(encoded, _b64(bytes(raw))).encode(), VERIFIER)


def test_a_failing_signature_by_the_key_refuses_the_note_even_beside_a_good_one() -> None:
    text = CHECKPOINT.body()
    bad = signature_line(CHECKPOINT.body().replace(b"1842", b"1843"))
    with pytest.raises(UnverifiedNote, match="does not verify"):
        open_note(signed(text, bad), VERIFIER)


def test_a_signature_by_the_key_that_is_not_ed25519_sized_is_refused() -> None:
    text = CHECKPOINT.body()
    key_id = base64.b64decode(signature_line(text).split()[-1])[:4]
    short = f"\u2014 {NAME} {_b64(key_id + bytes(32))}\n".encode()
    with pytest.raises(UnverifiedNote, match="not an Ed25519 signature"):
        open_note(text + b"\n" + short, VERIFIER)


def test_up_to_the_signature_limit_is_accepted_and_one_more_is_refused() -> None:
    text = CHECKPOINT.body()
    other = signature_line(text, "other.example/log", OTHER_KEY)
    assert open_note(signed(text, *[other] * (MAX_SIGNATURES - 1)), VERIFIER) == CHECKPOINT
    with pytest.raises(MalformedNote, match=f"more than {MAX_SIGNATURES} signatures"):
        open_note(signed(text, *[other] * MAX_SIGNATURES), VERIFIER)


def test_lines_up_to_the_line_limit_are_accepted_and_longer_ones_refused() -> None:
    longest = Checkpoint(NAME, 1, ROOT_HASH, ("x" * MAX_LINE_BYTES,))
    assert open_note(signed(longest.body()), VERIFIER) == longest
    too_long = body(NAME, "1", _b64(ROOT_HASH), "é" * (MAX_LINE_BYTES // 2 + 1))  # counted in bytes
    with pytest.raises(MalformedNote, match=f"longer than {MAX_LINE_BYTES} bytes"):
        open_note(signed(too_long), VERIFIER)
    long_signature = f"\u2014 other.example/log {_b64(bytes(MAX_LINE_BYTES))}\n".encode()
    with pytest.raises(MalformedNote, match=f"longer than {MAX_LINE_BYTES} bytes"):
        open_note(signed(CHECKPOINT.body(), long_signature), VERIFIER)


def test_a_note_larger_than_the_limit_is_refused_before_it_is_read() -> None:
    lines = ["y" * (MAX_LINE_BYTES - 1)] * (MAX_NOTE_BYTES // MAX_LINE_BYTES)
    with pytest.raises(MalformedNote, match=f"larger than {MAX_NOTE_BYTES} bytes"):
        open_note(signed(body(NAME, "1", _b64(ROOT_HASH), *lines)), VERIFIER)


GOOD = signed(CHECKPOINT.body())
_SIGNATURE = GOOD.decode().split()[-1]
MALFORMED_NOTES = {
    "no blank line": GOOD.replace(b"\n\n", b"\n"),
    "not UTF-8": signed(body(NAME, "1842", _b64(ROOT_HASH), "caf\xe9").replace(b"caf\xc3\xa9", b"caf\xe9")),
    "no final newline": GOOD[:-1],
    "CRLF line endings": GOOD.replace(b"\n", b"\r\n"),
    "a tab": GOOD.replace(NAME.encode(), NAME.encode() + b"\t", 1),
    "hyphen-minus instead of em dash": GOOD.replace("\u2014".encode(), b"-"),
    "en dash instead of em dash": GOOD.replace("\u2014".encode(), "\u2013".encode()),
    "no space after the dash": GOOD.replace("\u2014 ".encode(), "\u2014".encode()),
    "two spaces before the signature": GOOD.replace(f" {_SIGNATURE}".encode(), f"  {_SIGNATURE}".encode()),
    "no signature lines": CHECKPOINT.body() + b"\n",
    "an empty line among the signatures": GOOD + b"\n",
    "a signature that is only a key ID": GOOD + f"\u2014 other.example/log {_b64(b'abcd')}\n".encode(),
    "a signature not in base64": GOOD + "\u2014 other.example/log not*base64\n".encode(),
    "a signature in base64url": GOOD
    + f"\u2014 other.example/log {_b64(bytes([251] * 12)).replace('+', '-')}\n".encode(),
    "a signature without padding": GOOD.replace(_SIGNATURE.encode(), _SIGNATURE.rstrip("=").encode()),
    "a key name with a plus sign": GOOD + f"\u2014 other+log {_b64(bytes(68))}\n".encode(),
}


@pytest.mark.parametrize("note", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_a_note_not_in_the_signed_note_format_is_refused(note: bytes) -> None:
    assert open_note(GOOD, VERIFIER) == CHECKPOINT
    with pytest.raises(MalformedNote):
        open_note(note, VERIFIER)


NOT_CHECKPOINTS = {
    "two lines": body(NAME, "1842"),
    "an empty origin": body("", "1842", _b64(ROOT_HASH)),
    "a leading zero": body(NAME, "01842", _b64(ROOT_HASH)),
    "a plus sign": body(NAME, "+1842", _b64(ROOT_HASH)),
    "a minus sign": body(NAME, "-1", _b64(ROOT_HASH)),
    "a space in the size": body(NAME, "1842 ", _b64(ROOT_HASH)),
    "an underscore in the size": body(NAME, "1_842", _b64(ROOT_HASH)),
    "non-ASCII digits": body(NAME, "\u0661\u0668\u0664\u0662", _b64(ROOT_HASH)),
    "a size beyond uint64": body(NAME, str(1 << 64), _b64(ROOT_HASH)),
    "an empty size": body(NAME, "", _b64(ROOT_HASH)),
    "a 31-byte root": body(NAME, "1842", _b64(ROOT_HASH[:31])),
    "a 33-byte root": body(NAME, "1842", _b64(ROOT_HASH + b"\x00")),
    "a hex root": body(NAME, "1842", ROOT_HASH.hex()),
    "a root without padding": body(NAME, "1842", _b64(ROOT_HASH).rstrip("=")),
    "a root with trailing bits set": body(NAME, "1842", _b64(ROOT_HASH)[:-2] + "j="),
    "a root in base64url": body(NAME, "1842", base64.urlsafe_b64encode(bytes([251] * 32)).decode()),
    "an empty extension line": body(NAME, "1842", _b64(ROOT_HASH), "", "extension"),
}


@pytest.mark.parametrize("text", NOT_CHECKPOINTS.values(), ids=NOT_CHECKPOINTS.keys())
def test_a_signed_note_that_is_not_a_checkpoint_is_refused(text: bytes) -> None:
    assert verify_note(signed(text), VERIFIER) == text, "the signature is good: the body is what is refused"
    with pytest.raises(MalformedNote):
        open_note(signed(text), VERIFIER)


def test_refusals_share_one_base_class() -> None:
    assert issubclass(MalformedNote, NoteRefused)
    assert issubclass(UnverifiedNote, NoteRefused)


# Signing and keys


@pytest.mark.parametrize("text", [b"", b"no final newline", b"not UTF-8 \xff\n", b"carriage return\r\n"], ids=repr)
def test_only_note_texts_are_signed(text: bytes) -> None:
    with pytest.raises(MalformedNote):
        SIGNER.sign(text)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 1, ROOT_HASH, ()),
        ("two\nlines", 1, ROOT_HASH, ()),
        (NAME, -1, ROOT_HASH, ()),
        (NAME, 1 << 64, ROOT_HASH, ()),
        (NAME, 1, ROOT_HASH[:31], ()),
        (NAME, 1, ROOT_HASH, ("",)),
        (NAME, 1, ROOT_HASH, ("a\nb",)),
    ],
)
def test_a_checkpoint_that_cannot_be_written_is_not_constructed(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=r"origin|size|root|extension"):
        Checkpoint(origin, size, root_hash, extensions)


@pytest.mark.parametrize("name", ["", "with space", "with+plus", "with\u00a0nbsp", "tab\t"])
def test_a_key_name_with_spaces_or_plus_signs_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        NoteSigner(name, KEY)


_NAME, _ID, _KEY = VERIFIER.split("+", 2)
OTHER_ID = hashlib.sha256(b"x").hexdigest()[:8]
BAD_VERIFIER_KEYS = {
    "two parts": f"{_NAME}+{_KEY}",
    "a plus in the name": f"other+{VERIFIER}",
    "another key ID": f"{_NAME}+{OTHER_ID}+{_KEY}",
    "an upper-case key ID": f"{_NAME}+{_ID.upper()}+{_KEY}",
    "a short key ID": f"{_NAME}+{_ID[:6]}+{_KEY}",
    "another name": f"other.example/log+{_ID}+{_KEY}",
    "another signature type": f"{_NAME}+{_ID}+{_b64(bytes([2]) + base64.b64decode(_KEY)[1:])}",
    "a short key": f"{_NAME}+{_ID}+{_b64(base64.b64decode(_KEY)[:32])}",
    "a key not in base64": f"{_NAME}+{_ID}+{_KEY[:-2]}!=",
}


@pytest.mark.parametrize("key", BAD_VERIFIER_KEYS.values(), ids=BAD_VERIFIER_KEYS.keys())
def test_a_malformed_verifier_key_is_refused(key: str) -> None:
    assert isinstance(parse_verifier_key(VERIFIER), NoteVerifier)
    with pytest.raises(MalformedKey):
        parse_verifier_key(key)


def test_a_malformed_signer_key_is_refused() -> None:
    private = SIGNER.signer_key()
    for key in (
        private.removeprefix("PRIVATE+KEY+"),
        private.replace(f"+{SIGNER.key_id.hex()}+", f"+{OTHER_ID}+"),
        private.replace(NAME, "other.example/log"),
        private[:-4] + "!!!=",
    ):
        with pytest.raises(MalformedKey):
            NoteSigner.from_signer_key(key)
