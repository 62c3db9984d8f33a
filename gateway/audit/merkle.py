"""The audit log's Merkle tree (RFC 6962 §2.1, restated in RFC 9162 §2.1): roots, proofs and their verification.

Pure functions over hashes; no database. Proofs are built from a :class:`SubtreeHashes` provider so that the
database layer can answer them from stored hashes of complete, aligned subtrees in O(log n) reads::

    ranges = inclusion_ranges(index, size)                       # or consistency_ranges(first, second)
    blocks = {b for r in ranges for b in aligned_cover(*r)}      # the stored subtrees to read, one query
    proof = [range_hash(s, n, stored.__getitem__) for s, n in ranges]

:class:`MemoryTree` is the same provider over leaf hashes held in memory (tests, the offline verifier).

RFC 9162 defines consistency proofs for 0 < first < second only. The two trivial cases are answered here too, as
transparency-dev/merkle and sigsum do, because a signer that starts from an empty tree must be able to extend it:
first == second has the empty proof (the roots must be equal) and first == 0 has the empty proof (the first root
must be the empty tree's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "SubtreeHashes",
    "aligned_cover",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root",
    "root_from_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
# The domain-separation prefixes of RFC 6962 §2.1: without them a leaf could be passed off as an interior node.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
# MTH({}) = SHA-256() (RFC 9162 §2.1.1): the root of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one leaf (an audit entry's exact bytes)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """k, the largest power of two strictly smaller than ``size`` (size >= 2): where MTH splits a range."""
    return 1 << ((size - 1).bit_length() - 1)


def _check_natural(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over the leaves' data (RFC 9162 §2.1.1)."""
    return root_from_hashes([leaf_hash(data) for data in leaves])


def root_from_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes already computed with :func:`leaf_hash`.

    This is the definition written out, kept independent of :func:`range_hash` so that each checks the other.
    """
    if not leaf_hashes:
        return EMPTY_ROOT

    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaf_hashes[lo]
        k = _split(hi - lo)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth(0, len(leaf_hashes))


class SubtreeHashes(Protocol):
    """Where proofs get their hashes from: a database of stored subtrees, or :class:`MemoryTree`."""

    def hash(self, start: int, size: int) -> bytes:
        """MTH of the leaves [start, start + size), complete subtree or not."""
        ...


def aligned_cover(start: int, size: int) -> list[tuple[int, int]]:
    """The leaves [start, start + size) as maximal aligned blocks (b, 2^h) with b a multiple of 2^h, left to right.

    Aligned blocks are the complete subtrees of every tree large enough to hold them, so their hashes never change
    once written and are what the database stores. Every range a proof asks for is a prefix of an aligned block;
    for those the cover has one block per set bit of ``size`` and :func:`range_hash` reads exactly these blocks.
    """
    _check_natural(start=start, size=size)
    blocks: list[tuple[int, int]] = []
    position, end = start, start + size
    while position < end:
        # The largest power of two that divides the position (any, at 0), shrunk until it fits before the end.
        block = position & -position if position else 1 << (end.bit_length() - 1)
        while block > end - position:
            block >>= 1
        blocks.append((position, block))
        position += block
    return blocks


def range_hash(start: int, size: int, aligned: Callable[[int, int], bytes]) -> bytes:
    """MTH of the leaves [start, start + size), from ``aligned(b, 2^h)`` giving the hash of an aligned block.

    The blocks are combined in MTH's own shape (split at the largest power of two below the size), not simply
    folded. A range whose start is not a multiple of the power of two at or above its size is split differently
    from its aligned cover, and is answered from smaller blocks (correct, but up to ``size`` reads, not O(log)).
    """
    _check_natural(start=start, size=size)
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        return aligned(start, size)
    k = _split(size)
    return node_hash(range_hash(start, k, aligned), range_hash(start + k, size - k, aligned))


class MemoryTree:
    """A :class:`SubtreeHashes` over leaf hashes in memory, keeping every complete aligned subtree's hash.

    Built in O(n) hashes; each :meth:`hash` then costs O(log n) lookups and hashes, as the database layer does.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        # levels[h][k] is the hash of the aligned block [k * 2^h, (k + 1) * 2^h).
        self._levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    @classmethod
    def from_leaves(cls, leaves: Sequence[bytes]) -> MemoryTree:
        return cls([leaf_hash(data) for data in leaves])

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def root(self) -> bytes:
        return self.hash(0, self.size)

    def hash(self, start: int, size: int) -> bytes:
        _check_natural(start=start, size=size)
        if start + size > self.size:
            raise ValueError(f"leaves [{start}, {start + size}) are not all in a tree of {self.size}")
        return range_hash(start, size, self._block)

    def _block(self, start: int, size: int) -> bytes:
        height = size.bit_length() - 1
        return self._levels[height][start >> height]


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PATH(index, D[tree_size]) (RFC 9162 §2.1.3.1), in proof order."""
    _check_natural(index=index, tree_size=tree_size)
    if index >= tree_size:
        raise ValueError(f"leaf {index} is not in a tree of {tree_size}")
    # Walk down from the root; PATH lists the sibling nearest the leaf first, so the walk is reversed at the end.
    siblings: list[tuple[int, int]] = []
    start, size = 0, tree_size
    while size > 1:
        k = _split(size)
        if index - start < k:
            siblings.append((start + k, size - k))
            size = k
        else:
            siblings.append((start, k))
            start, size = start + k, size - k
    siblings.reverse()
    return siblings


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PROOF(first, D[second]) (RFC 9162 §2.1.4.1), in proof order."""
    _check_natural(first=first, second=second)
    if first > second:
        raise ValueError(f"a tree of {first} cannot be a prefix of a tree of {second}")
    if first in (0, second):
        return []
    # SUBPROOF(m, D[n], b) walked down from the root; b turns false once the walk goes right of the first tree's
    # largest complete subtree, and then the node the walk ends on (a subtree of the first tree) is included.
    nodes: list[tuple[int, int]] = []
    start, end, whole_first_tree = 0, second, True
    while end != first:
        k = _split(end - start)
        if first - start <= k:
            nodes.append((start + k, end - start - k))
            end = start + k
        else:
            nodes.append((start, k))
            start, whole_first_tree = start + k, False
    if not whole_first_tree:
        nodes.append((start, first - start))
    nodes.reverse()
    return nodes


