"""Pedal's work nodes: the master draws them at random, and anyone can check the draw.

SewingChain's master picks, per request, the nodes that do the work (read the source, train
the model). A free choice would let a faulty master pick its friends, so the draw is the
master's VRF over the request (RFC 9381, the key it registered for the election):

    (beta_w, pi_w) = VRF(sk_master, "pedal-work" || seed_term || term || request id)

and the work nodes are the ``k`` registered nodes with the smallest ``sha256(beta_w || id)``.
The master cannot grind (the VRF output is unique for its key and the input), cannot
choose (the rank decides), and anyone holding ``pi_w`` and the registry recomputes the set:
the group members before signing, the proxy on chain before accepting the fulfillment.
The master's group (its threshold key) still signs; the work nodes only observe. A result
needs ``ceil(2k/3)`` of their signed observations.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeledger.codec import encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.vrf import vrf_prove, vrf_verify

__all__ = ["work_input", "prove_work", "work_nodes", "verified_work_nodes", "work_threshold"]


def work_input(seed: bytes, term: int, request_id: str) -> bytes:
    """The VRF input of a request's draw (domain-separated from the election's)."""
    return encode(("pedal-work", bytes(seed), int(term), request_id))


def prove_work(vrf_secret_key: bytes, seed: bytes, term: int, request_id: str) -> bytes:
    """The master's proof pi_w of the draw for ``request_id``."""
    return vrf_prove(vrf_secret_key, work_input(seed, term, request_id))


def work_nodes(beta: bytes, registered: Sequence[str], k: int) -> list[str]:
    """The ``k`` registered nodes ranked first by ``sha256(beta || id)``, in registry order."""
    ranked = sorted(registered, key=lambda n: (sha256(beta + n.encode()), n))
    chosen = set(ranked[:max(0, k)])
    return [n for n in sorted(registered) if n in chosen]


def verified_work_nodes(proof: bytes, vrf_public_key: bytes | None, seed: bytes, term: int, request_id: str,
                        registered: Sequence[str], k: int) -> list[str] | None:
    """The work nodes ``proof`` draws, or None when it does not verify under the master's VRF key."""
    if vrf_public_key is None or not proof:
        return None
    beta = vrf_verify(vrf_public_key, proof, work_input(seed, term, request_id))
    return None if beta is None else work_nodes(beta, registered, k)


def work_threshold(k: int) -> int:
    """Observations a result needs from ``k`` work nodes: ceil(2k/3)."""
    return -(-2 * k // 3)
