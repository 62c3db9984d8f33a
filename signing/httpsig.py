"""Wire protocol v1 request signing: HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530, sha-256).

One signature, labelled ``tgw``, covers the request line and every header a receiving gateway acts on, including
``Content-Digest`` (so the body) and ``Signer-Certificate``: the sender's leaf certificate and its intermediates as
an RFC 8941 List of Byte Sequences, leaf first. The receiver judges that certificate against the sending partner's
anchors with the same code as XMLDSig and JWS signatures, so one trust model covers documents and transport.

The profile is fixed like the document profiles: ``rsa-pss-sha512`` for RSA keys, ``ecdsa-p256-sha256`` for P-256
keys, the algorithm derived from the certificate and the ``alg`` parameter required to agree; parameters exactly
``created``, ``expires``, ``keyid``, ``alg``, ``tag``. Anything else is a refusal with a stable reason code, never an
exception. Structured fields are parsed and serialised by ``http_sf``; the signature base is built here, because the
receiver must decide which components are acceptable before any of them is resolved.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import http_sf
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from http_sf.innerlist import ser_innerlist
from http_sf.types import DictionaryType, InnerListType, ItemType, ParamsType

from signing._result import Check, SignatureVerification, not_checked
from signing.keys import MIN_RSA_BITS, SigningKey
from signing.trust import TrustAnchors, assess_signer, pick_leaf, utc
from signing.xmldsig import MAX_CERTIFICATE_BYTES, MAX_CERTIFICATES, MAX_KEYINFO_BYTES

__all__ = [
    "ALGORITHMS",
    "COVERED_COMPONENTS",
    "HttpSignatureVerification",
    "SignatureAlgorithm",
    "content_digest",
    "sign_request",
    "signature_base",
    "verify_request",
]

LABEL: Final = "tgw"
TAG: Final = "trade-gateway/1"
SIGNATURE_LIFETIME: Final = timedelta(seconds=300)
# A signer of this profile never asks for more; a longer window would let a captured request be replayed for longer.
MAX_SIGNATURE_LIFETIME: Final = SIGNATURE_LIFETIME
DEFAULT_MAX_SKEW: Final = timedelta(seconds=300)

# The order in which sign_request lists them; a verifier accepts them in any order the signer chose.
COVERED_COMPONENTS: Final = (
    "@method",
    "@target-uri",
    "content-digest",
    "content-type",
    "message-id",
    "date",
    "from",
    "to",
    "document-type",
    "exchange-protocol",
    "signer-certificate",
)
# Optional, but covered whenever it is sent: an uncovered checkpoint could be swapped on the way.
AUDIT_CHECKPOINT: Final = "audit-checkpoint"
# What the caller of sign_request supplies; the other covered headers are made by sign_request itself.
APPLICATION_HEADERS: Final = ("content-type", "message-id", "date", "from", "to", "document-type", "exchange-protocol")
_PRODUCED_HEADERS: Final = frozenset({"content-digest", "signer-certificate", "signature-input", "signature"})
# Headers the protocol defines as single-valued: two field lines would combine into one value ("a, b") that the
# receiver might read differently from the sender, so a repeated one is refused rather than combined.
SINGLETON_HEADERS: Final = frozenset({*COVERED_COMPONENTS[2:], AUDIT_CHECKPOINT})
PARAMETERS: Final = ("created", "expires", "keyid", "alg", "tag")
_DERIVED_COMPONENTS: Final = frozenset({"@method", "@target-uri"})

# Size caps, checked before anything is parsed. Signer-Certificate gets the x5c/KeyInfo numbers: the same
# certificates may arrive either way. Four characters per certificate for the ":" delimiters and ", " separators.
MAX_HEADER_CHARS: Final = 8 * 1024
MAX_SIGNER_CERTIFICATE_CHARS: Final = MAX_KEYINFO_BYTES + 4 * MAX_CERTIFICATES
MAX_COVERED_COMPONENTS: Final = 32

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: a method, or a field name
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")  # RFC 9421 §2.1: component names are lowercase
_COMPONENT_NAME = re.compile(r"@?[!#$%&'*+\-.^_`|~0-9a-z]+")  # a field name, or a derived component's
# RFC 9421 §2.5: the signature base is ASCII, one line per component, so no CR, LF or other controls (HTAB may
# stand inside a field value). obs-text has no place either: such a field would need the ``bs`` parameter.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
# An absolute URI without a fragment (RFC 9110 §7.1): what the receiver names as its own public address.
_TARGET_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[\x21-\x22\x24-\x7e]+")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
# A parsed Inner List with its parameters: the shape of a Signature-Input member.
_InnerList = tuple[list[ItemType], ParamsType]


# ----- algorithms ------------------------------------------------------------------------------------------


class SignatureAlgorithm(Protocol):
    """One RFC 9421 algorithm: which certificate keys it serves, and its primitives over the signature base."""

    @property
    def name(self) -> str: ...

    def accepts(self, public_key: object) -> bool: ...

    def sign(self, private_key: PrivateKey, base: bytes) -> bytes: ...

    def verify(self, public_key: PublicKey, signature: bytes, base: bytes) -> bool: ...


class _RsaPssSha512:
    """RFC 9421 §3.3.1: RSASSA-PSS with SHA-512, MGF1 with SHA-512 and a 64-byte salt."""

    name = "rsa-pss-sha512"
    # The salt length is fixed on verification too, so a signature made with another PSS salt length is refused.
    _padding = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)

    def accepts(self, public_key: object) -> bool:
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS

    def sign(self, private_key: PrivateKey, base: bytes) -> bytes:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{self.name} signs with an RSA key, not {type(private_key).__name__}")
        return private_key.sign(base, self._padding, hashes.SHA512())

    def verify(self, public_key: PublicKey, signature: bytes, base: bytes) -> bool:
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        try:
            public_key.verify(signature, base, self._padding, hashes.SHA512())
        except InvalidSignature:
            return False
        return True


class _EcdsaP256Sha256:
    """RFC 9421 §3.3.4: ECDSA on P-256 with SHA-256; the signature is r || s, 32 bytes each, not DER."""

    name = "ecdsa-p256-sha256"
    _half = 32

    def accepts(self, public_key: object) -> bool:
        return isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1)

    def sign(self, private_key: PrivateKey, base: bytes) -> bytes:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError(f"{self.name} signs with a P-256 key, not {type(private_key).__name__}")
        r, s = decode_dss_signature(private_key.sign(base, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(self._half, "big") + s.to_bytes(self._half, "big")

    def verify(self, public_key: PublicKey, signature: bytes, base: bytes) -> bool:
        # Exactly 64 bytes: a DER signature (what a generic ECDSA API returns) is refused, not guessed at.
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or len(signature) != 2 * self._half:
            return False
        r = int.from_bytes(signature[: self._half], "big")
        s = int.from_bytes(signature[self._half :], "big")
        try:
            public_key.verify(encode_dss_signature(r, s), base, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


# The allow-list: an ``alg`` outside it is refused before any key is looked at. Adding an algorithm (ed25519, say)
# is one class here plus its key type in signing/keys.py.
ALGORITHMS: Final[Mapping[str, SignatureAlgorithm]] = {
    algorithm.name: algorithm for algorithm in (_RsaPssSha512(), _EcdsaP256Sha256())
}


def _algorithm_for(public_key: object) -> SignatureAlgorithm | None:
    """The one algorithm the profile uses with a key; None for a key it does not sign with."""
    return next((algorithm for algorithm in ALGORITHMS.values() if algorithm.accepts(public_key)), None)


# ----- Content-Digest and the signature base ---------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """The ``Content-Digest`` field value for ``body`` (RFC 9530): ``sha-256=:<base64 of the SHA-256>:``."""
    digest: DictionaryType = {"sha-256": hashlib.sha256(body).digest()}
    return http_sf.ser(digest)


def _inner_list(components: Sequence[str], params: Mapping[str, int | str]) -> InnerListType:
    items: list[ItemType] = list(components)
    parameters: ParamsType = dict(params)
    return items, parameters


def _base(components: Sequence[tuple[str, str]], signature_params: str) -> bytes:
    # RFC 9421 §2.5: each component identifier serialised as a Structured Field String, ": ", its value, then the
    # @signature-params line, joined by LF with no trailing newline.
    lines = [f"{http_sf.ser(name)}: {value}" for name, value in components]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("ascii")


def signature_base(components: Sequence[tuple[str, str]], params: Mapping[str, int | str]) -> bytes:
    """The RFC 9421 signature base for resolved ``(component name, value)`` pairs and signature parameters.

    Parameters are serialised in the order given. ValueError for a name or value the base cannot carry (a value
    with a line break or a non-ASCII character, a name that is not lowercase, one component twice).
    """
    names = [name for name, _ in components]
    if len(set(names)) != len(names):
        raise ValueError("a component is listed twice")
    for name, value in components:
        if not _COMPONENT_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a lowercase component name")
        if not _FIELD_VALUE.fullmatch(value):
            raise ValueError(f"the value of {name!r} has a line break, a control or a non-ASCII character")
    return _base(components, ser_innerlist(_inner_list(names, params)))


# ----- signing ---------------------------------------------------------------------------------------------


def _check_request_line(method: str, target_uri: str) -> None:
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"{method!r} is not an HTTP method")
    if not _TARGET_URI.fullmatch(target_uri):
        raise ValueError(f"{target_uri!r} is not an absolute URI without a fragment")


def _sender_fields(headers: Mapping[str, str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in fields:
            raise ValueError(f"the header {name!r} is given twice")
        if lowered in _PRODUCED_HEADERS:
            raise ValueError(f"{name} is made by sign_request; leave it out of the headers")
        fields[lowered] = value.strip(" \t")
    return fields


def _certificate_list(key: SigningKey) -> str:
    members: list[ItemType | InnerListType] = [
        certificate.public_bytes(Encoding.DER) for certificate in (key.certificate, *key.chain)
    ]
    return http_sf.ser(members)


def sign_request(
    *, method: str, target_uri: str, headers: Mapping[str, str], body: bytes, key: SigningKey, now: datetime
) -> dict[str, str]:
    """Sign a gateway-to-gateway request; returns the headers to add to it.

    ``headers`` holds the application headers (Content-Type, Message-ID, Date, From, To, Document-Type,
    Exchange-Protocol, and Audit-Checkpoint when there is one); others may be present and are not covered.
    The answer adds ``Content-Digest`` (of ``body``), ``Signer-Certificate``, ``Signature-Input`` and ``Signature``.
    ``target_uri`` is the full absolute URI the request is sent to. ValueError for a missing or empty application
    header, one of the four added headers already present, a value the signature base cannot carry, or a key
    outside the profile.
    """
    algorithm = _algorithm_for(key.private_key.public_key())
    if algorithm is None:
        raise ValueError(f"the signing key is not an RSA-{MIN_RSA_BITS}+ or P-256 key")
    _check_request_line(method, target_uri)
    fields = _sender_fields(headers)
    missing = [name for name in APPLICATION_HEADERS if not fields.get(name)]
    if missing:
        raise ValueError(f"headers the wire protocol requires are missing or empty: {', '.join(missing)}")
    added = {"content-digest": content_digest(body), "signer-certificate": _certificate_list(key)}
    fields.update(added)
    covered = [*COVERED_COMPONENTS, *([AUDIT_CHECKPOINT] if AUDIT_CHECKPOINT in fields else [])]
    for name in covered[2:]:
        if len(fields[name]) > (MAX_SIGNER_CERTIFICATE_CHARS if name == "signer-certificate" else MAX_HEADER_CHARS):
            raise ValueError(f"the {name} header is longer than a receiver accepts")
    created = int(utc(now).timestamp())
    params: dict[str, int | str] = {
        "created": created,
        "expires": created + int(SIGNATURE_LIFETIME.total_seconds()),
        "keyid": key.key_id,
        "alg": algorithm.name,
        "tag": TAG,
    }
    derived = {"@method": method, "@target-uri": target_uri}
    base = signature_base([(name, derived.get(name) or fields[name]) for name in covered], params)
    signature_input: DictionaryType = {LABEL: _inner_list(covered, params)}
    signature: DictionaryType = {LABEL: algorithm.sign(key.private_key, base)}
    return {
        "Content-Digest": added["content-digest"],
        "Signer-Certificate": added["signer-certificate"],
        "Signature-Input": http_sf.ser(signature_input),
        "Signature": http_sf.ser(signature),
    }


# ----- verification: the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpSignatureVerification:
    """The answer about one signed request.

    ``verification`` has the same three checks as a document signature (integrity here also covers the signature
    parameters, the covered components and Content-Digest); its ``signed_xml`` holds the signature base, only when
    integrity holds. ``key_id`` is the ``keyid`` the request claimed, ``covered_components`` what it listed.
    """

    verification: SignatureVerification
    key_id: str | None
    covered_components: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.verification.ok

    @property
    def reason(self) -> str:
        """``ok``, or the reason of the first failing check: integrity, then trust, then validity."""
        failure = self.verification.failure
        return "ok" if failure is None else failure.reason

    @property
    def detail(self) -> str:
        failure = self.verification.failure
        return "" if failure is None else failure.detail

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.verification.as_dict(),
            "reason": self.reason,
            "key_id": self.key_id,
            "covered_components": list(self.covered_components),
        }


class _Refused(Exception):
    """The request fails the profile; ``reason`` is the stable code reported in the integrity check."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Progress:
    """What verification has learnt so far: reported even when a later step refuses the request."""

    key_id: str | None = None
    covered: tuple[str, ...] = ()
    certificates: tuple[x509.Certificate, ...] = ()
    signed: bytes | None = None


