"""A chain-only network from a scenario: every node of its topology, no federated learning.

For the applications that use the chain itself -- EdgeToll's market above all, whose
consortium (``topology.validators = ["proxy", "company"]``) seals blocks while its ENs and
devices observe -- the simulator needs the same nodes, keys, genesis, consensus cores and
heartbeat a scenario run has, without the data sets and the ML stack (this module imports
no torch). Keys derive from the scenario seed exactly as in :func:`build_network`, so both
give the same genesis. Each node's :class:`Signer` is kept so that the services added later
and a driver share one nonce sequence per identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.errors import ConfigError
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.store import ChainStore
from edgeledger.market.admission import admitted_identities
from edgeledger.market.membership import validator_schedule
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.endorsing import EndorserService
from edgeledger.node.heartbeat import Signer
from edgeledger.node.light import LightClient
from edgeledger.node.node import Node, ValidatorSchedule
from edgeledger.registry import import_plugins
from edgeledger.scenario.schema import LinkConfig, Scenario
from edgeledger.scenario.topology import (
    Topology, add_heartbeat, build_consensus, finality_of, is_light_client, make_genesis, observers_of, plan_topology,
    runs_consensus,
)

__all__ = ["ChainNetwork", "build_chain_network", "chain_node", "node_membership", "schedule_hook", "link_between",
           "MAX_CHAIN_ONLY_NODES"]

#: a chain-only network builds every node up front; large device populations belong to build_network
MAX_CHAIN_ONLY_NODES = 5_000


def node_membership(scenario: Scenario, base: Membership) -> Membership:
    """A PBFT node's own Membership: its validator schedule follows its own chain, and committed
    consortium votes (``membership.*``) activate one PBFT window + 1 blocks after they pass.
    Other protocols share ``base``. The identity table is shared either way."""
    if scenario.consensus.protocol != "pbft":
        return base
    return base.fork(change_delay=scenario.consensus.window + 1)


def schedule_hook(scenario: Scenario) -> ValidatorSchedule | None:
    """PBFT nodes read validator changes from the consortium's membership state (market policy)."""
    return validator_schedule if scenario.consensus.protocol == "pbft" else None


def chain_node(plan: Topology, node_id: str, key: PrivateKey, own: Membership, followers: tuple[str, ...],
               consensus: object = None, store: ChainStore | None = None, center: str | None = "center") -> Node:
    """A node of ``plan`` with its keys, membership and place in the chain's dissemination."""
    scenario, role = plan.scenario, plan.roles[node_id]
    return Node(node_id=node_id, role=role, key=key, membership=own, store=store or ChainStore(":memory:"),
                consensus=consensus, center=center, address=f"sim://{node_id}",  # type: ignore[arg-type]
                finality=finality_of(scenario, own), validator_schedule=schedule_hook(scenario),
                identity_hook=admitted_identities,
                observers=followers if consensus else (), followers=followers,
                gossip_fanout=scenario.network.gossip_fanout,
                validator=None if consensus else (plan.edge_of.get(node_id) if role == "device"
                                                  else plan.validators[0]),
                light=LightClient(node_id, own, finality_of(scenario, own)) if is_light_client(plan, node_id) else None)


def link_between(scenario: Scenario, role_a: str, role_b: str) -> Link:
    """The modelled link between two roles: the center's, device-edge, edge-edge, or the WAN (the rest)."""
    net, pair = scenario.network, {role_a, role_b}
    cfg: LinkConfig
    if "center" in pair:
        cfg = net.center
    elif pair == {"device", "edge"}:
        cfg = net.device_edge
    elif pair == {"edge"}:
        cfg = net.edge_edge
    else:
        cfg = net.edge_cloud
    return Link(latency_s=cfg.latency_ms / 1000, bandwidth_bps=cfg.bandwidth_mbps * 1e6, loss=cfg.loss)


@dataclass
class ChainNetwork:
    """The scenario's nodes (the center aside: nodes here know their peers from the plan)."""

    scenario: Scenario
    plan: Topology
    membership: Membership
    nodes: dict[str, Node]
    signers: dict[str, Signer] = field(default_factory=dict)

    def simulator(self) -> Simulator:
        """A simulator over the scenario's links hosting every node, started in node id order."""
        roles = self.plan.roles
        sim = Simulator(self.scenario.seed, lambda a, b: link_between(self.scenario, roles[a], roles[b]))
        for node in self.nodes.values():
            sim.add_host(node)
        for node_id in sorted(self.nodes):
            sim.start(node_id, self.nodes[node_id].start(0.0))
        return sim


def build_chain_network(scenario: Scenario) -> ChainNetwork:
    """Every node of ``scenario`` but the center, with its consensus core (validators and standby
    sealers), endorsing peer (nodes that keep state) and heartbeat (``consensus.heartbeat_s``)."""
    import_plugins(scenario.plugins)
    plan = plan_topology(scenario)
    if len(plan.roles) > MAX_CHAIN_ONLY_NODES:
        raise ConfigError(f"a chain-only network builds every node up front: {len(plan.roles)} nodes exceed "
                          f"{MAX_CHAIN_ONLY_NODES}; use fewer devices (topology.devices_per_edge)")
    scheme = scenario.topology.signature_scheme
    keys = {n: derive_key(scheme, f"{scenario.seed}/{n}".encode()) for n in plan.roles}
    genesis = make_genesis(plan, {n: (k.scheme, k.public_key) for n, k in keys.items()})
    membership = Membership(genesis)
    followers = observers_of(plan)
    net = ChainNetwork(scenario, plan, membership, {})
    for node_id in plan.roles:
        if node_id == "center":
            continue
        own = node_membership(scenario, membership)
        consensus = (build_consensus(scenario, node_id, keys[node_id], own, standby=node_id in plan.standby)
                     if runs_consensus(plan, node_id) else None)
        node = net.nodes[node_id] = chain_node(plan, node_id, keys[node_id], own, followers, consensus, center=None)
        net.signers[node_id] = Signer(keys[node_id], node_id)
        if node.light is None and (consensus is not None or node_id in followers):
            node.add_service(EndorserService(node_id, keys[node_id], node.state))
        add_heartbeat(scenario, node, net.signers[node_id])
    return net
