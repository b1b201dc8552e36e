"""How a chain's gateway comes to trust the relay group's key: a certificate of the federal chain.

SewingChain's relay group signs every step of a cross-chain message with one threshold key,
and each chain's gateway must know that key. Nobody may deal it: the relay members generate
it on the federal chain (FBC) with the oracle groups' distributed key generation
(:mod:`edgeledger.oracle.dkg`, run through the FBC's ``proxy``). A local chain cannot read the
FBC's state, so the FBC's validators certify the outcome: each signs, with its identity key,
the *relay-key statement* (FBC id, FBC genesis hash, group id, members, commitments,
threshold) of the group its own executed state registered, and posts the signature to the
FBC's gateway (``attest_relay_key``). A quorum of such signatures (``quorum_size`` of the
FBC's genesis validators: two quorums share an honest validator, as a PBFT commit
certificate or Castro & Liskov's stable checkpoint, section 4.3) is the certificate. Any
relay hands it to every gateway (``install_relay_key``); each gateway was deployed knowing
the FBC's genesis hash and genesis validators' keys, checks the certificate against them and
only then installs ``C_0``. Until then it refuses every group-signed step, and a key with a
missing, short or forged certificate is refused with the reason.

The trusted dealer remains a test device: a gateway deployed with ``dealt_key`` (the
simulator's :func:`~edgeledger.oracle.multichain.build_federation`, ``key_generation =
"dealer"`` in a deployment plan) trusts that key at once.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import verify_signature
from edgeledger.ledger.identity import quorum_size

__all__ = ["relay_key_statement", "certificate_signers", "RelayKeyClaim", "SIGNATURE_STEPS"]

SIGNATURE_STEPS = 50  # contract steps charged per certificate signature checked


def relay_key_statement(fbc: str, fbc_genesis: bytes, group_id: str, members: list[str], commitments: list[bytes],
                        threshold: int, indices: list[int]) -> bytes:
    """The bytes an FBC validator signs to certify the relay group the FBC registered."""
    return sha256(encode(("xchain-relay-key", fbc, fbc_genesis, group_id, list(members), list(commitments),
                          threshold, list(indices))))


class RelayKeyClaim:
    """A relay group as an ``install_relay_key`` call states it, checked for shape (field, value, expectation)."""

    def __init__(self, group_id: Any, members: Any, commitments: Any, threshold: Any, indices: Any) -> None:
        self.group_id, self.members, self.commitments = group_id, members, commitments
        self.threshold, self.indices = threshold, indices

    def shape_error(self) -> str | None:
        """Why the claim is malformed, or None."""
        if not isinstance(self.members, list) or not self.members or \
                not all(isinstance(m, str) for m in self.members):
            return f"members must be a non-empty list of node ids, got {self.members!r:.80}"
        if not isinstance(self.threshold, int) or isinstance(self.threshold, bool) or \
                not 0 < self.threshold <= len(self.members):
            return f"threshold must be an int in 1..{len(self.members)}, got {self.threshold!r:.40}"
        if not isinstance(self.commitments, list) or len(self.commitments) != self.threshold or \
                not all(isinstance(c, bytes) and c for c in self.commitments):
            return f"commitments must be {self.threshold} non-empty byte strings, got {self.commitments!r:.80}"
        if not isinstance(self.indices, list) or len(self.indices) not in (0, len(self.members)) or \
                not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in self.indices):
            return f"indices must be empty or one positive int per member, got {self.indices!r:.80}"
        return None


def certificate_signers(statement: bytes, signatures: Any, validators: dict[str, list[Any]]) -> tuple[list[str], int]:
    """The FBC genesis validators whose signature in ``signatures`` (validator -> signature) verifies
    over ``statement`` under the key ``validators`` (validator -> [scheme, public key]) gives, and the
    quorum a certificate needs. Entries of anyone else, or that do not verify, count for nothing."""
    needed = quorum_size(len(validators))
    if not isinstance(signatures, dict):
        return [], needed
    good = []
    for v, sig in sorted(signatures.items(), key=lambda kv: str(kv[0])):
        entry = validators.get(v) if isinstance(v, str) else None
        if entry is None or not isinstance(sig, bytes):
            continue
        scheme, public_key = entry
        if verify_signature(scheme, public_key, statement, sig):
            good.append(v)
    return good, needed