# ----- verification: reading the headers --------------------------------------------------------------------


def _field_lines(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    # Field names are case-insensitive; every line is kept so that repeated fields stay visible.
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lines: dict[str, list[str]] = {}
    for name, value in pairs:
        lines.setdefault(name.lower(), []).append(value)
    return lines


def _field(lines: dict[str, list[str]], name: str) -> str | None:
    """The field's value as RFC 9421 §2.1 has it: each line trimmed, lines joined by ", "; None when absent."""
    values = lines.get(name)
    if values is None:
        return None
    limit = MAX_SIGNER_CERTIFICATE_CHARS if name == "signer-certificate" else MAX_HEADER_CHARS
    value = ", ".join(value.strip(" \t") for value in values)
    if len(value) > limit:
        raise _Refused("header-too-large", f"the {name} header is over the limit of {limit} characters")
    return value


def _reject_duplicate(key: str, context: str) -> None:
    # RFC 8941 lets the last duplicate win; two parsers picking different members is how signatures get bypassed.
    raise ValueError(f"{context} key {key!r} appears twice")


def _parse(value: str, top_level: str, reason: str, what: str) -> http_sf.StructuredType:
    try:
        return http_sf.parse(value.encode("ascii"), tltype=top_level, on_duplicate_key=_reject_duplicate)
    except (UnicodeEncodeError, ValueError) as exc:
        raise _Refused(reason, f"{what} is not an RFC 8941 {top_level}: {exc}") from None


def _signature_members(lines: dict[str, list[str]]) -> tuple[_InnerList, bytes]:
    """The ``tgw`` members of Signature-Input and Signature; other labels are left alone (they are not ours)."""
    input_value, signature_value = _field(lines, "signature-input"), _field(lines, "signature")
    if input_value is None or signature_value is None:
        raise _Refused("missing-signature", "the request has no Signature-Input and Signature headers")
    inputs = _parse(input_value, "dictionary", "malformed-signature-input", "Signature-Input")
    signatures = _parse(signature_value, "dictionary", "malformed-signature", "Signature")
    assert isinstance(inputs, dict)  # what a dictionary parse returns
    assert isinstance(signatures, dict)
    if LABEL not in inputs or LABEL not in signatures:
        labels = sorted({*inputs, *signatures})
        raise _Refused("missing-signature", f"no signature labelled {LABEL!r} (labels present: {labels})")
    member = inputs[LABEL]
    items, params = member if isinstance(member, tuple) else (member, {})
    if not isinstance(items, list):
        raise _Refused("malformed-signature-input", f"Signature-Input {LABEL} is not an inner list")
    signature = signatures[LABEL]
    value, signature_params = signature if isinstance(signature, tuple) else (signature, {})
    if not isinstance(value, bytes) or not value or signature_params:
        raise _Refused("malformed-signature", f"Signature {LABEL} is not a byte sequence without parameters")
    return (items, params), value


def _components(items: list[ItemType]) -> tuple[str, ...]:
    if len(items) > MAX_COVERED_COMPONENTS:
        raise _Refused("malformed-signature-input", f"{len(items)} covered components, over {MAX_COVERED_COMPONENTS}")
    names: list[str] = []
    for item in items:
        name, params = item if isinstance(item, tuple) else (item, {})
        if not isinstance(name, str):
            raise _Refused("malformed-signature-input", f"component {name!r} is not a Structured Field String")
        if params:
            # sf, key, bs, req, tr change how a value is resolved; the profile signs whole fields as they are.
            raise _Refused("unsupported-component", f"component {name!r} has parameters {sorted(params)}")
        if name.startswith("@"):
            if name not in _DERIVED_COMPONENTS:
                raise _Refused("unsupported-component", f"derived component {name!r} is outside the profile")
        elif not _FIELD_NAME.fullmatch(name):
            raise _Refused("malformed-signature-input", f"component {name!r} is not a lowercase field name")
        if name in names:
            raise _Refused("malformed-signature-input", f"component {name!r} is listed twice")
        names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class _Parameters:
    created: int
    expires: int
    keyid: str
    alg: str
    tag: str


def _parameters(params: ParamsType) -> _Parameters:
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise _Refused("unknown-parameter", f"signature parameters {unknown} are outside the profile")
    missing = [name for name in PARAMETERS if name not in params]
    if missing:
        raise _Refused("missing-parameter", f"signature parameters {missing} are required")
    times: list[int] = []
    for name in ("created", "expires"):
        value = params[name]
        # type(), not isinstance: a Structured Field Boolean arrives as a Python bool, which is an int.
        if type(value) is not int or value < 0:
            raise _Refused("malformed-signature-input", f"{name} is not a non-negative integer: {value!r}")
        times.append(value)
    texts: list[str] = []
    for name in ("keyid", "alg", "tag"):
        value = params[name]
        if not isinstance(value, str):
            raise _Refused("malformed-signature-input", f"{name} is not a Structured Field String: {value!r}")
        texts.append(value)
    return _Parameters(times[0], times[1], texts[0], texts[1], texts[2])


def _check_parameters(parameters: _Parameters, at: datetime, max_skew: timedelta) -> SignatureAlgorithm:
    if parameters.tag != TAG:
        raise _Refused("wrong-tag", f"tag {parameters.tag!r} is not {TAG!r}: the signature is for another application")
    algorithm = ALGORITHMS.get(parameters.alg)
    if algorithm is None:
        raise _Refused("unsupported-algorithm", f"alg {parameters.alg!r} is not one of {sorted(ALGORITHMS)}")
    lifetime = parameters.expires - parameters.created
    if not 0 < lifetime <= MAX_SIGNATURE_LIFETIME.total_seconds():
        raise _Refused(
            "signature-lifetime",
            f"expires - created is {lifetime} s; the profile allows 1 to {MAX_SIGNATURE_LIFETIME.total_seconds():.0f}",
        )
    now, skew = at.timestamp(), max_skew.total_seconds()
    if parameters.created > now + skew:
        raise _Refused(
            "signature-not-yet-valid", f"created {parameters.created} is more than {skew:.0f} s after {now:.0f}"
        )
    # The skew applies here too: a sender whose clock is behind would otherwise have a shorter window.
    if parameters.expires < now - skew:
        raise _Refused("signature-expired", f"expires {parameters.expires} is more than {skew:.0f} s before {now:.0f}")
    return algorithm


def _check_coverage(covered: tuple[str, ...], lines: dict[str, list[str]]) -> None:
    required = [*COVERED_COMPONENTS, *([AUDIT_CHECKPOINT] if AUDIT_CHECKPOINT in lines else [])]
    uncovered = [name for name in required if name not in covered]
    if uncovered:
        raise _Refused("component-not-covered", f"the signature does not cover {', '.join(uncovered)}")
    repeated = sorted(name for name in SINGLETON_HEADERS if len(lines.get(name, ())) > 1)
    if repeated:
        raise _Refused("duplicate-header", f"headers that must appear once are repeated: {', '.join(repeated)}")


def _component_values(
    covered: tuple[str, ...], lines: dict[str, list[str]], method: str, target_uri: str
) -> list[tuple[str, str]]:
    if not _TOKEN.fullmatch(method) or not _TARGET_URI.fullmatch(target_uri):
        raise _Refused("malformed-request", f"the method {method!r} or target URI {target_uri!r} is not valid")
    derived = {"@method": method, "@target-uri": target_uri}
    values: list[tuple[str, str]] = []
    for name in covered:
        value = derived.get(name)
        if value is None:
            value = _field(lines, name)
            if value is None:
                raise _Refused("missing-header", f"the covered {name} header is not in the request")
            if not _FIELD_VALUE.fullmatch(value):
                raise _Refused("malformed-header", f"the {name} header has a line break, control or non-ASCII byte")
        values.append((name, value))
    return values


def _signer_certificates(value: str) -> tuple[x509.Certificate, ...]:
    members = _parse(value, "list", "malformed-signer-certificate", "Signer-Certificate")
    assert isinstance(members, list)
    if not members:
        raise _Refused("malformed-signer-certificate", "Signer-Certificate is empty")
    if len(members) > MAX_CERTIFICATES:
        raise _Refused("signer-certificate-too-large", f"{len(members)} certificates, over {MAX_CERTIFICATES}")
    certificates: list[x509.Certificate] = []
    for index, member in enumerate(members):
        der = member[0] if isinstance(member, tuple) and not member[1] else None
        if not isinstance(der, bytes):
            raise _Refused("malformed-signer-certificate", f"member {index} is not a byte sequence without parameters")
        if len(der) > MAX_CERTIFICATE_BYTES:
            raise _Refused("signer-certificate-too-large", f"member {index} is over {MAX_CERTIFICATE_BYTES} bytes")
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise _Refused("malformed-signer-certificate", f"member {index} is not a DER certificate: {exc}") from None
    if pick_leaf(certificates)[0] is not certificates[0]:
        # Were the first not the end entity, the key that verifies and the certificate judged would differ.
        raise _Refused("signer-certificate-order", "the first certificate issued another one listed: not the leaf")
    return tuple(certificates)


def _check_key(parameters: _Parameters, algorithm: SignatureAlgorithm, leaf: x509.Certificate) -> PublicKey:
    expected = hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()
    if parameters.keyid != expected:
        raise _Refused("keyid-mismatch", f"keyid {parameters.keyid!r} is not the SHA-256 of the leaf ({expected})")
    public_key = leaf.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) or not algorithm.accepts(public_key):
        derived = _algorithm_for(public_key)
        raise _Refused(
            "algorithm-key-mismatch",
            f"alg {algorithm.name} does not fit the leaf's {type(public_key).__name__} "
            f"(the profile uses {derived.name if derived else 'no algorithm'} with it)",
        )
    return public_key


