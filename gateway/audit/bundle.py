"""Audit export bundles and their offline verification: no server, no database, only the verifier key.

A bundle is JSON: the signed checkpoint, a range of entries [from, to) with each entry's exact leaf bytes and its
inclusion proof in the checkpoint's tree, and optionally a consistency proof from an earlier tree size. The verifier
checks the checkpoint's signature, every inclusion proof against the signed root and size, the root recomputed from
the leaves when the range is the whole log, each exchange's chain of previous-entry links, and consistency with an
older checkpoint the auditor kept. It reports every failure, not just the first.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from gateway.audit.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from signing.checkpoint import Checkpoint, NoteRefused, open_note, parse_verifier_key

__all__ = ["BUNDLE_VERSION", "Verdict", "verify_bundle"]

BUNDLE_VERSION = 1


@dataclass
class Verdict:
    checkpoint: Checkpoint | None = None
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checkpoint is not None and not self.problems


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{what} is not valid base64") from None


def verify_bundle(raw: bytes, verifier_key: str, previous_note: bytes | None = None) -> Verdict:
    verdict = Verdict()
    try:
        bundle = json.loads(raw)
        if not isinstance(bundle, dict) or bundle.get("v") != BUNDLE_VERSION:
            raise ValueError(f"not an audit export bundle of version {BUNDLE_VERSION}")
        key = parse_verifier_key(verifier_key)
        checkpoint = open_note(str(bundle["checkpoint"]).encode("utf-8"), key)
        first, last = int(bundle["from"]), int(bundle["to"])
        listed = bundle["entries"]
        if not isinstance(listed, list):
            raise ValueError("entries is not a list")
    except (ValueError, KeyError, TypeError, NoteRefused) as exc:
        verdict.problems.append(f"unreadable bundle or checkpoint: {exc}")
        return verdict
    verdict.checkpoint = checkpoint
    size, head = checkpoint.size, checkpoint.root_hash
    if not 0 <= first <= last <= size:
        verdict.problems.append(f"range [{first}, {last}) is not within the signed log of {size} entries")
        return verdict
    leaves: list[bytes] = []
    for position, item in enumerate(listed):
        expected = first + position
        try:
            index = int(item["index"])
            leaf = _b64(item["leaf"], f"entry {expected} leaf")
            path = [_b64(h, f"entry {expected} proof") for h in item["proof"]]
        except (ValueError, KeyError, TypeError) as exc:
            verdict.problems.append(f"entry {expected}: unreadable ({exc})")
            continue
        if index != expected:
            verdict.problems.append(f"entry at position {position} is index {index}, expected {expected}")
        if not verify_inclusion(leaf_hash(leaf), index, size, path, head):
            verdict.problems.append(f"entry {index}: not included in the signed tree of {size} entries")
        leaves.append(leaf)
    verdict.entries = len(leaves)
    if len(listed) != last - first:
        verdict.problems.append(f"the bundle lists {len(listed)} entries for the range [{first}, {last})")
    full = first == 0 and last == size and len(leaves) == size
    if full and root(leaves) != head:
        verdict.problems.append("the root recomputed from all entries is not the signed root")
    _check_chains(leaves, first, full, verdict)
    if previous_note is not None:
        _check_previous(bundle, previous_note, key, checkpoint, leaves if full else None, verdict)
    return verdict


def _check_chains(leaves: list[bytes], first: int, full: bool, verdict: Verdict) -> None:
    """Each exchange's entries name the exchange's previous entry: a gap or a reordering shows."""
    last_of: dict[str, int] = {}
    for offset, leaf in enumerate(leaves):
        index = first + offset
        try:
            entry = json.loads(leaf)
            exchange, previous = entry.get("exchange"), entry.get("previous")
        except (ValueError, AttributeError):
            verdict.problems.append(f"entry {index}: the leaf is not a JSON entry")
            continue
        if exchange is None:
            continue
        if exchange in last_of:
            if previous != last_of[exchange]:
                verdict.problems.append(
                    f"entry {index}: exchange {exchange} names entry {previous} before it, not {last_of[exchange]}"
                )
        elif previous is not None and (full or previous >= first):
            # Before the range the history is not in the bundle; inside it (or in a full export) it must be.
            verdict.problems.append(f"entry {index}: exchange {exchange} names entry {previous}, which is missing")
        last_of[exchange] = index


def _check_previous(
    bundle: dict[str, Any],
    previous_note: bytes,
    key: Any,
    checkpoint: Checkpoint,
    leaves: list[bytes] | None,
    verdict: Verdict,
) -> None:
    try:
        older = open_note(previous_note, key)
    except NoteRefused as exc:
        verdict.problems.append(f"the previous checkpoint does not verify: {exc}")
        return
    if older.size > checkpoint.size:
        verdict.problems.append(f"the previous checkpoint ({older.size}) is larger than this one ({checkpoint.size})")
        return
    if leaves is not None:
        if root(leaves[: older.size]) != older.root_hash:
            verdict.problems.append(f"the log's first {older.size} entries do not have the previous checkpoint's root")
        return
    proof = bundle.get("consistency")
    if not isinstance(proof, dict) or proof.get("first") != older.size:
        verdict.problems.append(f"the bundle has no consistency proof from size {older.size} (export with previous=)")
        return
    try:
        path = [_b64(h, "consistency proof") for h in proof["path"]]
    except (ValueError, KeyError, TypeError) as exc:
        verdict.problems.append(f"unreadable consistency proof: {exc}")
        return
    if not verify_consistency(older.size, checkpoint.size, older.root_hash, checkpoint.root_hash, path):
        verdict.problems.append(f"the log of {checkpoint.size} entries is not an extension of the previous checkpoint")
