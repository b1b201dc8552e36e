"""Who may do what on a permissioned chain: identities, roles and the validator set.

The membership is fixed in the genesis record of each chain (the consortium's founding
configuration); every signature in a transaction, a consensus message or a commit
certificate is checked against the key registered here, never against a key a message
carries about itself.
"""

from __future__ import annotations

from edgeledger.codec import Record
from edgeledger.crypto.keys import verify_signature

__all__ = ["Identity", "Genesis", "Membership", "genesis_hash"]


class Identity(Record):
    """A registered participant: ``node_id``, its role and its public key."""

    node_id: str
    role: str  # cloud | edge | device | center | proxy | company ...
    scheme: str
    public_key: bytes


class Genesis(Record):
    """The founding record of a chain: its id, members and the validators (sealers)."""

    chain_id: str
    identities: list[Identity]
    validators: list[str]
    timestamp_ms: int = 0


class Membership:
    """Fast look-ups over a :class:`Genesis` (key by node id, validator quorum sizes)."""

    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.identities = {i.node_id: i for i in genesis.identities}
        self.validators = list(genesis.validators)
        self._validator_set = frozenset(self.validators)

    @property
    def n(self) -> int:
        return len(self.validators)

    @property
    def f(self) -> int:
        """Faults tolerated: the largest f with n >= 3f + 1 (Castro & Liskov 1999, section 4)."""
        return (self.n - 1) // 3

    @property
    def quorum(self) -> int:
        """2f + 1 matching votes make a certificate."""
        return 2 * self.f + 1

    def is_validator(self, node_id: str) -> bool:
        return node_id in self._validator_set

    def role(self, node_id: str) -> str | None:
        ident = self.identities.get(node_id)
        return ident.role if ident else None

    def verify(self, node_id: str, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is ``node_id``'s signature over ``message``."""
        ident = self.identities.get(node_id)
        if ident is None:
            return False
        return verify_signature(ident.scheme, ident.public_key, message, signature)


def genesis_hash(genesis: Genesis) -> bytes:
    """The hash block 1 links to as its ``prev_hash``."""
    from edgeledger.codec import encode
    from edgeledger.crypto.hashing import sha256

    return sha256(b"edgeledger-genesis", encode(genesis))
