"""Build a simulated edge/cloud network from a scenario: identities, genesis, nodes, links,
and the FL services of each role (shared with the node processes of a deployment).

Every key is derived from the scenario seed, so the same scenario gives the same
identities, blocks and hashes. Ids and wiring come from :mod:`edgeledger.scenario.topology`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.crypto.sealing import Cipher, build_cipher
from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators import aggregators, build_aggregator
from edgeledger.fl.attacks import Backdoor, ColludingAttack, attacks, build_attack, build_data_attack, data_attacks
from edgeledger.fl.aggregators.pedal import holdout_split
from edgeledger.fl.backdoor_probe import BackdoorProbe
from edgeledger.fl.datasets import Dataset, load_dataset
from edgeledger.fl.executors import ModelSpec
from edgeledger.fl.learner import Learner, SupervisedLearner, TrainingSettings
from edgeledger.fl.partition import partition
from edgeledger.fl.server_eval import aggregator_injections, needs_validation
from edgeledger.fl.round import AggregatorCore, DeviceCore, EdgeRelay, RoundSettings, derive_seed
from edgeledger.fl.round.collusion import Coalition
from edgeledger.fl.round.services import AggregatorService, DeviceService, EdgeService
from edgeledger.ledger.identity import Genesis, Membership
from edgeledger.ledger.store import ChainStore
from edgeledger.market.admission import admitted_identities
from edgeledger.market.membership import validator_schedule
from edgeledger.net.sim import Link
from edgeledger.node.center import AddressBook
from edgeledger.node.endorsing import EndorserService
from edgeledger.node.light import LightClient
from edgeledger.node.node import Node, ValidatorSchedule
from edgeledger.registry import import_plugins
from edgeledger.scenario.schema import LinkConfig, Scenario
from edgeledger.scenario.training_pool import INLINE, TrainingPool
from edgeledger.scenario.topology import (
    WIRE_ATTACKS, Topology, build_consensus, finality_of, is_light_client, make_genesis, observers_of, pbft_config,
    plan_topology, runs_consensus,
)

__all__ = ["Network", "Topology", "FLData", "build_network", "plan_topology", "make_genesis", "attach_fl_services",
           "pbft_config", "observers_of", "WIRE_ATTACKS"]


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
    coalitions: tuple[Coalition, ...] = ()  # the colluding adversaries (ALIE, IPM), one per colluding attack
    test_data: Dataset | None = None
    trainer: TrainingPool | None = None  # the round-batching executor pool (fl.executor), or None inline

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


class FLData:
    """The data set, its split across devices and the learner factory (loaded once, lazily)."""

    def __init__(self, scenario: Scenario, devices: list[str]) -> None:
        fl = scenario.fl
        self.offload: Any = None
        self.validation: Dataset | None = None
        if fl.task == "offloading":  # RL agents bring their own environments: no data set to load
            from edgeledger.offload.federated import OffloadFederation

            self.offload = OffloadFederation(scenario)
            self.train = self.test = None  # type: ignore[assignment]
            self.parts, self.model_seed = {}, self.offload.model_seed
            return
        self.train, self.test = load_dataset(fl.dataset, fl.data_root)
        if len(devices) > len(self.train):
            raise ConfigError(f"topology has {len(devices)} devices but data set {fl.dataset!r} has "
                              f"{len(self.train)} samples")
        parts = partition(fl.partition, self.train.y, len(devices),
                          np.random.default_rng(derive_seed(scenario.seed, "partition")),
                          **({"alpha": fl.alpha} if fl.partition in ("dirichlet", "quantity") else {}))
        self.parts = dict(zip(devices, parts))
        if needs_validation(fl.aggregator):  # Pedal / proof-of-learning judge updates on a held-out third
            val, rest = holdout_split(len(self.test), np.random.default_rng(derive_seed(scenario.seed, "holdout")))
            self.validation, self.test = self.test.subset(val), self.test.subset(rest)
        # FedProx: the server rule is FedAvg; its proximal term mu lives in the devices' local training
        proximal_mu = float(getattr(build_aggregator(fl.aggregator, **_aggregator_params(scenario)), "proximal_mu", 0.0))
        self.settings = TrainingSettings(model=fl.model, epochs=fl.local_epochs, batch_size=fl.batch_size, lr=fl.lr,
                                         momentum=fl.momentum, proximal_mu=proximal_mu)
        self.model_seed = derive_seed(scenario.seed, "model")

    def learner(self, data: Dataset | None, evaluation: Dataset | None) -> SupervisedLearner:
        return SupervisedLearner(self.settings, tuple(self.train.x.shape[1:]), self.train.n_classes, data,
                                 evaluation, self.model_seed)


def _payload_cipher(scenario: Scenario) -> Cipher | None:
    name = scenario.security.payload_encryption
    return None if name == "none" else build_cipher(name)


def _payload_seal(scenario: Scenario, node: Node) -> Callable[[bytes], bytes] | None:
    """Devices seal update blobs to the aggregator's identity key (end-to-end, through any relay)."""
    cipher = _payload_cipher(scenario)
    if cipher is None:
        return None
    aggregator_key = node.membership.identities["cloud"].public_key
    return lambda blob: cipher.seal(aggregator_key, blob)


