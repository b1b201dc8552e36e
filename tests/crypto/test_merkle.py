from hypothesis import given, strategies as st

from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.merkle import EMPTY_ROOT, MerkleProof, merkle_proof, merkle_root, verify_merkle_proof


def test_merkle_root_matches_rfc6962_shape_for_three_leaves():
    a, b, c = b"a", b"b", b"c"
    leaf = lambda x: sha256(b"\x00", x)  # noqa: E731
    node = lambda left, right: sha256(b"\x01", left, right)  # noqa: E731
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))
    assert merkle_root([]) == EMPTY_ROOT


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_every_leaf_has_a_valid_proof_and_others_do_not(leaves, data):
    root = merkle_root(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle_proof(leaves, i)
    assert verify_merkle_proof(leaves[i], proof, root)
    assert not verify_merkle_proof(leaves[i] + b"!", proof, root)
    if len(leaves) > 1:
        moved = MerkleProof(index=(i + 1) % len(leaves), size=proof.size, path=proof.path)
        if leaves[moved.index] != leaves[i]:
            assert not verify_merkle_proof(leaves[i], moved, root) or leaves.count(leaves[i]) > 1


def test_proof_with_wrong_size_or_truncated_path_fails():
    leaves = [bytes([i]) for i in range(7)]
    root = merkle_root(leaves)
    proof = merkle_proof(leaves, 5)
    assert not verify_merkle_proof(leaves[5], MerkleProof(index=5, size=16, path=proof.path), root)
    assert not verify_merkle_proof(leaves[5], MerkleProof(index=5, size=7, path=proof.path[:-1]), root)
    assert not verify_merkle_proof(leaves[5], MerkleProof(index=9, size=7, path=proof.path), root)
