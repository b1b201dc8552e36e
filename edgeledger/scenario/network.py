"""Build a simulated edge/cloud network from a scenario: identities, genesis, nodes, links.

Node ids: ``center``, ``cloud``, ``edge-0``..``edge-{E-1}``, ``device-0``.. with device i
attached to edge ``i // devices_per_edge``. Every key is derived from the scenario seed,
so the same scenario gives the same identities, blocks and hashes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators import aggregators, build_aggregator
from edgeledger.fl.attacks import Backdoor, attacks, build_attack, build_data_attack, data_attacks
from edgeledger.fl.backdoor_probe import BackdoorProbe
from edgeledger.fl.datasets import Dataset, load_dataset
from edgeledger.fl.learner import Learner, SupervisedLearner, TrainingSettings
from edgeledger.fl.partition import partition
from edgeledger.fl.round import AggregatorCore, DeviceCore, EdgeRelay, RoundSettings, derive_seed
from edgeledger.fl.round.services import AggregatorService, DeviceService, EdgeService
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.net.sim import Link
from edgeledger.node.center import AddressBook
from edgeledger.node.node import Node
from edgeledger.scenario.schema import LinkConfig, Scenario

__all__ = ["Network", "build_network", "WIRE_ATTACKS"]

WIRE_ATTACKS = ("upload_tamper", "download_tamper")


@dataclass
class Network:
    scenario: Scenario
    membership: Membership
    nodes: dict[str, Node]
    roles: dict[str, str]
    edge_of: dict[str, str]
    aggregator: AggregatorCore
    learners: dict[str, Learner]  # node id -> its learner (devices train, the cloud evaluates)
    device_cores: dict[str, DeviceCore]
    malicious: dict[str, str] = field(default_factory=dict)  # node id -> attack kind
    test_data: Dataset | None = None

    @property
    def validators(self) -> list[str]:
        return self.membership.validators

    def link_for(self, a: str, b: str) -> Link:
        net = self.scenario.network
        pair = {self.roles[a], self.roles[b]}
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


def _choose(ids: list[str], fraction: float | None, explicit: list[str] | None, rng: np.random.Generator,
            what: str) -> list[str]:
    if explicit is not None:
        unknown = [i for i in explicit if i not in ids]
        if unknown:
            raise ConfigError(f"attacks.nodes: {unknown} are not {what}s of this topology (expected ids like {ids[:2]})")
        return sorted(set(explicit))
    count = int(round((fraction or 0.0) * len(ids)))
    return sorted(rng.choice(ids, size=count, replace=False).tolist()) if count else []


def _assign_attacks(scenario: Scenario, devices: list[str], edges: list[str]) -> dict[str, str]:
    rng = np.random.default_rng(derive_seed(scenario.seed, "attackers"))
    malicious: dict[str, str] = {}
    for i, attack in enumerate(scenario.attacks):
        if attack.kind not in WIRE_ATTACKS and attack.kind not in attacks and attack.kind not in data_attacks:
            raise ConfigError(f"attacks.{i}.kind: {attack.kind!r} is unknown; expected one of "
                              f"{attacks.names() + data_attacks.names() + list(WIRE_ATTACKS)}")
        pool = edges if attack.kind in WIRE_ATTACKS else devices
        chosen = _choose(pool, attack.fraction, attack.nodes, rng, "edge" if attack.kind in WIRE_ATTACKS else "device")
        for node in chosen:
            malicious[node] = attack.kind
    n_bad = sum(1 for n in malicious if n in devices)
    if n_bad > len(devices):
        raise ConfigError(f"attacks: {n_bad} malicious devices but the topology has only {len(devices)}")
    return malicious


def _aggregator_params(scenario: Scenario) -> dict[str, object]:
    """The scenario's aggregator parameters; a randomised rule without a ``seed`` gets one
    derived from the scenario seed, so one seed still decides the whole run."""
    params: dict[str, object] = dict(scenario.fl.aggregator_params)
    cls = aggregators.get(scenario.fl.aggregator)
    if "seed" not in params and "seed" in inspect.signature(cls).parameters:
        params["seed"] = derive_seed(scenario.seed, "aggregator")
    return params


def _cloud_learner(scenario: Scenario, evaluator: SupervisedLearner, test: Dataset) -> Learner:
    """The cloud's evaluating learner; with a backdoor attack it also reports ``backdoor_asr``."""
    backdoor = next((a for a in scenario.attacks if a.kind == "backdoor"), None)
    if backdoor is None:
        return evaluator
    attack = build_data_attack("backdoor", **backdoor.params)
    assert isinstance(attack, Backdoor)
    return BackdoorProbe(evaluator, attack.trigger_for(test), attack.target)