def is_colluding(kind: str | None) -> bool:
    """Is ``kind`` a colluding attack (one crafted update per round for all its devices)?"""
    return kind is not None and kind in attacks and issubclass(attacks.get(kind), ColludingAttack)


def build_coalitions(plan: Topology) -> tuple[Coalition, ...]:
    """One colluding adversary per colluding attack of the scenario, over the devices it controls."""
    scenario, out = plan.scenario, []
    for i, cfg in enumerate(scenario.attacks):
        members = {n for n, k in plan.malicious.items() if k == cfg.kind}
        if not is_colluding(cfg.kind) or not members or any(c.kind == cfg.kind for c in scenario.attacks[:i]):
            continue
        attack = build_attack(cfg.kind, **cfg.params)
        assert isinstance(attack, ColludingAttack)
        out.append(Coalition(attack, members, np.random.default_rng(derive_seed(scenario.seed, "coalition", cfg.kind)),
                             patience_s=scenario.fl.round_timeout_s / 2, start_round=cfg.start_round))
    return tuple(out)


def _device_core(node: Node, plan: Topology, scenario: Scenario, kind: str | None, attack_cfg: Any,
                 coalitions: tuple[Coalition, ...] = ()) -> DeviceCore:
    """A device's round core: its edge, its (model) attack if malicious, download checks, sealing,
    and the colluding adversaries (their member, or watched by them)."""
    if is_colluding(kind) and not any(node.node_id in c.members for c in coalitions):
        raise ConfigError(f"attacks: {kind!r} is a colluding attack (one crafted update per round from the round's "
                          f"benign updates); it runs in the simulator only. In node processes use "
                          f"{kind + '_local'!r}, each device alone")
    return DeviceCore(node.node_id, node.key, node.membership, plan.edge_of[node.node_id], scenario.seed,
                      attack=build_attack(kind, **attack_cfg.params) if attack_cfg and kind and not is_colluding(kind)
                      else None,
                      attack_from_round=attack_cfg.start_round if attack_cfg else 1,
                      verify_downloads=scenario.fl.verify_downloads, finality=node.finality,
                      seal=_payload_seal(scenario, node),
                      fallback="cloud" if scenario.fl.download_fallback and scenario.fl.verify_downloads else None,
                      coalitions=coalitions)


def attach_fl_services(node: Node, plan: Topology, data: FLData | None,
                       trainer: TrainingPool | None = None,
                       coalitions: tuple[Coalition, ...] = ()) -> tuple[Learner | None, Any]:
    """Give ``node`` the FL services of its role; returns (its learner, its FL core).

    ``trainer`` (simulator only) batches the devices' trainings of a round through one executor;
    ``coalitions`` (simulator only) are the colluding adversaries of :func:`build_coalitions`.
    """
    scenario, fl, node_id = plan.scenario, plan.scenario.fl, node.node_id
    kind = plan.malicious.get(node_id)
    if node.role in ("cloud", "device") and data is None:
        raise ConfigError(f"{node.role} {node_id!r} needs the FL data set")
    if node.role == "cloud":
        learner = (data.offload.cloud_learner() if data.offload is not None
                   else _cloud_learner(scenario, data.learner(None, data.test), data.test))
        core = AggregatorCore(
            node_id, node.key, node.membership,
            RoundSettings(rounds=fl.rounds, clients_per_round=fl.clients_per_round,
                          round_timeout_s=fl.round_timeout_s, verify_uploads=fl.verify_uploads),
            build_aggregator(fl.aggregator, **_aggregator_params(scenario),
                             **(aggregator_injections(fl.aggregator, data.learner(None, data.validation))
                                if data.validation is not None else {})),
            learner, plan.devices, plan.edges,
            np.random.default_rng(derive_seed(scenario.seed, "selection")), blobs=node.blobs,
            cipher=_payload_cipher(scenario))
        node.add_service(AggregatorService(core))
        return learner, core
    if node.role == "edge":
        relay = EdgeRelay(node_id, "cloud", [d for d in plan.devices if plan.edge_of[d] == node_id], scenario.seed,
                          tamper_downloads=kind == "download_tamper", tamper_uploads=kind == "upload_tamper")
        node.add_service(EdgeService(relay, plan.edges))
        return None, relay
    if node.role == "device":
        attack_cfg = next((a for a in scenario.attacks if a.kind == kind), None) if kind else None
        if data.offload is not None:  # the offloading DQN: its own environment, no data to poison
            if kind in data_attacks:
                raise ConfigError(f"attacks: {kind!r} poisons a data set; fl.task = 'offloading' has none "
                                  "(use a model attack such as sign_flip, or upload_tamper / download_tamper)")
            learner = data.offload.device_learner(node_id)
            core = _device_core(node, plan, scenario, kind, attack_cfg, coalitions)
            node.add_service(DeviceService(core, learner, trainer))
            node.compute_time = lambda job, result: data.offload.compute_s(result.weight)
            return learner, core
        local = data.train.subset(data.parts[node_id])
        if attack_cfg is not None and kind in data_attacks:  # poisoned data, honest training and upload
            rng = np.random.default_rng(derive_seed(scenario.seed, node_id, "data-attack"))
            local = build_data_attack(kind, **attack_cfg.params).poison_data(local, rng)
            attack_cfg = None
        # proof-of-learning: devices claim their loss on the public held-out third, which the aggregator re-runs
        learner = data.learner(local, data.validation if fl.aggregator == "proof_of_learning" else None)
        core = _device_core(node, plan, scenario, kind, attack_cfg, coalitions)
        node.add_service(DeviceService(core, learner, trainer))
        modelled_s = fl.compute_s_per_sample * fl.local_epochs * len(local)  # = per sample-epoch * result.weight
        node.compute_time = lambda job, result: modelled_s
        return learner, core
    return None, None


