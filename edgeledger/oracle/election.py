"""Per-term VRF election of a master (Pedal, Algorithm 1, lines 1-8).

Every registered node computes ``(beta, pi) = VRF(sk, seed || term)``. It qualifies when
``beta / 2^512 < alpha / n`` -- on average ``alpha`` nodes qualify per term -- compared in
integers as ``int(beta) < threshold``. Rule when zero or several qualify (deterministic):

* several qualify: the qualified node with the smallest output is the master off chain;
  on chain any qualified node's fulfillment is valid and the first one committed wins;
* none qualifies (fallback polling): the master is the node with the smallest output
  among the proofs of at least 2/3 of the registered nodes, and it must present them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from edgeledger.crypto.vrf import OUTPUT_BYTES, vrf_proof_to_hash, vrf_prove, vrf_verify
from edgeledger.errors import ConfigError
from edgeledger.oracle.records import ElectionProof, election_input

__all__ = ["election_threshold", "qualifies", "prove_term", "verified_output", "pick_master", "fallback_quorum",
           "certificate_error"]

_OUTPUT_SPACE = 1 << (8 * OUTPUT_BYTES)  # 2^512


def election_threshold(alpha_milli: int, n_nodes: int) -> int:
    """Integer threshold T = floor(2^512 * alpha / n), alpha given in thousandths."""
    if n_nodes < 1 or alpha_milli < 0:
        raise ConfigError(f"election needs n_nodes >= 1 and alpha >= 0, got n={n_nodes}, alpha_milli={alpha_milli}")
    return min(_OUTPUT_SPACE, (_OUTPUT_SPACE * alpha_milli) // (1000 * n_nodes))


def qualifies(output: bytes, threshold: int) -> bool:
    """``beta / 2^512 < alpha / n``, in integers."""
    return int.from_bytes(output, "big") < threshold


def prove_term(node_id: str, vrf_secret_key: bytes, seed: bytes, term: int) -> ElectionProof:
    return ElectionProof(term=term, node_id=node_id, proof=vrf_prove(vrf_secret_key, election_input(seed, term)))


def verified_output(proof: ElectionProof, vrf_public_key: bytes, seed: bytes) -> bytes | None:
    """The VRF output when ``proof`` verifies under the registered key, else None."""
    return vrf_verify(vrf_public_key, proof.proof, election_input(seed, proof.term))


def fallback_quorum(n_registered: int) -> int:
    """Proofs the fallback certificate must hold: ceil(2n/3)."""
    return -(-2 * n_registered // 3)


def pick_master(proofs: Sequence[ElectionProof], threshold: int, n_registered: int,
                vrf_keys: Mapping[str, bytes], seed: bytes) -> tuple[str, list[ElectionProof]] | None:
    """The master of a term from verified proofs, and the certificate it must present.

    Returns None while the election is undecided (nobody qualified and fewer than
    ``fallback_quorum`` proofs are in).
    """
    outputs: dict[str, tuple[bytes, ElectionProof]] = {}
    for p in sorted(proofs, key=lambda p: p.node_id):
        key = vrf_keys.get(p.node_id)
        beta = verified_output(p, key, seed) if key is not None else None
        if beta is not None:
            outputs[p.node_id] = (beta, p)
    if not outputs:
        return None
    best = min(outputs, key=lambda n: (outputs[n][0], n))
    if qualifies(outputs[best][0], threshold):
        return best, [outputs[best][1]]
    if len(outputs) < fallback_quorum(n_registered):
        return None
    return best, [outputs[n][1] for n in sorted(outputs)]


def certificate_error(master: str, election: Sequence[ElectionProof], term: int, n_registered: int, threshold: int,
                      seed: bytes, vrf_key: Callable[[str], bytes | None],
                      before_verify: Callable[[], None] = lambda: None) -> str | None:
    """Why ``election`` does not prove ``master`` elected for ``term``, or None when it does.

    The one rule both the proxy (on chain, before it accepts a fulfillment) and the members
    (off chain, before they sign a master's proposal) apply: either the master's own proof,
    with ``beta < threshold``; or -- fallback -- the proofs of >= ``fallback_quorum`` distinct
    registered nodes, none under the threshold, the master's the smallest output.
    ``vrf_key(node)`` is the node's registered VRF key (None: not registered);
    ``before_verify`` runs before each VRF verification (the proxy charges its steps there).
    """
    outputs: dict[str, bytes] = {}
    for proof in election:
        if proof.term != term:
            return f"VRF proof for term {proof.term}, request is in term {term}"
        key = vrf_key(proof.node_id)
        if key is None:
            return f"VRF proof from unregistered node {proof.node_id!r}"
        before_verify()
        beta = verified_output(proof, key, seed)
        if beta is None:
            return f"VRF proof of {proof.node_id!r} does not verify"
        outputs[proof.node_id] = beta
    if master not in outputs:
        return f"no VRF proof from the master {master!r}"
    if len(election) == 1:
        if not qualifies(outputs[master], threshold):
            return f"master {master!r}'s VRF output is not under the election threshold"
        return None
    need = fallback_quorum(n_registered)
    if not (len(outputs) == len(election) and len(outputs) >= need):
        return f"fallback election needs >= {need} distinct proofs, got {len(outputs)}"
    if any(qualifies(b, threshold) for b in outputs.values()):
        return "fallback election used although a node qualified"
    if min(outputs, key=lambda n: (outputs[n], n)) != master:
        return f"fallback master must have the smallest VRF output, {master!r} does not"
    return None


def output_of(proof: ElectionProof) -> bytes:
    return vrf_proof_to_hash(proof.proof)
