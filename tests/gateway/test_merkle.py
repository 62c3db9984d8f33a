"""The audit log's Merkle tree against RFC 6962 / RFC 9162: published vectors, then every tree of up to 64 leaves.

The exhaustive tests use leaves ``bytes([i])`` and :func:`root` (the definition written out) as the reference for
every root; proofs come from :class:`MemoryTree` through the same provider interface the database layer serves.
A refused proof is always refused against the root that really goes with the size it is checked for, because a
verifier only ever holds (size, root) pairs taken together from one signed checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest

from gateway.audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    aligned_cover,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
    root,
    root_from_hashes,
    verify_consistency,
    verify_inclusion,
)
from tests.conftest import ROOT

VECTORS = ROOT.parent / "shared" / "vectors" / "rfc6962.json"
MAX_LEAVES = 64
LEAVES = [bytes([i]) for i in range(MAX_LEAVES)]
TREE = MemoryTree.from_leaves(LEAVES)
SIZES = range(1, MAX_LEAVES + 1)
OTHER_HASH = hashlib.sha256(b"not in the tree").digest()


@cache
def root_of(size: int) -> bytes:
    return root(LEAVES[:size])


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    if not VECTORS.is_file():
        pytest.skip(f"the shared vectors are not at {VECTORS} (they sit beside the repository checkout)")
    loaded: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return loaded


def _hex(hashes: Sequence[bytes]) -> list[str]:
    return [value.hex() for value in hashes]


def _flipped(value: bytes, position: int = 0) -> bytes:
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1 :]


# Hashing (RFC 6962 §2.1)


def test_leaves_and_nodes_are_hashed_with_different_prefixes() -> None:
    assert leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert leaf_hash(b"\x01ab") != node_hash(b"a", b"b")


def test_the_empty_tree_has_the_hash_of_nothing_as_its_root() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == root_from_hashes([]) == MemoryTree([]).root() == EMPTY_ROOT


def test_a_tree_splits_at_the_largest_power_of_two_below_its_size() -> None:
    a, b, c, d, e = (leaf_hash(leaf) for leaf in LEAVES[:5])
    assert root(LEAVES[:3]) == node_hash(node_hash(a, b), c)
    assert root(LEAVES[:5]) == node_hash(node_hash(node_hash(a, b), node_hash(c, d)), e)


# Published vectors


def test_every_vector_root_is_reproduced(vectors: dict[str, Any]) -> None:
    leaves = [bytes.fromhex(leaf) for leaf in vectors["leaves_hex"]]
    assert len(vectors["roots_by_tree_size"]) == len(leaves) + 1
    for size, expected in vectors["roots_by_tree_size"].items():
        prefix = leaves[: int(size)]
        assert root(prefix).hex() == expected, size
        assert root_from_hashes([leaf_hash(leaf) for leaf in prefix]).hex() == expected, size
        assert MemoryTree.from_leaves(leaves).hash(0, int(size)).hex() == expected, size


def test_every_vector_inclusion_proof_is_generated_and_verifies(vectors: dict[str, Any]) -> None:
    leaves = [bytes.fromhex(leaf) for leaf in vectors["leaves_hex"]]
    assert vectors["inclusion_proofs"]
    for case in vectors["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        tree = MemoryTree.from_leaves(leaves[:size])
        assert _hex(inclusion_proof(index, size, tree)) == case["path"]
        path = [bytes.fromhex(node) for node in case["path"]]
        expected_root = bytes.fromhex(vectors["roots_by_tree_size"][str(size)])
        assert verify_inclusion(leaf_hash(leaves[index]), index, size, path, expected_root)


def test_every_vector_consistency_proof_is_generated_and_verifies(vectors: dict[str, Any]) -> None:
    leaves = [bytes.fromhex(leaf) for leaf in vectors["leaves_hex"]]
    roots = {int(size): bytes.fromhex(value) for size, value in vectors["roots_by_tree_size"].items()}
    tree = MemoryTree.from_leaves(leaves)
    assert vectors["consistency_proofs"]
    for case in vectors["consistency_proofs"]:
        first, second = case["first"], case["second"]
        assert _hex(consistency_proof(first, second, tree)) == case["path"]
        path = [bytes.fromhex(node) for node in case["path"]]
        assert verify_consistency(first, second, roots[first], roots[second], path)


# Aligned blocks: what the database stores


def test_aligned_cover_is_the_greedy_cover_by_the_largest_aligned_blocks() -> None:
    for start in range(MAX_LEAVES + 1):
        for size in range(MAX_LEAVES + 1 - start):
            blocks = aligned_cover(start, size)
            position = start
            for block_start, block_size in blocks:
                assert block_start == position
                assert block_size & (block_size - 1) == 0, "a power of two"
                assert block_start % block_size == 0, "aligned"
                # Maximal: the next larger aligned block from here would not be aligned or would not fit.
                larger = 2 * block_size
                assert block_start % larger != 0 or block_start + larger > start + size
                position += block_size
            assert position == start + size


def test_range_hash_from_aligned_blocks_is_the_root_of_every_range() -> None:
    for start in range(MAX_LEAVES + 1):
        for size in range(MAX_LEAVES + 1 - start):
            assert range_hash(start, size, TREE.hash) == root(LEAVES[start : start + size]), (start, size)


def test_every_range_a_proof_needs_is_read_from_its_aligned_cover_only() -> None:
    """O(log n) reads: the blocks range_hash asks for are exactly the cover, one per set bit of the size."""
    for second in SIZES:
        ranges = [r for index in range(second) for r in inclusion_ranges(index, second)]
        ranges += [r for first in range(second + 1) for r in consistency_ranges(first, second)]
        for start, size in ranges:
            read: list[tuple[int, int]] = []

            def aligned(block_start: int, block_size: int, read: list[tuple[int, int]] = read) -> bytes:
                read.append((block_start, block_size))
                return TREE.hash(block_start, block_size)

            assert range_hash(start, size, aligned) == root(LEAVES[start : start + size])
            assert read == aligned_cover(start, size)
            assert len(read) == size.bit_count()


def test_a_range_that_is_not_on_a_block_boundary_follows_the_tree_shape_not_the_cover() -> None:
    # [1, 5) is hashed as ((1, 2), (3, 4)); its maximal cover [1], [2, 3], [4] cannot produce that.
    assert aligned_cover(1, 4) == [(1, 1), (2, 2), (4, 1)]
    one, two, three, four = (leaf_hash(leaf) for leaf in LEAVES[1:5])
    assert range_hash(1, 4, TREE.hash) == node_hash(node_hash(one, two), node_hash(three, four))


def test_a_memory_tree_refuses_leaves_it_does_not_hold() -> None:
    with pytest.raises(ValueError, match="not all in a tree of 64"):
        TREE.hash(60, 5)
    with pytest.raises(ValueError, match="negative"):
        TREE.hash(-1, 2)


# Inclusion proofs (RFC 9162 §2.1.3)


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_verifies(size: int) -> None:
    for index in range(size):
        path = inclusion_proof(index, size, TREE)
        assert len(path) == len(inclusion_ranges(index, size))
        assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, path, root_of(size))


@pytest.mark.parametrize("size", SIZES)
def test_an_inclusion_proof_proves_nothing_else(size: int) -> None:
    for index in range(size):
        leaf = leaf_hash(LEAVES[index])
        path = inclusion_proof(index, size, TREE)
        for other in range(size):
            if other != index:
                assert not verify_inclusion(leaf, other, size, path, root_of(size)), "wrong index"
                assert not verify_inclusion(leaf_hash(LEAVES[other]), index, size, path, root_of(size)), "wrong leaf"
        for other_size in (size - 1, size + 1):
            if index < other_size <= MAX_LEAVES:
                assert not verify_inclusion(leaf, index, other_size, path, root_of(other_size)), "wrong size"
                assert not verify_inclusion(leaf, index, size, path, root_of(other_size)), "root of another size"
        if path:
            assert not verify_inclusion(leaf, index, size, path[:-1], root_of(size)), "truncated"
            assert not verify_inclusion(leaf, index, size, path[1:], root_of(size)), "first element dropped"
        assert not verify_inclusion(leaf, index, size, [*path, OTHER_HASH], root_of(size)), "extended"
        assert not verify_inclusion(leaf, index, size, [*path, root_of(size)], root_of(size)), "extended"
        assert not verify_inclusion(leaf, index, size, [OTHER_HASH, *path], root_of(size)), "extended in front"
        for position in range(len(path)):
            tampered = [*path[:position], _flipped(path[position], position), *path[position + 1 :]]
            assert not verify_inclusion(leaf, index, size, tampered, root_of(size)), "flipped byte"
        assert not verify_inclusion(_flipped(leaf), index, size, path, root_of(size)), "flipped leaf"
        assert not verify_inclusion(leaf, index, size, path, _flipped(root_of(size), 31)), "flipped root"
        assert not verify_inclusion(leaf, index, size, [*path, b""], root_of(size)), "short element"


def test_a_path_to_a_subtree_root_is_not_a_path_to_the_root() -> None:
    # Leaf 2's path in the first 8 leaves verifies for that subtree, but must not for the tree of 12 that holds it.
    path = inclusion_proof(2, 8, TREE)
    assert verify_inclusion(leaf_hash(LEAVES[2]), 2, 8, path, root_of(8))
    assert not verify_inclusion(leaf_hash(LEAVES[2]), 2, 12, path, root_of(8))


def test_the_size_is_bound_to_the_root_only_by_the_checkpoint_that_signs_both() -> None:
    """Why callers take (size, root) from one signed checkpoint: a path cannot tell a leaf from a subtree.

    Leaf 0's path in 4 leaves, [h(1), h(2, 3)], also reads as a path in 3 leaves with h(2, 3) taken for leaf 2.
    """
    path = inclusion_proof(0, 4, TREE)
    assert verify_inclusion(leaf_hash(LEAVES[0]), 0, 3, path, root_of(4))
    assert not verify_inclusion(leaf_hash(LEAVES[0]), 0, 3, path, root_of(3))


def test_hash_boundaries_cannot_be_moved_between_proof_elements() -> None:
    """Every value is 32 bytes: otherwise bytes moved from one element to the next hash to the same root."""
    zero, one = leaf_hash(LEAVES[0]), leaf_hash(LEAVES[1])
    assert node_hash(zero[:16], zero[16:] + one) == root_of(2)
    assert not verify_inclusion(zero[:16], 0, 2, [zero[16:] + one], root_of(2))
    assert not verify_consistency(1, 2, zero + one[:16], root_of(2), [one[16:]])


def test_inclusion_is_refused_for_a_leaf_outside_the_tree() -> None:
    assert not verify_inclusion(leaf_hash(LEAVES[3]), 3, 3, inclusion_proof(2, 3, TREE), root_of(3))
    assert not verify_inclusion(EMPTY_ROOT, 0, 0, [], EMPTY_ROOT), "the empty tree holds no leaf"
    with pytest.raises(ValueError, match="leaf 3 is not in a tree of 3"):
        inclusion_proof(3, 3, TREE)
    with pytest.raises(ValueError, match="leaf 0 is not in a tree of 0"):
        inclusion_proof(0, 0, TREE)


def test_negative_indexes_and_sizes_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="index must not be negative"):
        verify_inclusion(leaf_hash(b""), -1, 3, [], root_of(3))
    with pytest.raises(ValueError, match="tree_size must not be negative"):
        verify_inclusion(leaf_hash(b""), 0, -3, [], root_of(3))
    with pytest.raises(ValueError, match="index must not be negative"):
        inclusion_proof(-1, 3, TREE)
    with pytest.raises(ValueError, match="first must not be negative"):
        verify_consistency(-1, 3, EMPTY_ROOT, root_of(3), [])
    with pytest.raises(ValueError, match="second must not be negative"):
        consistency_proof(0, -1, TREE)


# Consistency proofs (RFC 9162 §2.1.4)


@pytest.mark.parametrize("second", SIZES)
def test_every_consistency_proof_verifies(second: int) -> None:
    for first in range(1, second + 1):
        path = consistency_proof(first, second, TREE)
        assert verify_consistency(first, second, root_of(first), root_of(second), path), first
        assert (path == []) == (first == second)


@pytest.mark.parametrize("second", SIZES)
def test_a_consistency_proof_proves_nothing_else(second: int) -> None:
    for first in range(1, second):
        old, new = root_of(first), root_of(second)
        path = consistency_proof(first, second, TREE)
        assert not verify_consistency(first, second, new, old, path), "swapped roots"
        assert not verify_consistency(second, first, new, old, path), "swapped sizes"
        assert not verify_consistency(first, second, old, old, path), "the old root twice"
        for other in (first - 1, first + 1):
            if 0 < other < second:
                assert not verify_consistency(other, second, root_of(other), new, path), "wrong first"
        for other in (second - 1, second + 1):
            if first < other <= MAX_LEAVES:
                assert not verify_consistency(first, other, old, root_of(other), path), "wrong second"
        assert not verify_consistency(first, second, old, new, path[:-1]), "truncated"
        assert not verify_consistency(first, second, old, new, path[1:]), "first element dropped"
        assert not verify_consistency(first, second, old, new, [*path, OTHER_HASH]), "extended"
        assert not verify_consistency(first, second, old, new, [*path, new]), "extended"
        assert not verify_consistency(first, second, old, new, [old, *path]), "old root put in front"
        for position in range(len(path)):
            tampered = [*path[:position], _flipped(path[position], position), *path[position + 1 :]]
            assert not verify_consistency(first, second, old, new, tampered), "flipped byte"
        assert not verify_consistency(first, second, _flipped(old), new, path), "flipped old root"
        assert not verify_consistency(first, second, old, _flipped(new, 31), path), "flipped new root"


def test_a_proof_that_stops_below_the_second_root_is_refused() -> None:
    # PROOF(3, D[8]) is a proof that the first 3 leaves are a prefix of the first 8: it does not use up a tree of 12.
    path = consistency_proof(3, 8, TREE)
    assert verify_consistency(3, 8, root_of(3), root_of(8), path)
    assert not verify_consistency(3, 12, root_of(3), root_of(8), path)
    assert not verify_consistency(3, 12, root_of(3), root_of(12), path)


def test_a_tree_is_consistent_with_itself_by_the_empty_proof_only() -> None:
    assert consistency_proof(5, 5, TREE) == []
    assert verify_consistency(5, 5, root_of(5), root_of(5), [])
    assert not verify_consistency(5, 5, root_of(5), root_of(6), [])
    assert not verify_consistency(5, 5, root_of(5), root_of(5), [root_of(5)])


def test_every_tree_extends_the_empty_tree_by_the_empty_proof() -> None:
    # RFC 9162 defines proofs for 0 < first < second only; a signer that starts from an empty tree still has to
    # be able to check its next tree head against it.
    assert consistency_proof(0, 5, TREE) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, root_of(5), [])
    assert not verify_consistency(0, 5, root_of(1), root_of(5), []), "the empty tree has one root"
    assert not verify_consistency(0, 5, EMPTY_ROOT, root_of(5), [root_of(5)])


def test_a_shrinking_tree_is_refused() -> None:
    assert not verify_consistency(6, 5, root_of(6), root_of(5), consistency_proof(5, 6, TREE))
    with pytest.raises(ValueError, match="a tree of 6 cannot be a prefix of a tree of 5"):
        consistency_proof(6, 5, TREE)


def test_the_rfc_example_proof_from_three_to_seven_leaves() -> None:
    """RFC 9162 §2.1.5: PROOF(3, D[7]) = [c, d, g, l] (leaf 2, leaf 3, leaves 0-1, leaves 4-6)."""
    assert consistency_ranges(3, 7) == [(2, 1), (3, 1), (0, 2), (4, 3)]
    assert consistency_ranges(4, 7) == [(4, 3)]
    assert consistency_ranges(6, 7) == [(4, 2), (6, 1), (0, 4)]
    assert inclusion_ranges(3, 7) == [(2, 1), (0, 2), (4, 3)]
