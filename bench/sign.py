"""Throughput of XML signing and verification: the gateway next to in-process libxmlsec1 (python-xmlsec).

For each document and key (RSA-3072, P-256) the bench times, in one run and in alternating rounds:

- ``sign``: ``signing.sign_xml`` (hardened parse, placeholder at the UBL placement, signxml with the explicit
  profile, the post-condition check, serialisation) against python-xmlsec signing the same bytes from a template at
  the same place (lxml parse with the same parser options, template, ``SignatureContext.sign``, serialisation);
- ``verify``: ``signing.verify_xml`` with the partner's trust anchors (parse, location, IDs, KeyInfo bounds, chain
  building, SignedInfo pre-check, signxml) against python-xmlsec verifying the same signed bytes with a keys
  manager holding the same CA as trusted, the key taken from the X509 certificate only.

The figure that carries the target is the ratio gateway time / xmlsec time (= xmlsec rate / gateway rate, best
round of each side): at most 2 (``meets_2x_target``). Where a target is missed, a cProfile run of the gateway
call says where its time goes (``profile``). Prints one JSON object on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import xmlsec
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from bench._common import MAX_CALLS_PER_MEASURE, BenchError, bench_arguments, check_arguments, print_result, rate
from signing import (
    SignaturePlacement,
    SigningKey,
    TrustAnchors,
    generate_dev_pki,
    load_pem_certificates,
    load_signing_key,
    sign_xml,
    verify_xml,
)

ROOT = Path(__file__).resolve().parent.parent
COO = ROOT / "tests" / "fixtures" / "coo"
DS = "http://www.w3.org/2000/09/xmldsig#"

TARGET_RATIO = 2.0
PLACEMENT = SignaturePlacement.UBL_EXTENSION
PROFILE_TOP = 8
RSA_BITS = 3072
# python-xmlsec's stubs lack SignatureContext(manager) and get_libxmlsec_version(); both exist at run time.
_XMLSEC: Any = xmlsec


@dataclass(frozen=True, slots=True)
class BenchDocument:
    name: str
    path: Path


DOCUMENTS = [
    BenchDocument("coo-12k", COO / "valid-10.xml"),
    BenchDocument("coo-170k", COO / "valid-200.xml"),
]


@dataclass(frozen=True, slots=True)
class BenchKey:
    name: str
    key: SigningKey
    cert_pem: Path
    key_pem: Path


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ----- timing (the same method as bench/validate.py) ---------------------------------------------------------


def _compare(
    gateway: Callable[[], object], reference: Callable[[], object], seconds: float, rounds: int
) -> dict[str, Any]:
    calls = {"gateway": gateway, "xmlsec": reference}
    warm_up = min(0.5, seconds / 4)
    for call in calls.values():
        rate(call, warm_up)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for index in range(rounds):
        # Alternate which side goes first so a slow spell of the shared machine does not favour one side.
        order = sorted(calls) if index % 2 == 0 else sorted(calls, reverse=True)
        for name in order:
            samples[name].append(rate(calls[name], seconds))
    # Best round of each side: noise only ever slows a loop down (timeit's "take the minimum").
    gateway_rate, xmlsec_rate = max(samples["gateway"]), max(samples["xmlsec"])
    ratio = xmlsec_rate / gateway_rate  # = gateway time per call / xmlsec time per call
    return {
        "gateway_per_s": round(gateway_rate, 1),
        "gateway_ms": round(1000 / gateway_rate, 3),
        "gateway_rounds_per_s": [round(v, 1) for v in samples["gateway"]],
        "xmlsec_per_s": round(xmlsec_rate, 1),
        "xmlsec_ms": round(1000 / xmlsec_rate, 3),
        "xmlsec_rounds_per_s": [round(v, 1) for v in samples["xmlsec"]],
        "gateway_vs_xmlsec_ratio": round(ratio, 3),
        "meets_2x_target": ratio <= TARGET_RATIO,
    }


# ----- the reference: python-xmlsec doing the gateway's profile ---------------------------------------------


class XmlsecReference:
    """libxmlsec1 in process, with the gateway's profile and placement, key and keys manager loaded once.

    The parser has the options of the gateway's hardened parser, so the ratio measures the signing code, not
    libxml2 settings. Verification takes the key only from the X509 certificate, which must chain to the CA.
    """

    _PARENT_TAGS = PLACEMENT.parent_tags

    def __init__(self, ca_pem: Path, key: BenchKey) -> None:
        self.manager = xmlsec.KeysManager()
        self.manager.load_cert(str(ca_pem), xmlsec.constants.KeyDataFormatPem, xmlsec.constants.KeyDataTypeTrusted)
        self.key = xmlsec.Key.from_memory(key.key_pem.read_bytes(), xmlsec.constants.KeyDataFormatPem)
        self.key.load_cert_from_memory(key.cert_pem.read_bytes(), xmlsec.constants.KeyDataFormatPem)
        self.sign_method = (
            xmlsec.constants.TransformRsaSha256
            if key.key.algorithm == "RS256"
            else xmlsec.constants.TransformEcdsaSha256
        )
        self.parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
        self.location = "/".join(self._PARENT_TAGS) + f"/{{{DS}}}Signature"

    def sign(self, data: bytes) -> bytes:
        root = etree.fromstring(data, self.parser)
        parent = root
        for depth, tag in enumerate(self._PARENT_TAGS):
            child = etree.Element(tag)
            if depth == 0:
                root.insert(0, child)
            else:
                parent.append(child)
            parent = child
        signature = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N, self.sign_method, ns="ds")
        reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri="")
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        key_info = xmlsec.template.ensure_key_info(signature)
        xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
        parent.append(signature)
        context = xmlsec.SignatureContext()
        context.key = self.key
        context.sign(signature)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def verify(self, signed: bytes) -> None:
        """Raises ``xmlsec.Error`` (VerificationError) when the signature does not verify."""
        root = etree.fromstring(signed, self.parser)
        signature = root.find(self.location)
        if signature is None:
            raise BenchError("no ds:Signature at the placement's path")
        context = _XMLSEC.SignatureContext(self.manager)  # the stubs lack the keys-manager parameter
        context.set_enabled_key_data([xmlsec.constants.KeyDataX509])
        # The profile's transforms only, as the gateway's pre-check allows (libxmlsec1 refuses any other).
        for transform in (self.sign_method, xmlsec.constants.TransformExclC14N):
            context.enable_signature_transform(transform)
        for transform in (
            xmlsec.constants.TransformEnveloped,
            xmlsec.constants.TransformExclC14N,
            xmlsec.constants.TransformSha256,
        ):
            context.enable_reference_transform(transform)
        context.verify(signature)


# ----- profiling -----------------------------------------------------------------------------------------------


_AREAS = ("signxml", "lxml", "cryptography", "schemas", "signing", "bench")


def _where(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    if filename == "~":  # built-ins and C functions: the name says which
        return name
    path = Path(filename)
    if "site-packages" in path.parts:
        shown = "/".join(path.parts[path.parts.index("site-packages") + 1 :])
    elif path.is_relative_to(ROOT):
        shown = path.relative_to(ROOT).as_posix()
    else:
        shown = path.name
    return f"{shown}:{line}({name})"


def _area(function: tuple[str, int, str]) -> str:
    """The package a function's self time belongs to; C functions by the module named in their repr."""
    filename, _, name = function
    if filename == "~":
        return next((f"{area} (C)" for area in _AREAS if area in name), "builtins (C)")
    path = Path(filename)
    return next(
        (area for area in _AREAS if area in path.parts), "stdlib" if "site-packages" not in path.parts else "other"
    )


