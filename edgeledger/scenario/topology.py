"""What every node derives identically from a scenario: node ids, roles, wiring, validators,
attackers and the genesis. Torch-free, so a chain-only process never loads the ML stack.

Node ids: ``center``, ``cloud``, ``edge-0``..``edge-{E-1}``, ``device-0``.. with device i
attached to edge ``i // devices_per_edge``, then EdgeToll's sealer nodes when
``topology.validators`` names them (``proxy``, role proxy; ``company-0``..``company-{K-1}``,
role company, K = ``topology.companies``: the consortium whose members supervise each other
by PBFT, the edges being its ENs), then the standby sealers ``company-K``..
(``consortium.standby_sealers``: role ``company``, PBFT replicas in standby until a membership
vote adds them). The genesis also holds the ``[consortium]`` accounts (EdgeToll roles
proxy/company/en/device), after the nodes, sorted by name.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from edgeledger.consensus.base import Consensus, consensus_protocols
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.consensus.pow import PowConfig, PowMiner, WorkFinality
from edgeledger.crypto.hashing import derive_seed
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.errors import ConfigError
from edgeledger.ledger.identity import Genesis, Identity, Membership
from edgeledger.ledger.validation import CERTIFICATE_FINALITY, Finality
from edgeledger.node.heartbeat import HeartbeatService, Signer
from edgeledger.node.ids import GroupedIds, NumberedIds, RoleMap
from edgeledger.node.node import Node
from edgeledger.registry import bind_params
from edgeledger.scenario.schema import Scenario

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Topology", "plan_topology", "make_genesis", "consortium_keys", "account_public_keys", "edge_node_owners",
           "observers_of", "devices_of", "pbft_config", "pow_config", "build_consensus", "runs_consensus", "finality_of",
           "admission_sponsors", "sealing_companies", "add_heartbeat",
           "is_light_client", "WIRE_ATTACKS"]

WIRE_ATTACKS = ("upload_tamper", "download_tamper")


def _choose(ids: Sequence[str], fraction: float | None, explicit: list[str] | None, rng: np.random.Generator,
            what: str) -> list[str]:
    if explicit is not None:
        unknown = [i for i in explicit if i not in ids]
        if unknown:
            raise ConfigError(f"attacks.nodes: {unknown} are not {what}s of this topology "
                              f"(expected ids like {list(ids[:2])})")
        return sorted(set(explicit))
    count = int(round((fraction or 0.0) * len(ids)))
    # drawing positions takes exactly the draws of ``rng.choice(ids, ...)`` without turning the ids into an array
    return sorted(ids[k] for k in rng.choice(len(ids), size=count, replace=False).tolist()) if count else []


def _assign_attacks(scenario: Scenario, devices: Sequence[str], edges: list[str]) -> dict[str, str]:
    malicious: dict[str, str] = {}
    if scenario.attacks:  # the attack registries live with the (torch-using) FL package; numpy only then
        import numpy

        from edgeledger.fl.attacks import attacks, data_attacks

        rng = numpy.random.default_rng(derive_seed(scenario.seed, "attackers"))
    for i, attack in enumerate(scenario.attacks):
        if attack.kind not in WIRE_ATTACKS and attack.kind not in attacks and attack.kind not in data_attacks:
            raise ConfigError(f"attacks.{i}.kind: {attack.kind!r} is unknown; expected one of "
                              f"{attacks.names() + data_attacks.names() + list(WIRE_ATTACKS)}")
        # wire attacks are compromised edges; model attacks are the trainers' (edges under fl.trainers = "edge");
        # data attacks poison a device's own data (which it uploads to its edge when edges train)
        on_edges = attack.kind in WIRE_ATTACKS or (scenario.fl.trainers == "edge" and attack.kind in attacks)
        pool = edges if on_edges else devices
        chosen = _choose(pool, attack.fraction, attack.nodes, rng, "edge" if on_edges else "device")
        for node in chosen:
            malicious[node] = attack.kind
    n_bad = sum(1 for n in malicious if n in devices)  # O(1) membership: devices is a NumberedIds
    if n_bad > len(devices):
        raise ConfigError(f"attacks: {n_bad} malicious devices but the topology has only {len(devices)}")
    return malicious


@dataclass
class Topology:
    """What every node derives identically from the scenario: ids, roles, wiring, attackers.

    ``roles``, ``devices`` and ``edge_of`` are lazy (:mod:`edgeledger.node.ids`): they cost the
    same for 12 devices as for a million, and behave like the dict / list / dict they replace."""

    scenario: Scenario
    roles: Mapping[str, str]
    edges: list[str]
    devices: Sequence[str]
    edge_of: Mapping[str, str]
    validators: list[str]
    malicious: dict[str, str]
    standby: list[str] = field(default_factory=list)  # standby sealer nodes: PBFT replicas, not yet validators

    @property
    def accounts(self) -> dict[str, str]:
        """Consortium accounts (not node processes): name -> EdgeToll role, sorted by name."""
        return dict(sorted(self.scenario.consortium.accounts.items()))


def consortium_keys(scenario: Scenario) -> dict[str, PrivateKey]:
    """The test keys of the accounts without a ``public_keys`` entry, derived from seed and name.

    Anyone holding the scenario file can sign as these accounts: a test consortium's convenience
    (the bench client uses them), never a real consortium's keys.
    """
    scheme = scenario.topology.signature_scheme
    return {name: derive_key(scheme, f"{scenario.seed}/consortium/{name}".encode())
            for name in sorted(scenario.consortium.accounts) if name not in scenario.consortium.public_keys}


def account_public_keys(scenario: Scenario) -> dict[str, tuple[str, bytes]]:
    """Every account's (scheme, public key): the declared one, else the derived test key's."""
    scheme = scenario.topology.signature_scheme
    derived = consortium_keys(scenario)
    return {name: (scheme, bytes.fromhex(scenario.consortium.public_keys[name]) if name not in derived
                   else derived[name].public_key) for name in sorted(scenario.consortium.accounts)}


def edge_node_owners(scenario: Scenario) -> dict[str, str]:
    """Edge server -> owning company: ``consortium.edge_nodes``, or every edge server with the
    companies (the company accounts sorted, then the sealing company nodes) in turn; empty when
    the consortium has no company."""
    con = scenario.consortium
    if con.edge_nodes:
        return dict(sorted(con.edge_nodes.items(), key=lambda kv: int(kv[0].removeprefix("edge-"))))
    companies = sorted(n for n, r in con.accounts.items() if r == "company") + sealing_companies(scenario)
    if not companies:
        return {}
    return {f"edge-{e}": companies[e % len(companies)] for e in range(scenario.topology.edges)}


def sealing_companies(scenario: Scenario) -> list[str]:
    """The company nodes that seal blocks (``topology.companies`` with "company" in validators)."""
    return [f"company-{i}" for i in range(scenario.topology.companies)]


def plan_topology(scenario: Scenario) -> Topology:
    topo = scenario.topology
    edges = [f"edge-{e}" for e in range(topo.edges)]
    devices = NumberedIds("device-", 0, topo.n_devices)
    edge_of = GroupedIds(devices, edges, max(1, topo.devices_per_edge))
    sealers = (["proxy"] if "proxy" in topo.validators else []) + sealing_companies(scenario)
    standby = [f"company-{topo.companies + i}" for i in range(scenario.consortium.standby_sealers)]
    roles = RoleMap({"center": "center", "cloud": "cloud", **{e: "edge" for e in edges}}, devices, "device",
                    {**{s: "proxy" if s == "proxy" else "company" for s in sealers}, **{s: "company" for s in standby}})
    validating = edges[: topo.validating_edges or len(edges)]  # a cell's base station need not seal blocks
    validators = (["cloud"] if "cloud" in topo.validators else []) + (validating if "edge" in topo.validators else [])
    validators += sealers  # EdgeToll: the proxy and the companies supervise each other by PBFT
    return Topology(scenario, roles, edges, devices, edge_of, validators, _assign_attacks(scenario, devices, edges),
                    standby)


def make_genesis(plan: Topology, keys: dict[str, tuple[str, bytes]]) -> Genesis:
    """The chain's genesis from every node's (scheme, public key); identical on every node.

    The consortium accounts follow the nodes (sorted by name) with their keys from the scenario.
    """
    accounts = account_public_keys(plan.scenario)
    return Genesis(chain_id=f"{plan.scenario.name}-fl", validators=plan.validators,
                   identities=[Identity(node_id=n, role=r, scheme=keys[n][0], public_key=keys[n][1])
                               for n, r in plan.roles.items()]
                   + [Identity(node_id=n, role=r, scheme=accounts[n][0], public_key=accounts[n][1])
                      for n, r in plan.accounts.items()])


def observers_of(plan: Topology) -> tuple[str, ...]:
    """Nodes validators push committed blocks to: the aggregator when it does not validate, every
    node of an observer or light-client role (``topology.observers`` / ``topology.light_clients``)
    and the standby sealers (they follow the chain until a membership vote activates them)."""
    topo = plan.scenario.topology
    follow = set(topo.observers) | set(topo.light_clients)
    validators = set(plan.validators)
    standby = set(plan.standby)
    roles = plan.roles
    if "device" not in follow and isinstance(roles, RoleMap):  # skip the device block unread: O(E), not O(D)
        roles = {**roles.head, **roles.tail}  # same order: no device lies between them that could follow
    return tuple(n for n, role in roles.items()
                 if n not in validators and (n == "cloud" or role in follow or n in standby))


def devices_of(plan: Topology, edge: str) -> Sequence[str]:
    """The devices attached to ``edge``, in device order (a lazy slice of the device ids)."""
    if isinstance(plan.edge_of, GroupedIds):
        return plan.edge_of.members(edge)
    return [d for d in plan.devices if plan.edge_of[d] == edge]


def is_light_client(plan: Topology, node_id: str) -> bool:
    return plan.roles.get(node_id) in plan.scenario.topology.light_clients


def pbft_config(scenario: Scenario) -> PbftConfig:
    c = scenario.consensus
    return PbftConfig(max_block_txs=c.max_block_txs, max_block_bytes=c.max_block_bytes,
                      batch_timeout_s=c.batch_timeout_s, rotate_leader=c.rotate_leader,
                      view_change_timeout_s=c.view_change_timeout_s,
                      view_change_timeout_max_s=c.view_change_timeout_max_s,
                      checkpoint_interval=c.checkpoint_interval, window=c.window)




def pow_config(scenario: Scenario) -> PowConfig:
    c = scenario.consensus
    return PowConfig(mining=c.pow_mining, initial_zero_bits=c.pow_zero_bits, limit_zero_bits=c.pow_limit_zero_bits,
                     target_block_interval_s=c.pow_block_interval_s, retarget_interval=c.pow_retarget_interval,
                     confirmations=c.pow_confirmations, hash_rate=c.pow_hash_rate,
                     hashes_per_tick=c.pow_hashes_per_tick, tick_s=c.pow_tick_s, max_block_txs=c.max_block_txs)


def build_consensus(scenario: Scenario, node_id: str, key: PrivateKey, membership: Membership,
                    standby: bool = False) -> Consensus:
    """The consensus core of validator ``node_id``: a PBFT replica, a PoW miner or a registered plug-in
    (``consensus.protocol``), built as ``cls(node_id, key, membership, genesis_hash, **consensus.params)``.

    ``standby``: a standby sealer's PBFT replica (it follows the chain and votes from the height
    a committed membership vote activates it, see :mod:`edgeledger.market.membership`).
    """
    g_hash = membership.genesis_hash
    protocol = scenario.consensus.protocol
    if protocol == "pow":
        if standby:
            raise ConfigError(f"{node_id!r}: standby sealers run PBFT; consensus.protocol is 'pow'")
        return PowMiner(node_id, key, membership, g_hash, pow_config(scenario),
                        rng=random.Random(derive_seed(scenario.seed, "pow", node_id)))
    if protocol == "pbft":
        return PbftReplica(node_id, key, membership, g_hash, pbft_config(scenario), standby=standby)
    if standby:
        raise ConfigError(f"{node_id!r}: standby sealers run PBFT; consensus.protocol is {protocol!r}")
    # a plug-in: cls(node_id, key, membership, genesis_hash, **consensus.params)
    cls = consensus_protocols.get(protocol)
    params = dict(scenario.consensus.params)
    bind_params(cls, f"consensus protocol {protocol!r}", params, node_id, key, membership, g_hash)
    return cls(node_id, key, membership, g_hash, **params)


def admission_sponsors(plan: Topology) -> dict[str, list[str]]:
    """Open membership: sponsor node -> the roles it admits (``consortium.open_roles``): devices by the
    first edge server (edges sign no other transactions), edge servers by the cloud."""
    out: dict[str, list[str]] = {}
    for role in plan.scenario.consortium.open_roles:
        sponsor = plan.edges[0] if role == "device" and plan.edges else "cloud"
        out.setdefault(sponsor, []).append(role)
    return out


def runs_consensus(plan: Topology, node_id: str) -> bool:
    """Does ``node_id`` run a consensus core (a genesis validator or a standby sealer)?"""
    return node_id in plan.validators or node_id in plan.standby


def finality_of(scenario: Scenario, membership: Membership) -> Finality:
    """What proves a block of this scenario's chain final, for validators, observers and light clients."""
    if scenario.consensus.protocol == "pow":
        return WorkFinality(membership.genesis_hash, pow_config(scenario))
    if scenario.consensus.protocol != "pbft":  # a plug-in may name its own proof (default: commit certificates)
        finality = getattr(consensus_protocols.get(scenario.consensus.protocol), "finality", CERTIFICATE_FINALITY)
        return finality if isinstance(finality, Finality) else CERTIFICATE_FINALITY
    return CERTIFICATE_FINALITY


def add_heartbeat(scenario: Scenario, node: Node, signer: Signer) -> HeartbeatService | None:
    """``consensus.heartbeat_s``: a validator (genesis or standby) ticks the chain clock while the
    chain idles, signing with ``signer`` (shared with its other services that sign as it)."""
    if not scenario.consensus.heartbeat_s or node.consensus is None:
        return None

    def in_force() -> bool:
        return node.membership.is_validator_at(node.node_id, node.store.height + 1)

    service = HeartbeatService(signer, scenario.consensus.heartbeat_s, in_force)
    node.add_service(service)
    return service