def make_trainer(scenario: Scenario, data: FLData) -> TrainingPool | None:
    """The training pool of ``fl.executor`` (None for ``inline``, today's one-device-at-a-time path)."""
    fl = scenario.fl
    if fl.executor == INLINE:
        return None
    if data.offload is not None:
        raise ConfigError(f"fl.executor={fl.executor!r}: the offloading task trains inline only; expected 'inline'")
    model = ModelSpec(fl.model, tuple(data.train.x.shape[1:]), data.train.n_classes)
    options = dict(fl.executor_options)
    if fl.executor == "batched":  # one thread unless asked: spinning OpenMP threads collapse on a busy box
        options.setdefault("threads", 1)
    return TrainingPool(fl.executor, model, options)


def node_membership(scenario: Scenario, genesis: Genesis) -> Membership | None:
    """A PBFT node's own Membership: its validator schedule follows its own chain, and committed
    consortium votes (``membership.*``) activate one PBFT window + 1 blocks after they pass. None: share."""
    if scenario.consensus.protocol != "pbft":
        return None
    return Membership(genesis, change_delay=scenario.consensus.window + 1)


def schedule_hook(scenario: Scenario) -> ValidatorSchedule | None:
    """PBFT nodes read validator changes from the consortium's membership state (market policy)."""
    return validator_schedule if scenario.consensus.protocol == "pbft" else None


def build_network(scenario: Scenario) -> Network:
    """Every node of the scenario in one process, for the simulator."""
    import_plugins(scenario.plugins)
    plan = plan_topology(scenario)
    keys: dict[str, PrivateKey] = {n: derive_key(scenario.topology.signature_scheme, f"{scenario.seed}/{n}".encode())
                                   for n in plan.roles}
    genesis = make_genesis(plan, {n: (k.scheme, k.public_key) for n, k in keys.items()})
    membership = Membership(genesis)
    data = FLData(scenario, plan.devices)
    trainer = make_trainer(scenario, data)
    coalitions = build_coalitions(plan)
    nodes: dict[str, Node] = {}
    learners: dict[str, Learner] = {}
    device_cores: dict[str, DeviceCore] = {}
    aggregator: AggregatorCore | None = None
    for node_id, role in plan.roles.items():
        own = node_membership(scenario, genesis) or membership
        consensus = (build_consensus(scenario, node_id, keys[node_id], own, standby=node_id in plan.standby)
                     if runs_consensus(plan, node_id) else None)
        node = Node(node_id=node_id, role=role, key=keys[node_id], membership=own, store=ChainStore(":memory:"),
                    consensus=consensus, center="center", address=f"sim://{node_id}",
                    finality=finality_of(scenario, own), validator_schedule=schedule_hook(scenario),
                    identity_hook=admitted_identities,
                    observers=observers_of(plan) if consensus else (), followers=observers_of(plan),
                    gossip_fanout=scenario.network.gossip_fanout,
                    validator=None if consensus else (plan.edge_of.get(node_id) if role == "device"
                                                      else plan.validators[0]),
                    light=LightClient(node_id, own, finality_of(scenario, own))
                    if is_light_client(plan, node_id) else None)
        nodes[node_id] = node
        if node.light is None and (consensus is not None or node_id in observers_of(plan)):
            node.add_service(EndorserService(node_id, keys[node_id], node.state))  # a peer: endorses contract calls
        learner, core = attach_fl_services(node, plan, data, trainer, coalitions)
        if learner is not None:
            learners[node_id] = learner
        if isinstance(core, AggregatorCore):
            aggregator = core
        elif isinstance(core, DeviceCore):
            device_cores[node_id] = core
    nodes["center"].address_book = AddressBook()
    assert aggregator is not None
    return Network(scenario=scenario, membership=membership, nodes=nodes, roles=plan.roles, edge_of=plan.edge_of,
                   malicious=plan.malicious, test_data=data.test, aggregator=aggregator, learners=learners,
                   device_cores=device_cores, trainer=trainer, coalitions=coalitions)