def build_network(scenario: Scenario) -> Network:
    topo, fl = scenario.topology, scenario.fl
    edges = [f"edge-{e}" for e in range(topo.edges)]
    devices = [f"device-{i}" for i in range(topo.n_devices)]
    edge_of = {d: edges[i // topo.devices_per_edge] for i, d in enumerate(devices)}
    roles = {"center": "center", "cloud": "cloud", **{e: "edge" for e in edges}, **{d: "device" for d in devices}}
    keys: dict[str, PrivateKey] = {n: derive_key(topo.signature_scheme, f"{scenario.seed}/{n}".encode()) for n in roles}
    validators = (["cloud"] if "cloud" in topo.validators else []) + (edges if "edge" in topo.validators else [])
    genesis = Genesis(chain_id=f"{scenario.name}-fl", validators=validators,
                      identities=[Identity(node_id=n, role=r, scheme=keys[n].scheme, public_key=keys[n].public_key)
                                  for n, r in roles.items()])
    membership = Membership(genesis)
    malicious = _assign_attacks(scenario, devices, edges)

    train, test = load_dataset(fl.dataset, fl.data_root)
    if len(devices) > len(train):
        raise ConfigError(f"topology has {len(devices)} devices but data set {fl.dataset!r} has {len(train)} samples")
    parts = partition(fl.partition, train.y, len(devices), np.random.default_rng(derive_seed(scenario.seed, "partition")),
                      **({"alpha": fl.alpha} if fl.partition in ("dirichlet", "quantity") else {}))
    settings = TrainingSettings(model=fl.model, epochs=fl.local_epochs, batch_size=fl.batch_size, lr=fl.lr,
                                momentum=fl.momentum)
    input_shape = tuple(train.x.shape[1:])
    model_seed = derive_seed(scenario.seed, "model")

    def learner(data: Dataset | None, evaluation: Dataset | None) -> SupervisedLearner:
        return SupervisedLearner(settings, input_shape, train.n_classes, data, evaluation, model_seed)

    pbft_cfg = PbftConfig(max_block_txs=scenario.consensus.max_block_txs,
                          max_block_bytes=scenario.consensus.max_block_bytes,
                          batch_timeout_s=scenario.consensus.batch_timeout_s)
    g_hash = genesis_hash(genesis)
    nodes: dict[str, Node] = {}
    for node_id, role in roles.items():
        consensus = (PbftReplica(node_id, keys[node_id], membership, g_hash, pbft_cfg)
                     if node_id in validators else None)
        node = Node(node_id=node_id, role=role, key=keys[node_id], membership=membership, store=ChainStore(":memory:"),
                    consensus=consensus, center="center", address=f"sim://{node_id}",
                    validator=None if consensus else (edge_of.get(node_id) if role == "device" else validators[0]))
        nodes[node_id] = node
    nodes["center"].address_book = AddressBook()
    learners: dict[str, Learner] = {"cloud": _cloud_learner(scenario, learner(None, test), test)}
    aggregator = AggregatorCore(
        "cloud", keys["cloud"], membership,
        RoundSettings(rounds=fl.rounds, clients_per_round=fl.clients_per_round, round_timeout_s=fl.round_timeout_s,
                      verify_uploads=fl.verify_uploads),
        build_aggregator(fl.aggregator, **_aggregator_params(scenario)), learners["cloud"], devices, edges,
        np.random.default_rng(derive_seed(scenario.seed, "selection")), blobs=nodes["cloud"].blobs)
    nodes["cloud"].add_service(AggregatorService(aggregator))
    for e in edges:
        kind = malicious.get(e)
        nodes[e].add_service(EdgeService(EdgeRelay(
            e, "cloud", [d for d in devices if edge_of[d] == e], scenario.seed,
            tamper_downloads=kind == "download_tamper", tamper_uploads=kind == "upload_tamper")))
    attack_by_kind = {a.kind: a for a in scenario.attacks}
    device_cores: dict[str, DeviceCore] = {}
    per_sample = fl.compute_s_per_sample * fl.local_epochs
    for i, d in enumerate(devices):
        kind = malicious.get(d)
        attack_cfg = attack_by_kind.get(kind) if kind else None
        local = train.subset(parts[i])
        if attack_cfg is not None and kind in data_attacks:  # poisoned data, honest training and upload
            rng = np.random.default_rng(derive_seed(scenario.seed, d, "data-attack"))
            local = build_data_attack(kind, **attack_cfg.params).poison_data(local, rng)
            attack_cfg = None
        learners[d] = learner(local, None)
        device_cores[d] = DeviceCore(d, keys[d], membership, edge_of[d], scenario.seed,
                                     attack=build_attack(kind, **attack_cfg.params) if attack_cfg else None,
                                     attack_from_round=attack_cfg.start_round if attack_cfg else 1,
                                     verify_downloads=fl.verify_downloads)
        nodes[d].add_service(DeviceService(device_cores[d], learners[d]))
        nodes[d].compute_time = lambda job, result, k=per_sample: k * result.weight
    return Network(scenario=scenario, membership=membership, nodes=nodes, roles=roles, edge_of=edge_of,
                   malicious=malicious, test_data=test, aggregator=aggregator, learners=learners,
                   device_cores=device_cores)