def _check_content_digest(value: str, body: bytes) -> None:
    members = _parse(value, "dictionary", "malformed-content-digest", "Content-Digest")
    assert isinstance(members, dict)
    if "sha-256" not in members:
        raise _Refused("unsupported-digest-algorithm", f"Content-Digest has no sha-256 (only {sorted(members)})")
    member = members["sha-256"]
    digest = member[0] if isinstance(member, tuple) else None
    if not isinstance(digest, bytes) or len(digest) != hashlib.sha256().digest_size:
        raise _Refused("malformed-content-digest", "the sha-256 member of Content-Digest is not 32 bytes")
    if not hmac.compare_digest(digest, hashlib.sha256(body).digest()):
        raise _Refused("content-digest-mismatch", "the body's SHA-256 is not the one in Content-Digest")


# ----- verification ----------------------------------------------------------------------------------------


def verify_request(
    *,
    method: str,
    target_uri: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    anchors: TrustAnchors,
    at: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> HttpSignatureVerification:
    """Verify a request signed by :func:`sign_request` (or any implementation of the profile).

    ``target_uri`` is the absolute URI the receiver believes it was addressed at (its public URL: behind a proxy
    the request line does not tell). ``headers`` as a mapping or as (name, value) pairs; pass pairs when a field may
    come more than once, so a repeated header is seen. ``anchors`` are the sending partner's; ``at`` is the time of
    receipt, against which both the signature's created/expires (with ``max_skew``) and the certificate are judged.

    integrity: a ``tgw`` signature inside the profile that covers at least :data:`COVERED_COMPONENTS` (and
    Audit-Checkpoint when sent), rebuilt from its own component list, verifying with the Signer-Certificate leaf;
    then Content-Digest matching ``body``. trust and validity: that leaf against ``anchors`` at ``at``.
    Nothing raises: hostile input is a refusal with a reason, anything unexpected an ERROR, never VALID.

    Integrity reasons, roughly in the order they are checked: missing-signature, header-too-large,
    malformed-signature-input, malformed-signature, unsupported-component, unknown-parameter, missing-parameter,
    wrong-tag, unsupported-algorithm, signature-lifetime, signature-not-yet-valid, signature-expired,
    component-not-covered, duplicate-header, malformed-request, missing-header, malformed-header,
    malformed-signer-certificate, signer-certificate-too-large, signer-certificate-order, keyid-mismatch,
    algorithm-key-mismatch, signature-invalid, malformed-content-digest, unsupported-digest-algorithm,
    content-digest-mismatch. Trust and validity reasons are those of document signatures (untrusted-signer,
    expired, …); :attr:`HttpSignatureVerification.reason` is the first failing one.
    """
    verified_at = utc(at)
    progress = _Progress()
    try:
        integrity = _integrity(progress, method, target_uri, headers, body, verified_at, max_skew)
    except Exception as exc:  # a verdict must never come from an unexpected path
        failure = Check.error("verifier-error", f"{type(exc).__name__}: {exc}")
        verification = SignatureVerification(failure, failure, failure, None, None, None, (), verified_at)
        return HttpSignatureVerification(verification, progress.key_id, progress.covered)
    if progress.certificates:
        assessment = assess_signer(progress.certificates, anchors, verified_at)
        verification = assessment.verification(integrity, progress.signed, verified_at)
    else:
        skipped = not_checked(f"no signer certificate to check (integrity: {integrity.reason})")
        verification = SignatureVerification(integrity, skipped, skipped, None, None, None, (), verified_at)
    return HttpSignatureVerification(verification, progress.key_id, progress.covered)


def _integrity(
    progress: _Progress,
    method: str,
    target_uri: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    at: datetime,
    max_skew: timedelta,
) -> Check:
    lines = _field_lines(headers)
    try:
        (items, params), signature = _signature_members(lines)
        progress.covered = _components(items)
        parameters = _parameters(params)
        progress.key_id = parameters.keyid
        algorithm = _check_parameters(parameters, at, max_skew)
        _check_coverage(progress.covered, lines)
        values = _component_values(progress.covered, lines, method, target_uri)
        progress.certificates = _signer_certificates(dict(values)["signer-certificate"])
        public_key = _check_key(parameters, algorithm, progress.certificates[0])
        # The parameters line is the received inner list serialised again (RFC 9421 §2.3), so it is exactly what
        # was parsed and judged above, whatever optional whitespace the sender used.
        base = _base(values, ser_innerlist((items, params)))
        if not algorithm.verify(public_key, signature, base):
            raise _Refused("signature-invalid", f"the {algorithm.name} signature does not verify over the base")
        _check_content_digest(dict(values)["content-digest"], body)
    except _Refused as refused:
        return Check.invalid(refused.reason, refused.detail)
    progress.signed = base
    return Check.valid()