def inclusion_proof(index: int, tree_size: int, hashes: SubtreeHashes) -> list[bytes]:
    """PATH(index, D[tree_size]): the audit path proving leaf ``index`` is in the tree of ``tree_size`` leaves."""
    return [hashes.hash(start, size) for start, size in inclusion_ranges(index, tree_size)]


def consistency_proof(first: int, second: int, hashes: SubtreeHashes) -> list[bytes]:
    """PROOF(first, D[second]): proves the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    return [hashes.hash(start, size) for start, size in consistency_ranges(first, second)]


def _all_hashes(*values: bytes) -> bool:
    return all(len(value) == HASH_SIZE for value in values)


def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``index`` in the tree (tree_size, root_hash)?

    False for any proof that does not verify, including index >= tree_size; ValueError only for negative numbers.
    The tree size is bound to the root only by whoever signed them together: check both come from one checkpoint.
    """
    _check_natural(index=index, tree_size=tree_size)
    if index >= tree_size or not _all_hashes(leaf, root_hash, *path):
        return False
    # fn is the position of the running hash within its level and sn the last position of that level.
    fn, sn = index, tree_size - 1
    running = leaf
    for sibling in path:
        if sn == 0:
            return False  # the path is longer than the tree is tall
        if fn & 1 or fn == sn:
            running = node_hash(sibling, running)
            # A last node without a right sibling moves up unchanged until it is a right child again.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            running = node_hash(running, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and running == root_hash


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does ``path`` prove (first, first_root) is a prefix of (second, second_root)?

    False for any proof that does not verify, including first > second and a proof with elements left over or
    missing; ValueError only for negative sizes. See the module docstring for first == 0 and first == second.
    """
    _check_natural(first=first, second=second)
    if first > second or not _all_hashes(first_root, second_root, *path):
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path and first_root == EMPTY_ROOT
    if not path:
        return False
    # When the first tree is a complete subtree of the second, the proof leaves out its root: the verifier has it.
    nodes = [first_root, *path] if first & (first - 1) == 0 else list(path)
    fn, sn = first - 1, second - 1
    # Start from the level where the first tree's last node is a left child (or the leftmost node).
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first_running = second_running = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            return False  # elements left over: the proof does not describe these sizes
        if fn & 1 or fn == sn:
            first_running = node_hash(node, first_running)
            second_running = node_hash(node, second_running)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            second_running = node_hash(second_running, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first_running == first_root and second_running == second_root
