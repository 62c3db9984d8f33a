"""The audit log's Merkle tree in the database: stored hashes of complete, aligned subtrees.

Every entry's leaf hash is stored at level 0; whenever an append completes an aligned block of 2^h leaves, the
block's hash is stored at level h. Any range a root or a proof needs is then the combination of O(log n) stored
blocks (``merkle.aligned_cover``), read in one query. The rows are written by the same ``before_commit`` hook that
numbers the entries, under the same log-head lock, so the tree always covers exactly the committed entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.audit.merkle import EMPTY_ROOT, aligned_cover, leaf_hash, node_hash, range_hash
from gateway.audit.models import AuditSubtree

__all__ = ["StoredTree", "append_leaves"]


def _level(size: int) -> int:
    return size.bit_length() - 1


def append_leaves(session: Session, first_index: int, leaves: Sequence[bytes]) -> None:
    """Store the hashes of ``leaves`` (entries ``first_index``…) and of every aligned block they complete."""
    if not leaves:
        return
    known: dict[tuple[int, int], bytes] = {}
    rows: list[dict[str, object]] = []

    def stored(level: int, index: int) -> bytes:
        found = known.get((level, index))
        if found is None:
            found = session.execute(
                select(col(AuditSubtree.hash)).where(col(AuditSubtree.level) == level, col(AuditSubtree.index) == index)
            ).scalar_one()
            known[(level, index)] = found
        return found

    for offset, data in enumerate(leaves):
        index = first_index + offset
        digest = leaf_hash(data)
        known[(0, index)] = digest
        rows.append({"level": 0, "index": index, "hash": digest})
        level, position = 0, index
        # A right child completes its parent: climb while this block is the right half of the next one.
        while position % 2 == 1:
            digest = node_hash(stored(level, position - 1), digest)
            level, position = level + 1, position // 2
            known[(level, position)] = digest
            rows.append({"level": level, "index": position, "hash": digest})
    session.execute(insert(AuditSubtree), rows)


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
        found = self.session.execute(
            select(col(AuditSubtree.level), col(AuditSubtree.index), col(AuditSubtree.hash)).where(
                tuple_(col(AuditSubtree.level), col(AuditSubtree.index)).in_(sorted(wanted))
            )
        ).all()
        for level, index, digest in found:
            self._blocks[(level, index)] = digest
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
