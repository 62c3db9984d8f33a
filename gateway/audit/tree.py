"""The audit log's Merkle tree in the database: stored hashes of complete, aligned subtrees.

Every entry's leaf hash is stored at level 0; whenever an append completes an aligned block of 2^h leaves, the
block's hash is stored at level h. Any range a root or a proof needs is then the combination of O(log n) stored
blocks (``merkle.aligned_cover``), read in one query. The rows are written by the same ``before_commit`` hook that
numbers the entries, under the same log-head lock, so the tree always covers exactly the committed entries.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from sqlalchemy import TextClause, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.audit.merkle import (
    EMPTY_ROOT,
    aligned_cover,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
)
from gateway.audit.models import AuditSubtree

__all__ = ["StoredTree", "append_leaves", "read_blocks"]

_SUBTREES = AuditSubtree.__table__  # type: ignore[attr-defined]
# Stored blocks asked for in one query: well under every backend's limit on bound parameters (two per block).
_READ_CHUNK = 500


def _level(size: int) -> int:
    return size.bit_length() - 1


@functools.lru_cache(maxsize=128)
def _blocks_query(count: int) -> TextClause:
    # Textual and cached per block count: building an expression tree per proof cost more than the query itself.
    # One "level = ? AND index = ?" per block, OR-ed: SQLite answers each from the primary key (a row-value IN over
    # the pairs would scan the table there), PostgreSQL with one bitmap index scan per term.
    terms = " OR ".join(f'(level = :l{i} AND "index" = :i{i})' for i in range(count))
    return text(f'SELECT level, "index", hash FROM audit_subtrees WHERE {terms}')  # noqa: S608  # no input in it


def read_blocks(executor: Session | Connection, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the blocks ``(level, index)`` in ``wanted`` that exist, in one query per 500 blocks."""
    ordered = sorted(set(wanted))
    found: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(ordered), _READ_CHUNK):
        chunk = ordered[start : start + _READ_CHUNK]
        params: dict[str, int] = {}
        for i, (level, index) in enumerate(chunk):
            params[f"l{i}"], params[f"i{i}"] = level, index
        for level, index, digest in executor.execute(_blocks_query(len(chunk)), params):
            found[(level, index)] = bytes(digest)
    return found


def append_leaves(connection: Connection, first_index: int, leaves: Sequence[bytes]) -> None:
    """Store the hashes of ``leaves`` (entries ``first_index``…) and of every aligned block they complete."""
    if not leaves:
        return
    # First the left siblings this append climbs over that earlier transactions stored: read in one query.
    produced: set[tuple[int, int]] = set()
    needed: set[tuple[int, int]] = set()
    for index in range(first_index, first_index + len(leaves)):
        level, position = 0, index
        produced.add((level, position))
        while position % 2 == 1:
            if (level, position - 1) not in produced:
                needed.add((level, position - 1))
            level, position = level + 1, position // 2
            produced.add((level, position))
    known = read_blocks(connection, needed)
    if len(known) != len(needed):
        raise LookupError(f"the audit tree lacks {len(needed) - len(known)} stored subtree(s) left of {first_index}")
    rows: list[dict[str, object]] = []
    for offset, data in enumerate(leaves):
        index = first_index + offset
        digest = leaf_hash(data)
        known[(0, index)] = digest
        rows.append({"level": 0, "index": index, "hash": digest})
        level, position = 0, index
        # A right child completes its parent: climb while this block is the right half of the next one.
        while position % 2 == 1:
            digest = node_hash(known[(level, position - 1)], digest)
            level, position = level + 1, position // 2
            known[(level, position)] = digest
            rows.append({"level": level, "index": position, "hash": digest})
    connection.execute(insert(_SUBTREES), rows)


class StoredTree:
    """:class:`gateway.audit.merkle.SubtreeHashes` over the stored blocks, for a tree of ``size`` entries."""

    def __init__(self, session: Session, size: int) -> None:
        self.session = session
        self.size = size
        self._blocks: dict[tuple[int, int], bytes] = {}

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Read every stored block the given ranges need, in one query."""
        wanted = {
            (_level(size), start // size)
            for first, count in ranges
            for start, size in aligned_cover(first, count)
            if (_level(size), start // size) not in self._blocks
        }
        if not wanted:
            return
        self._blocks.update(read_blocks(self.session, wanted))
        missing = wanted - set(self._blocks)
        if missing:
            raise LookupError(f"the audit tree lacks {len(missing)} stored subtree(s), e.g. {min(missing)}")

    def _aligned(self, start: int, size: int) -> bytes:
        key = (_level(size), start // size)
        if key not in self._blocks:
            self.prefetch([(start, size)])
        return self._blocks[key]

    def hash(self, start: int, size: int) -> bytes:
        if start < 0 or size < 0 or start + size > self.size:
            raise ValueError(f"range [{start}, {start + size}) is outside a tree of {self.size} entries")
        if size == 0:
            return EMPTY_ROOT
        return range_hash(start, size, self._aligned)

    def root(self) -> bytes:
        return self.hash(0, self.size)

    def inclusion(self, index: int) -> list[bytes]:
        """The inclusion proof of entry ``index`` in this tree (RFC 9162 order), its blocks read in one query."""
        self.prefetch(inclusion_ranges(index, self.size))
        return inclusion_proof(index, self.size, self)

    def inclusions(self, indexes: Sequence[int]) -> list[list[bytes]]:
        """The inclusion proofs of several entries (an export), every block they need read up front."""
        self.prefetch(r for index in indexes for r in inclusion_ranges(index, self.size))
        return [inclusion_proof(index, self.size, self) for index in indexes]

    def consistency(self, first: int) -> list[bytes]:
        """The proof that the tree of ``first`` entries is a prefix of this one, its blocks read in one query."""
        self.prefetch(consistency_ranges(first, self.size))
        return consistency_proof(first, self.size, self)