def _profile(call: Callable[[], object], seconds: float) -> dict[str, Any]:
    """Where one gateway call spends its time: per-call self and cumulative milliseconds, top functions by self time."""
    profiler = cProfile.Profile()
    calls = 0
    deadline = time.perf_counter() + seconds
    profiler.enable()
    while time.perf_counter() < deadline and calls < MAX_CALLS_PER_MEASURE:
        call()
        calls += 1
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    by_self = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:PROFILE_TOP]
    areas: dict[str, float] = defaultdict(float)
    for function, entry in raw.items():
        areas[_area(function)] += entry[2]
    return {
        "profiled_calls": calls,
        "profiled_ms_per_call": round(1000 * total / calls, 3),
        "self_time_share_by_area": {
            area: round(share / total, 3) for area, share in sorted(areas.items(), key=lambda a: -a[1])[:8]
        },
        "top_self_time": [
            {
                "function": _where(function),
                "calls_per_op": round(entry[1] / calls, 2),
                "self_ms_per_op": round(1000 * entry[2] / calls, 3),
                "cumulative_ms_per_op": round(1000 * entry[3] / calls, 3),
                "self_share": round(entry[2] / total, 3),
            }
            for function, entry in by_self
        ],
    }


# ----- driver ----------------------------------------------------------------------------------------------


