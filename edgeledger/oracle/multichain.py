"""A federation in one simulation: one federal chain (FBC) and several local chains (LBCs).

Each chain has its own genesis, membership and PBFT validators (ids carry the chain id) and
its own Pedal data oracle. Relay nodes are the *federal-interacting* nodes: a
:class:`RelayHost` is one simulator host holding one follower :class:`Node` per chain (each
checks that chain's commit certificates) and one :class:`RelayCore`, so it can file on the
FBC, anchor roots on a source LBC and carry requests to a destination LBC (Fig. 3).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.effects import Effect
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import ContractDeploy, logs_at
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.store import ChainStore
from edgeledger.net.sim import Simulator
from edgeledger.node.node import CommittedBlock, Node, wire_decoder
from edgeledger.node.service import Service
from edgeledger.oracle.crosschain import GATEWAY, GATEWAY_CODE
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.relay import ChainSubmit, RelayCore, RelayShare
from edgeledger.oracle.simnet import OracleChain, build_oracle_chain
from edgeledger.oracle.sources import Source

__all__ = ["RelayHost", "Federation", "build_federation"]


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

    def _out(self, effects: list[Effect]) -> list[Effect]:
        out: list[Effect] = []
        for e in effects:
            if isinstance(e, ChainSubmit):
                out += self.nodes[e.chain_id].submit(e.tx, 0.0)
            else:
                out.append(e)
        return out


@dataclass
class Federation:
    sim: Simulator
    fbc: OracleChain
    lbcs: dict[str, OracleChain]
    relays: dict[str, RelayHost]

    @property
    def chains(self) -> dict[str, OracleChain]:
        return {self.fbc.chain_id: self.fbc, **self.lbcs}


def build_federation(sim: Simulator, lbc_ids: list[str], *, oracles_per_group: int = 3, n_groups: int = 3,
                     n_relays: int = 4, sources: Source, seed: bytes = b"pedal-federation-seed") -> Federation:
    """FBC ``fbc`` plus LBCs, each with 4 validators and a data oracle; a relay group on all."""
    relay_ids = [f"relay{i}" for i in range(n_relays)]
    relay_keys: dict[str, PrivateKey] = {r: derive_key("ed25519", seed + r.encode()) for r in relay_ids}
    (relay_group,), relay_shares = deal_groups({"relay": relay_ids}, random.Random(int.from_bytes(seed[:8], "big")))
    chains: dict[str, OracleChain] = {}
    for chain_id in ["fbc"] + list(lbc_ids):
        groups = {f"g{g}": [f"{chain_id}.o{g * oracles_per_group + i}" for i in range(oracles_per_group)]
                  for g in range(n_groups)}
        chain_sources = {o: sources for members in groups.values() for o in members}
        chains[chain_id] = build_oracle_chain(sim, chain_id, groups, sources=chain_sources,
                                              seed=seed + chain_id.encode(),
                                              guests=relay_keys)
        operator = chains[chain_id].validators[0]
        chains[chain_id].submit(operator, chains[chain_id].tx(operator, "contract.deploy", ContractDeploy(
            name=GATEWAY, code=GATEWAY_CODE, version=1, args=["fbc", relay_group.commitments[0]])), at=0.6)
    relays: dict[str, RelayHost] = {}
    for r in relay_ids:
        core = RelayCore(r, relay_keys[r], "fbc", relay_group, relay_shares[r]["relay"])
        nodes = {c: Node(node_id=r, role="oracle", key=relay_keys[r], membership=chain.membership,
                         store=ChainStore(":memory:"), validator=chain.validators[0], center=None)
                 for c, chain in chains.items()}
        relays[r] = RelayHost(r, core, nodes)
        sim.add_host(relays[r])
    return Federation(sim, chains["fbc"], {c: chains[c] for c in lbc_ids}, relays)
