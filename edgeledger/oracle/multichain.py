"""A federation in one simulation: one federal chain (FBC) and several local chains (LBCs).

Each chain has its own genesis, membership and PBFT validators (ids carry the chain id) and
its own Pedal data oracle. SewingChain's three node kinds (:data:`NODE_KINDS`):

* ``local`` -- a member of one chain only (its validators, oracle nodes and requester): an
  identity in that chain's genesis and nowhere else. With ``isolate_local`` the simulator
  cuts every link between local nodes of different chains, so a local node reaches another
  chain only through the relay path (its gateway, the FBC and the relay group);
* ``observation`` -- an :class:`ObservationHost` (an auditor): follows the chains it is
  given, verifying every block's commit certificate, but holds no identity on them, so its
  transactions and votes count for nothing;
* ``federal-interacting`` -- a :class:`RelayHost`: an identity on every chain, one follower
  :class:`Node` per chain and one :class:`RelayCore`, so it can file on the FBC, anchor roots
  on a source LBC and carry requests to a destination LBC (Fig. 3).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.crypto.threshold import Share
from edgeledger.effects import Effect, Rejected
from edgeledger.errors import ConfigError
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import ContractDeploy, logs_at
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.store import ChainStore
from edgeledger.net.sim import Simulator
from edgeledger.node.node import CommittedBlock, Node, wire_decoder
from edgeledger.node.service import Service
from edgeledger.oracle.crosschain import GATEWAY, GATEWAY_CODE
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.records import OracleGroup
from edgeledger.oracle.relay import ChainSubmit, RelayCore, RelayShare
from edgeledger.oracle.simnet import OracleChain, build_oracle_chain
from edgeledger.oracle.sources import Source

__all__ = ["NODE_KINDS", "Federation", "ObservationHost", "RelayHost", "build_federation"]

NODE_KINDS = ("local", "observation", "federal-interacting")


class _ChainEvents(Service):
    """Feeds one chain's gateway events to the relay core."""

    def __init__(self, chain_id: str, core: RelayCore, node: Node) -> None:
        self.chain_id, self.core, self.node = chain_id, core, node

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        events = [(ev.name, ev.attributes) for log in logs_at(self.node.state.kv, block.height) for ev in log.events
                  if ev.contract == GATEWAY]
        return self.core.on_block_events(self.chain_id, block.height, events, now) if events else []


class RelayHost:
    """A federal-interacting node: a follower of every chain plus the relay core."""

    def __init__(self, node_id: str, core: RelayCore, nodes: Mapping[str, Node]) -> None:
        self.node_id, self.core, self.nodes = node_id, core, dict(nodes)
        for chain_id, node in self.nodes.items():
            node.add_service(_ChainEvents(chain_id, core, node))
        self._decode = wire_decoder((CommittedBlock, RelayShare))

    def decode_message(self, data: bytes) -> Any:
        return self._decode(data)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, CommittedBlock):
            node = self.nodes.get(message.block.header.chain_id)
            return self._out(node.on_message(sender, message, now)) if node else []
        return self._out(self.core.on_share(sender, message, now))

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return []

    def install(self, group: OracleGroup, share: Share, now: float) -> list[Effect]:
        """Key the relay core (its group made by the key generation); what it held back goes out."""
        return self._out(self.core.install(group, share, now))

    def _out(self, effects: list[Effect]) -> list[Effect]:
        out: list[Effect] = []
        for e in effects:
            if isinstance(e, ChainSubmit):
                out += self.nodes[e.chain_id].submit(e.tx, 0.0)
            else:
                out.append(e)
        return out


