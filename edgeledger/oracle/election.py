"""Per-term VRF election of a master (Pedal, Algorithm 1, lines 1-8).

Every registered node computes ``(beta, pi) = VRF(sk, seed_term || term)``. It qualifies when
``beta / 2^512 < alpha / n`` -- on average ``alpha`` nodes qualify per term -- compared in
integers as ``int(beta) < threshold``. Rule when zero or several qualify (deterministic):

* several qualify: the qualified node with the smallest output is the master off chain;
  on chain any qualified node's fulfillment is valid and the first one committed wins;
* none qualifies (fallback polling): every node posts its proof on chain
  (:mod:`edgeledger.oracle.terms`); once every registered node has posted, or the fallback
  window of chain time has passed with at least 2/3 of them in, the master is the node with
  the smallest output among *all* proofs posted. The chain, not the master, holds the set,
  so the master has no proofs to leave out (the rule before let any node of roughly the
  lowest third present a 2/3 subset in which it was the smallest).

The seed is chained: ``seed_T = H(seed_P || beta_P || T)`` where P is the last term with a
seed and beta_P the VRF output of its first accepted master (:func:`next_seed`), so a term's
master is unpredictable until the term before it is decided, as in Algorand's seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from edgeledger.codec import encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.vrf import OUTPUT_BYTES, vrf_proof_to_hash, vrf_prove, vrf_verify
from edgeledger.errors import ConfigError
from edgeledger.oracle.records import ElectionProof, election_input

__all__ = ["election_threshold", "qualifies", "prove_term", "verified_output", "pick_master", "fallback_quorum",
           "certificate_error", "fallback_master", "next_seed"]

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


def fallback_master(outputs: Mapping[str, bytes]) -> str:
    """The fallback master among every posted output: the smallest ``(beta, node id)``."""
    return min(outputs, key=lambda n: (outputs[n], n))


def next_seed(previous_seed: bytes, previous_output: bytes, term: int) -> bytes:
    """``seed_term = H("pedal-seed" || seed_P || beta_P || term)``: chained from the last seeded term P
    and the VRF output of its master (empty when P had none accepted)."""
    return sha256(encode(("pedal-seed", bytes(previous_seed), bytes(previous_output), int(term))))


def pick_master(proofs: Sequence[ElectionProof], threshold: int, n_registered: int,
                vrf_keys: Mapping[str, bytes], seed: bytes) -> tuple[str, list[ElectionProof]] | None:
    """The master of a term when a verified proof qualifies: the smallest qualified output, and
    the certificate it presents (its own proof). None otherwise: without a qualified node the
    fallback is decided on chain (:mod:`edgeledger.oracle.terms`), never from gossip.
    ``n_registered`` is kept for callers; the fallback quorum is the chain's business now."""
    outputs: dict[str, tuple[bytes, ElectionProof]] = {}
    for p in sorted(proofs, key=lambda p: p.node_id):
        key = vrf_keys.get(p.node_id)
        beta = verified_output(p, key, seed) if key is not None else None
        if beta is not None:
            outputs[p.node_id] = (beta, p)
    qualified = {n: beta for n, (beta, _) in outputs.items() if qualifies(beta, threshold)}
    if not qualified:
        return None
    best = fallback_master(qualified)
    return best, [outputs[best][1]]


def certificate_error(master: str, election: Sequence[ElectionProof], term: int, n_registered: int, threshold: int,
                      seed: bytes, vrf_key: Callable[[str], bytes | None],
                      before_verify: Callable[[], None] = lambda: None) -> str | None:
    """Why ``election`` does not prove ``master`` elected for ``term``, or None when it does.

    The one rule both the proxy (on chain, before it accepts a fulfillment) and the members
    (off chain, before they sign a master's proposal) apply to a qualified master: exactly its
    own proof, verifying under its registered VRF key, with ``beta < threshold``. A fallback
    master presents no proofs: the proxy and the members read the term's posted proofs
    (:func:`edgeledger.oracle.terms.fallback_decision`). ``vrf_key(node)`` is the node's
    registered VRF key (None: not registered); ``before_verify`` runs before the VRF
    verification (the proxy charges its steps there).
    """
    if len(election) != 1:
        return (f"an election certificate is the master's own qualifying proof; got {len(election)} proofs (a fallback "
                "master is decided on chain from the posted proofs and presents none)")
    (proof,) = election
    if proof.term != term:
        return f"VRF proof for term {proof.term}, request is in term {term}"
    if proof.node_id != master:
        return f"no VRF proof from the master {master!r}"
    key = vrf_key(proof.node_id)
    if key is None:
        return f"VRF proof from unregistered node {proof.node_id!r}"
    before_verify()
    beta = verified_output(proof, key, seed)
    if beta is None:
        return f"VRF proof of {proof.node_id!r} does not verify"
    if not qualifies(beta, threshold):
        return f"master {master!r}'s VRF output is not under the election threshold"
    return None


def output_of(proof: ElectionProof) -> bytes:
    return vrf_proof_to_hash(proof.proof)