def _keys(directory: Path) -> list[BenchKey]:
    pki = generate_dev_pki(directory, common_name="bench")
    rsa_key = load_signing_key(pki.rsa[1], pki.rsa[0]).private_key
    if not isinstance(rsa_key, rsa.RSAPrivateKey) or rsa_key.key_size != RSA_BITS:
        raise BenchError(f"generate_dev_pki no longer makes RSA-{RSA_BITS} keys; the figures would not compare")
    return [
        BenchKey(f"rsa-{RSA_BITS}", load_signing_key(pki.rsa[1], pki.rsa[0]), pki.rsa[0], pki.rsa[1]),
        BenchKey("p-256", load_signing_key(pki.ec[1], pki.ec[0]), pki.ec[0], pki.ec[1]),
    ]


def _cross_check(data: bytes, key: BenchKey, anchors: TrustAnchors, reference: XmlsecReference) -> bytes:
    """Both sides accept both sides' signatures before anything is timed; returns the gateway's signed bytes."""
    ours = sign_xml(data, key.key, PLACEMENT)
    theirs = reference.sign(data)
    for label, signed in (("gateway", ours), ("xmlsec", theirs)):
        result = verify_xml(signed, anchors, PLACEMENT)
        if not result.ok:
            raise BenchError(f"{key.name}: the gateway rejects the {label} signature: {result.as_dict()}")
        try:
            reference.verify(signed)
        except xmlsec.Error as exc:
            raise BenchError(f"{key.name}: python-xmlsec rejects the {label} signature: {exc}") from None
    return ours


def _operations(
    data: bytes, signed: bytes, key: SigningKey, anchors: TrustAnchors, reference: XmlsecReference
) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """(gateway call, xmlsec call) per operation; verification of the same signed bytes on both sides."""
    return {
        "sign": (lambda: sign_xml(data, key, PLACEMENT), lambda: reference.sign(data)),
        "verify": (lambda: verify_xml(signed, anchors, PLACEMENT), lambda: reference.verify(signed)),
    }


def _parse_args(argv: list[str] | None, known: list[str]) -> argparse.Namespace:
    parser = bench_arguments(__doc__.splitlines()[0] if __doc__ else None, known)
    return check_arguments(parser, parser.parse_args(argv), known)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse_args(argv, [d.name for d in DOCUMENTS])
    selected = [d for d in DOCUMENTS if args.docs is None or d.name in args.docs]
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    profiles: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as temporary:
        keys = _keys(Path(temporary))
        ca_pem = Path(temporary) / "ca.pem"
        anchors = TrustAnchors("BENCH", ca_certificates=tuple(load_pem_certificates(ca_pem.read_bytes())))
        references = {key.name: XmlsecReference(ca_pem, key) for key in keys}
        _log(f"keys ready in {time.perf_counter() - started:.1f} s")
        for document in selected:
            if not document.path.is_file():
                raise BenchError(f"{document.name}: {document.path} not found")
            data = document.path.read_bytes()
            entry: dict[str, Any] = {"path": document.path.relative_to(ROOT).as_posix(), "bytes": len(data)}
            for key in keys:
                reference = references[key.name]
                signed = _cross_check(data, key, anchors, reference)
                figures: dict[str, Any] = {"signed_bytes": len(signed), "cross_verified": True}
                operations = _operations(data, signed, key.key, anchors, reference)
                for operation, (gateway_call, reference_call) in operations.items():
                    measured = _compare(gateway_call, reference_call, args.seconds, args.rounds)
                    figures[operation] = measured
                    _log(
                        f"{document.name} {key.name} {operation}: gateway {measured['gateway_per_s']}/s, "
                        f"xmlsec {measured['xmlsec_per_s']}/s, ratio {measured['gateway_vs_xmlsec_ratio']}"
                    )
                    if not measured["meets_2x_target"]:
                        profiles[f"{document.name}/{key.name}/{operation}"] = _profile(gateway_call, args.seconds)
                entry[key.name] = figures
            results[document.name] = entry

    return {
        "benchmark": "sign",
        "python": platform.python_version(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "signxml": metadata.version("signxml"),
        "cryptography": metadata.version("cryptography"),
        "openssl": openssl_backend.openssl_version_text(),
        "python_xmlsec": metadata.version("xmlsec"),
        "libxmlsec1": ".".join(map(str, _XMLSEC.get_libxmlsec_version())),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rounds": args.rounds,
        "seconds_per_measure": args.seconds,
        "target_ratio": TARGET_RATIO,
        "placement": PLACEMENT.value,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "documents": results,
        "profile": profiles,
    }


def main() -> int:
    return print_result(run)


if __name__ == "__main__":
    sys.exit(main())