class ObservationHost:
    """An observation node: a follower of each chain it watches, never a voter or a sender.

    Each follower :class:`Node` verifies a block's commit certificate against its chain's
    genesis before keeping it. The host has a key (it may sign what it likes) but no
    identity in any genesis, so what it submits (:meth:`submit`) or votes is rejected.
    """

    def __init__(self, node_id: str, key: PrivateKey, nodes: Mapping[str, Node]) -> None:
        self.node_id, self.key, self.nodes = node_id, key, dict(nodes)
        self._decode = wire_decoder((CommittedBlock,))

    def decode_message(self, data: bytes) -> Any:
        return self._decode(data)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        node = self.nodes.get(message.block.header.chain_id)
        if node is None:
            return [Rejected(sender, "chain.block", f"{self.node_id} does not observe {message.block.header.chain_id}")]
        return node.on_message(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return []

    def submit(self, chain_id: str, tx: Any, now: float) -> list[Effect]:
        """Send ``tx`` to ``chain_id``'s validator (it will not count: see the class doc)."""
        return self.nodes[chain_id].submit(tx, now)

    def head_hash(self, chain_id: str) -> bytes | None:
        head = self.nodes[chain_id].store.head()
        return head.hash if head else None


@dataclass
class Federation:
    sim: Simulator
    fbc: OracleChain
    lbcs: dict[str, OracleChain]
    relays: dict[str, RelayHost]
    observers: dict[str, ObservationHost] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # node id -> one of NODE_KINDS
    home: dict[str, str] = field(default_factory=dict)  # local node id -> its chain

    @property
    def chains(self) -> dict[str, OracleChain]:
        return {self.fbc.chain_id: self.fbc, **self.lbcs}

    def kind_of(self, node_id: str) -> str:
        return self.kinds[node_id]

    def nodes_of_kind(self, kind: str) -> list[str]:
        return sorted(n for n, k in self.kinds.items() if k == kind)


def build_federation(sim: Simulator, lbc_ids: list[str], *, oracles_per_group: int = 3, n_groups: int = 3,
                     n_relays: int = 4, sources: Source, seed: bytes = b"pedal-federation-seed",
                     validators_per_chain: int = 4, observers: Mapping[str, Sequence[str]] | None = None,
                     isolate_local: bool = True) -> Federation:
    """FBC ``fbc`` plus LBCs, each with its own validators and data oracle (local nodes), a
    relay group on all chains (``n_relays`` federal-interacting nodes) and ``observers``
    (observation node id -> the chains it follows)."""
    observers = {o: list(chains) for o, chains in (observers or {}).items()}
    known = {"fbc", *lbc_ids}
    for o, followed in observers.items():
        if set(followed) - known or not followed:
            raise ConfigError(f"observation node {o!r} follows {followed}; expected chains among {sorted(known)}")
    relay_ids = [f"relay{i}" for i in range(n_relays)]
    # the simulator deals the relay key (the trusted dealer, a test device); a deployment generates it
    # on the FBC and installs it from the FBC's certificate (edgeledger.oracle.relay_keys)
    relay_keys: dict[str, PrivateKey] = {r: derive_key("ed25519", seed + r.encode()) for r in relay_ids}
    (relay_group,), relay_shares = deal_groups({"relay": relay_ids}, random.Random(int.from_bytes(seed[:8], "big")))
    chains: dict[str, OracleChain] = {}
    for chain_id in ["fbc"] + list(lbc_ids):
        groups = {f"g{g}": [f"{chain_id}.o{g * oracles_per_group + i}" for i in range(oracles_per_group)]
                  for g in range(n_groups)}
        chain_sources = {o: sources for members in groups.values() for o in members}
        watching = [o for o, followed in sorted(observers.items()) if chain_id in followed]
        chains[chain_id] = build_oracle_chain(sim, chain_id, groups, sources=chain_sources,
                                              seed=seed + chain_id.encode(), n_validators=validators_per_chain,
                                              guests=relay_keys, observation_nodes=watching)
        operator = chains[chain_id].validators[0]
        chains[chain_id].submit(operator, chains[chain_id].tx(operator, "contract.deploy", ContractDeploy(
            name=GATEWAY, code=GATEWAY_CODE, version=1, args=["fbc", relay_group.commitments[0]])), at=0.6)
    relays: dict[str, RelayHost] = {}
    for r in relay_ids:
        core = RelayCore(r, relay_keys[r], "fbc", relay_group, relay_shares[r]["relay"])
        nodes = {c: _follower(r, "oracle", relay_keys[r], chain) for c, chain in chains.items()}
        relays[r] = RelayHost(r, core, nodes)
        sim.add_host(relays[r])
    watchers: dict[str, ObservationHost] = {}
    for o, followed in sorted(observers.items()):
        key = derive_key("ed25519", seed + o.encode())
        watchers[o] = ObservationHost(o, key, {c: _follower(o, "observer", key, chains[c]) for c in followed})
        sim.add_host(watchers[o])
    home = {n: c for c, chain in chains.items() for n in chain.nodes}
    kinds = {**{n: "local" for n in home}, **{o: "observation" for o in watchers},
             **{r: "federal-interacting" for r in relays}}
    if isolate_local:
        _isolate(sim, home, {o: set(f) for o, f in observers.items()})
    return Federation(sim, chains["fbc"], {c: chains[c] for c in lbc_ids}, relays, watchers, kinds, home)


def _follower(node_id: str, role: str, key: PrivateKey, chain: OracleChain) -> Node:
    return Node(node_id=node_id, role=role, key=key, membership=chain.membership, store=ChainStore(":memory:"),
                validator=chain.validators[0], center=None)


def _isolate(sim: Simulator, home: Mapping[str, str], observed: Mapping[str, set[str]]) -> None:
    """Cut local nodes off other chains' local nodes, and observers off chains they do not follow."""
    by_chain: dict[str, list[str]] = {}
    for n, c in sorted(home.items()):
        by_chain.setdefault(c, []).append(n)
    chain_ids = sorted(by_chain)
    for i, a in enumerate(chain_ids):
        for b in chain_ids[i + 1:]:
            for x in by_chain[a]:
                for y in by_chain[b]:
                    sim.cut(x, y)
    for o, followed in sorted(observed.items()):
        for c in chain_ids:
            if c not in followed:
                for n in by_chain[c]:
                    sim.cut(o, n)
