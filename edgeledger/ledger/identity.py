"""Who may do what on a permissioned chain: identities, roles and the validator set.

The founding identities are in the genesis record of each chain (the consortium's founding
configuration); more join later through a committed membership transaction, after which
each node :meth:`Membership.admit` s them (open membership: the application's policy decides
who may sponsor whom). Every signature in a transaction, a consensus message or a commit
certificate is checked against the key registered here, never against a key a message
carries about itself; an identity, once registered, keeps its key. The validator set starts as the genesis one and may change at block
boundaries: a *validator schedule* of ``(effective_height, validators)`` entries, learned
from committed state by the node (the application decides the policy), says which set is in
force at each height. A change committed in block ``h`` must take effect no earlier than
``h + change_delay`` (``change_delay`` > the PBFT window), so that no replica has already
voted on a height whose set it did not know yet.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from edgeledger.codec import Record
from edgeledger.crypto.keys import verify_signature
from edgeledger.errors import ConfigError

__all__ = ["Identity", "Genesis", "Membership", "VerifiedTransactions", "genesis_hash", "quorum_size",
           "DEFAULT_CHANGE_DELAY"]

#: blocks between the block that commits a validator change and the first block the new set
#: votes on: 1 + the default PBFT window (64), see :class:`Membership`
DEFAULT_CHANGE_DELAY = 65


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


class VerifiedTransactions:
    """Ids of the transactions whose signature one node has checked, most recent ``capacity``.

    A transaction id is the hash of the whole signed transaction (signature included) and an
    identity never changes its key, so a transaction verified once stays verified: a node checks
    each signature once, whether it arrives from a client, a peer's relay or inside a proposal
    (issue 22). A committed block's ids are dropped (the node forgets them at commit), so the set holds
    what is still on its way to a block; bounded: past ``capacity`` the oldest ids are forgotten (and verified
    again if they come back)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, tx_id: bytes) -> None:
        self._ids[tx_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def forget(self, tx_ids: Iterable[bytes]) -> None:
        """Drop ``tx_ids`` (committed: the chain refuses them again as duplicates, so their check is
        no longer worth keeping); the set then holds the transactions still on their way to a block."""
        for tx_id in tx_ids:
            self._ids.pop(tx_id, None)


class Membership:
    """Fast look-ups over a :class:`Genesis` (key by node id, validator quorum sizes) and the
    validator schedule (which set votes on which height).

    ``validators``, ``n``, ``f``, ``quorum`` and ``is_validator`` describe the genesis set; the
    ``*_at(height)`` forms describe the set in force at ``height``. ``change_delay`` is the
    activation rule the application must follow (a change committed in block h is effective
    at h + change_delay or later); PBFT refuses a window that is not below it.
    """

    def __init__(self, genesis: Genesis, change_delay: int = DEFAULT_CHANGE_DELAY) -> None:
        if change_delay < 1:
            raise ConfigError(f"validator change_delay must be >= 1 block, got {change_delay}")
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.identities = {i.node_id: i for i in genesis.identities}
        self.founders = dict(self.identities)  # the genesis identities only (admissions do not change it)
        self.validators = list(genesis.validators)
        self._validator_set = frozenset(self.validators)
        self.change_delay = change_delay
        self._heights: list[int] = [1]  # effective heights, ascending
        self._sets: list[tuple[tuple[str, ...], frozenset[str]]] = [(tuple(self.validators), self._validator_set)]
        self._genesis_hash: bytes | None = None
        self.verified = VerifiedTransactions()  # this node's checked transaction signatures

    def fork(self, change_delay: int | None = None) -> Membership:
        """A Membership of the same genesis with its own validator schedule (at genesis), sharing
        the read-only identity table: every node of a large simulation needs its own schedule, but
        one copy of 100,000 identities serves them all."""
        twin = Membership.__new__(Membership)
        twin.__dict__.update(self.__dict__)
        twin.change_delay = self.change_delay if change_delay is None else int(change_delay)
        if twin.change_delay < 1:
            raise ConfigError(f"validator change_delay must be >= 1 block, got {change_delay}")
        twin.validators = list(self.genesis.validators)
        twin._validator_set = frozenset(twin.validators)
        twin._heights, twin._sets = [1], [(tuple(twin.validators), twin._validator_set)]
        twin.verified = VerifiedTransactions()  # per node: another node's checks are not ours
        return twin

    @property
    def genesis_hash(self) -> bytes:
        """:func:`genesis_hash` of this chain, computed once (the genesis lists every identity)."""
        if self._genesis_hash is None:
            self._genesis_hash = genesis_hash(self.genesis)
        return self._genesis_hash

    @property
    def n(self) -> int:
        return len(self.validators)

    @property
    def f(self) -> int:
        """Faults tolerated: the largest f with n >= 3f + 1 (Castro & Liskov 1999, section 4)."""
        return (self.n - 1) // 3

    @property
    def quorum(self) -> int:
        """Matching votes that make a certificate: see :func:`quorum_size`."""
        return quorum_size(self.n)

    def is_validator(self, node_id: str) -> bool:
        """In the genesis validator set (see :meth:`is_validator_at` for a given height)."""
        return node_id in self._validator_set

    # -- the validator schedule ----------------------------------------------------------------
    @property
    def schedule(self) -> list[tuple[int, tuple[str, ...]]]:
        """``(effective_height, validators)`` entries, the genesis set at height 1 first."""
        return [(h, vs) for h, (vs, _) in zip(self._heights, self._sets)]

    def set_schedule(self, changes: Iterable[tuple[int, Sequence[str]]]) -> bool:
        """Replace the changes after genesis by ``changes`` (from committed state); True when
        the schedule changed. Several changes for one height: the last one wins."""
        by_height: dict[int, tuple[str, ...]] = {}
        for height, validators in changes:
            vs = tuple(validators)
            if height < 2:
                raise ConfigError(f"validator change effective at height {height}; expected >= 2 (genesis is 1)")
            if not vs or len(set(vs)) != len(vs):
                raise ConfigError(f"validator change at height {height}: {list(vs)} must be non-empty and distinct")
            unknown = [v for v in vs if v not in self.identities]
            if unknown:
                raise ConfigError(f"validator change at height {height}: {unknown} have no registered identity")
            by_height[height] = vs
        new = [(1, tuple(self.validators))] + sorted(by_height.items())
        if new == self.schedule:
            return False
        self._heights = [h for h, _ in new]
        self._sets = [(vs, frozenset(vs)) for _, vs in new]
        return True

    def _entry(self, height: int) -> tuple[tuple[str, ...], frozenset[str]]:
        if len(self._sets) == 1:  # no validator change scheduled: the genesis set at every height
            return self._sets[0]
        return self._sets[max(0, bisect_right(self._heights, height) - 1)]

    def validators_at(self, height: int) -> tuple[str, ...]:
        """The validators that vote on block ``height``, in the schedule's order."""
        return self._entry(height)[0]

    def n_at(self, height: int) -> int:
        return len(self._entry(height)[0])

    def f_at(self, height: int) -> int:
        return (self.n_at(height) - 1) // 3

    def quorum_at(self, height: int) -> int:
        return quorum_size(self.n_at(height))

    def is_validator_at(self, node_id: str, height: int) -> bool:
        return node_id in self._entry(height)[1]

    def validators_between(self, low: int, high: int) -> tuple[str, ...]:
        """Every validator in force at some height in ``[low, high]`` (first appearance order)."""
        if len(self._sets) == 1:
            return self._sets[0][0]
        i = max(0, bisect_right(self._heights, low) - 1)
        j = bisect_right(self._heights, high)
        out: dict[str, None] = {}
        for vs, _ in self._sets[i:max(j, i + 1)]:
            out.update(dict.fromkeys(vs))
        return tuple(out)

    def ever_validator(self, node_id: str) -> bool:
        """In the validator set at some height of the known schedule."""
        return any(node_id in members for _, members in self._sets)

    def admit(self, identity: Identity) -> bool:
        """Register an identity a committed membership transaction admitted; True when it is new.
        An id never changes its key: a second admission of a known id with another key is refused."""
        known = self.identities.get(identity.node_id)
        if known is not None:
            if (known.scheme, known.public_key) != (identity.scheme, identity.public_key):
                raise ConfigError(f"identity {identity.node_id!r} is already registered with another key")
            return False
        self.identities[identity.node_id] = identity
        return True

    def role(self, node_id: str) -> str | None:
        ident = self.identities.get(node_id)
        return ident.role if ident else None

    def verify(self, node_id: str, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is ``node_id``'s signature over ``message``."""
        ident = self.identities.get(node_id)
        if ident is None:
            return False
        return verify_signature(ident.scheme, ident.public_key, message, signature)


def quorum_size(n: int) -> int:
    """The smallest q with two q-quorums sharing f + 1 replicas (one honest): ``ceil((n + f + 1) / 2)``
    with ``f = (n - 1) // 3``. It is 2f + 1 when n = 3f + 1 (Castro & Liskov); for other n, 2f + 1 is
    too few (n = 5: two quorums of 3 share one replica, which may be the faulty one), while n - f
    replicas are always correct, so a quorum still forms."""
    f = (n - 1) // 3
    return (n + f + 2) // 2


def genesis_hash(genesis: Genesis) -> bytes:
    """The hash block 1 links to as its ``prev_hash``."""
    from edgeledger.codec import encode
    from edgeledger.crypto.hashing import sha256

    return sha256(b"edgeledger-genesis", encode(genesis))
