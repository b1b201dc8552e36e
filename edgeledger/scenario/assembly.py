"""Build a simulated edge/cloud network from a scenario: identities, genesis, nodes, links,
and the FL services of each role (shared with the node processes of a deployment).

Every key is derived from the scenario seed, so the same scenario gives the same
identities, blocks and hashes. Ids and wiring come from :mod:`edgeledger.scenario.topology`.
The center, the cloud and the edges are nodes for the whole run; the devices are a
:class:`~edgeledger.scenario.population.DevicePopulation` whose members become nodes only
while they have work, so a network costs what its infrastructure and its current round do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.crypto.sealing import Cipher, build_cipher
from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators import build_aggregator
from edgeledger.fl.attacks import ColludingAttack, build_attack, data_attacks
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.executors import ModelSpec
from edgeledger.fl.learner import Learner, SupervisedLearner
from edgeledger.fl.round import (
    AggregatorCore,
    DeviceCore,
    EdgeRelay,
    RoundSettings,
    derive_seed,
)
from edgeledger.fl.round.collusion import Coalition
from edgeledger.fl.round.services import AggregatorService, DeviceService, EdgeService
from edgeledger.fl.round.winner import RoundLog
from edgeledger.fl.server_eval import aggregator_injections
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.store import ChainStore, DeferredChainStore
from edgeledger.net.sim import Link
from edgeledger.node.center import AddressBook
from edgeledger.node.endorsing import EndorserService
from edgeledger.node.heartbeat import Signer
from edgeledger.node.node import Node
from edgeledger.registry import import_plugins
from edgeledger.scenario.fl_architecture import (
    aggregators_of,
    cloud_learner,
    is_colluding,
    attach_offload_device,
    attach_offload_server,
    offload_on_network,
    attach_data_owner,
    attach_edge_trainer,
    attach_winner,
    data_upload_effects,
    device_data,
    trainers_of,
)
from edgeledger.scenario.fl_data import FLData, aggregator_params, split_data
from edgeledger.scenario.population import (
    DeviceCoreMap,
    DevicePopulation,
    LearnerMap,
    NodeMap,
)
from edgeledger.scenario.chain_network import chain_node, link_between, node_membership
from edgeledger.scenario.schema import Scenario
from edgeledger.scenario.topology import (
    WIRE_ATTACKS,
    Topology,
    add_heartbeat,
    build_consensus,
    devices_of,
    make_genesis,
    observers_of,
    pbft_config,
    plan_topology,
    runs_consensus,
)
from edgeledger.scenario.training_pool import INLINE, TrainingPool

__all__ = ["Network", "Topology", "FLData", "split_data", "build_network", "plan_topology", "make_genesis", "attach_fl_services", "cloud_learner",
           "pbft_config", "observers_of", "WIRE_ATTACKS"]


@dataclass
class Network:
    """The simulated network. ``nodes``, ``learners`` and ``device_cores`` are views that include
    the devices: looking one up makes it a node for the rest of the run (see
    :class:`~edgeledger.scenario.population.DevicePopulation`); ``infrastructure`` holds the rest."""

    scenario: Scenario
    membership: Membership
    nodes: Mapping[str, Node]
    roles: Mapping[str, str]
    edge_of: Mapping[str, str]
    aggregator: AggregatorCore | RoundLog  # the cloud's core, or the log of the consensus winners' rounds
    learners: Mapping[str, Learner]  # node id -> its learner (devices train, the cloud evaluates)
    device_cores: Mapping[str, DeviceCore]
    malicious: dict[str, str] = field(default_factory=dict)  # node id -> attack kind
    coalitions: tuple[Coalition, ...] = ()  # the colluding adversaries (ALIE, IPM), one per colluding attack
    test_data: Dataset | None = None
    trainer: TrainingPool | None = None  # the round-batching executor pool (fl.executor), or None inline
    infrastructure: dict[str, Node] = field(default_factory=dict)  # center, cloud, edges, standby sealers
    population: DevicePopulation | None = None
    _links: dict[tuple[str, str], Link] = field(default_factory=dict, repr=False)

    @property
    def validators(self) -> list[str]:
        return self.membership.validators

    def attach(self, sim: Any) -> None:
        """Host every node in ``sim`` and apply their start-up effects in node id order."""
        for node in self.infrastructure.values():
            sim.add_host(node)
        if self.population is not None:
            sim.add_group(self.population)
        devices = self.population.ids if self.population is not None else ()
        for node_id in sorted([*self.infrastructure, *devices]):
            node = self.infrastructure.get(node_id)
            sim.start(node_id, node.start(0.0) if node is not None else self.population.start(node_id))
        if self.population is not None:
            self.population.forget_keys()

    def watch_learners(self, watch: Callable[[Learner], None]) -> None:
        """Call ``watch`` on the cloud's learner and on every device learner, now and when built."""
        for learner in getattr(self.learners, "own", {}).values():
            watch(learner)
        if self.population is not None:
            self.population.watch_learners(watch)

    def link_for(self, a: str, b: str) -> Link:
        """The modelled link from ``a`` to ``b``, by the pair of their roles (one Link per pair)."""
        roles = (self.roles[a], self.roles[b])
        link = self._links.get(roles)
        if link is None:
            link = self._links[roles] = link_between(self.scenario, *roles)
        return link




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
                       coalitions: tuple[Coalition, ...] = (),
                       log: RoundLog | None = None) -> tuple[Learner | None, Any]:
    """Give ``node`` the FL services of its role; returns (its learner, its FL core).

    ``trainer`` (simulator only) batches the devices' trainings of a round through one executor;
    ``coalitions`` (simulator only) are the colluding adversaries of :func:`build_coalitions`;
    ``log`` (simulator) collects the rounds the consensus winners close (``fl.aggregation``).
    The architecture follows ``fl.trainers`` and ``fl.aggregation`` (:mod:`.fl_architecture`).
    """
    scenario, fl, node_id = plan.scenario, plan.scenario.fl, node.node_id
    kind = plan.malicious.get(node_id)
    winner_mode = fl.aggregation == "consensus_winner"
    if (node.role in ("cloud", "device") or (node.role == "edge" and (fl.trainers == "edge" or winner_mode))) \
            and data is None:
        raise ConfigError(f"{node.role} {node_id!r} needs the FL data set")
    if offload_on_network(plan) and node.role in ("cloud", "edge"):  # the servers of offloaded tasks
        attach_offload_server(node, plan, data.offload if data is not None else FLData(scenario, plan.devices).offload)
    if node.role == "cloud" and winner_mode:
        winner = attach_winner(node, plan, data, log)  # None when the cloud does not validate
        return (winner.learner if winner is not None else None), winner
    if node.role == "cloud":
        learner = (data.offload.cloud_learner() if data.offload is not None
                   else cloud_learner(scenario, data.learner(None, data.test), data.test))
        hooks = (aggregator_injections(fl.aggregator, data.learner(None, data.validation))
                 if data.validation is not None else {})
        reexecute = hooks.pop("evaluate_loss", None)  # proof-of-learning: the driver re-executes claims (effects)
        core = AggregatorCore(
            node_id, node.key, node.membership,
            RoundSettings(rounds=fl.rounds, clients_per_round=fl.clients_per_round,
                          round_timeout_s=fl.round_timeout_s, verify_uploads=fl.verify_uploads),
            build_aggregator(fl.aggregator, **aggregator_params(scenario), **hooks),
            learner.initial_params(), trainers_of(plan), plan.edges,
            np.random.default_rng(derive_seed(scenario.seed, "selection")), cipher=_payload_cipher(scenario))
        node.add_service(AggregatorService(core, learner, node.blobs, deferred=node.defer_compute,
                                           reexecute=reexecute))
        return learner, core
    if node.role == "edge":
        edge_trains = fl.trainers == "edge"
        winner = attach_winner(node, plan, data, log, uploads=edge_trains, announcements=False) if data else None
        if edge_trains:
            learner, trainer_core = attach_edge_trainer(node, plan, data, trainer, coalitions,
                                                        on_model=winner.learn_model if winner is not None else None)
            return learner, winner or trainer_core
        relay = EdgeRelay(node_id, "cloud", devices_of(plan, node_id), scenario.seed,
                          tamper_downloads=kind == "download_tamper", tamper_uploads=kind == "upload_tamper",
                          aggregators=aggregators_of(plan))
        node.add_service(EdgeService(relay, plan.edges, on_model=winner.learn_model if winner is not None else None,
                                     aggregate=winner.on_upload if winner is not None else None))
        return (winner.learner if winner is not None else None), winner or relay
    if node.role == "device":
        if fl.trainers == "edge":
            attach_data_owner(node, plan, data)
            return None, None
        return attach_device_services(node, plan, data, trainer, coalitions=coalitions)
    return None, None


def attach_device_services(node: Node, plan: Topology, data: FLData, trainer: TrainingPool | None = None,
                           core: DeviceCore | None = None, learner: Learner | None = None,
                           coalitions: tuple[Coalition, ...] = ()) -> tuple[Learner, DeviceCore]:
    """Give device ``node`` its round service; returns (its learner, its round core).

    ``core`` / ``learner``: the ones a device population kept from an earlier materialisation
    (a model attacker's core, an RL agent); otherwise they are built now, deterministically
    from the scenario (local data, data poisoning and keys are pure functions of the seed)."""
    scenario, fl, node_id = plan.scenario, plan.scenario.fl, node.node_id
    kind = plan.malicious.get(node_id)
    if data is None:
        raise ConfigError(f"device {node_id!r} needs the FL data set")
    attack_cfg = next((a for a in scenario.attacks if a.kind == kind), None) if kind else None
    if data.offload is not None:  # the offloading DQN: its own environment, no data to poison
        if kind in data_attacks:
            raise ConfigError(f"attacks: {kind!r} poisons a data set; fl.task = 'offloading' has none "
                              "(use a model attack such as sign_flip, or upload_tamper / download_tamper)")
        learner = learner or data.offload.device_learner(node_id)
        core = core or _device_core(node, plan, scenario, kind, attack_cfg, coalitions)
        node.add_service(DeviceService(core, learner, trainer))
        if offload_on_network(plan):  # it acts on the network every slot; an FL round lasts local_slots slots
            attach_offload_device(node, plan, data.offload, learner)
            node.compute_time = lambda job, result: data.offload.compute_s(0)
        else:
            node.compute_time = lambda job, result: data.offload.compute_s(result.weight)
        return learner, core
    if learner is None:
        local = device_data(plan, data, node_id)  # poisoned first by a data attacker
        # proof-of-learning: devices claim their loss on the public held-out third, which the aggregator re-runs
        learner = data.learner(local, data.validation if fl.aggregator == "proof_of_learning" else None, shared=True)
    if attack_cfg is not None and kind in data_attacks:
        attack_cfg = None  # a data attacker trains and uploads honestly
    core = core or _device_core(node, plan, scenario, kind, attack_cfg, coalitions)
    node.add_service(DeviceService(core, learner, trainer))
    n_local = len(learner.train_data) if isinstance(learner, SupervisedLearner) and learner.train_data is not None else 0
    modelled_s = fl.compute_s_per_sample * fl.local_epochs * n_local  # = per sample-epoch * result.weight
    node.compute_time = lambda job, result: modelled_s
    return learner, core


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


def _node(plan: Topology, node_id: str, key: PrivateKey, own: Membership, followers: tuple[str, ...],
          consensus: Any = None) -> Node:
    """A node of ``plan`` (:func:`chain_node`); devices keep their store in memory only once they need one."""
    store = DeferredChainStore() if plan.roles[node_id] == "device" else ChainStore(":memory:")
    return chain_node(plan, node_id, key, own, followers, consensus, store=store)


def build_network(scenario: Scenario) -> Network:
    """Every node of the scenario in one process, for the simulator (devices as a population)."""
    import_plugins(scenario.plugins)
    plan = plan_topology(scenario)
    scheme = scenario.topology.signature_scheme
    keys: dict[str, PrivateKey] = {n: derive_key(scheme, f"{scenario.seed}/{n}".encode()) for n in plan.roles}
    genesis = make_genesis(plan, {n: (k.scheme, k.public_key) for n, k in keys.items()})
    membership = Membership(genesis)
    data = FLData(scenario, plan.devices)
    trainer = make_trainer(scenario, data)
    coalitions = build_coalitions(plan)
    followers = observers_of(plan)
    infrastructure: dict[str, Node] = {}
    learners: dict[str, Learner] = {}
    winners = RoundLog(scenario.fl.rounds) if scenario.fl.aggregation == "consensus_winner" else None
    aggregator: AggregatorCore | RoundLog | None = winners
    for node_id, role in plan.roles.items():
        if role == "device":
            continue
        own = node_membership(scenario, membership)
        consensus = (build_consensus(scenario, node_id, keys[node_id], own, standby=node_id in plan.standby)
                     if runs_consensus(plan, node_id) else None)
        node = infrastructure[node_id] = _node(plan, node_id, keys[node_id], own, followers, consensus)
        if node.light is None and (consensus is not None or node_id in followers):
            node.add_service(EndorserService(node_id, keys[node_id], node.state))  # a peer: endorses contract calls
        add_heartbeat(scenario, node, Signer(keys[node_id], node_id))  # consensus.heartbeat_s: the chain clock
        learner, core = attach_fl_services(node, plan, data, trainer, coalitions, log=winners)
        if learner is not None:
            learners[node_id] = learner
        if isinstance(core, AggregatorCore):
            aggregator = core
    infrastructure["center"].address_book = AddressBook()
    assert aggregator is not None
    topo = scenario.topology
    resident = "device" in topo.light_clients or "device" in topo.observers  # they keep chain state
    shared = node_membership(scenario, membership)  # devices that keep no chain never change it

    def build_device(node_id: str, core: DeviceCore | None, learner: Learner | None) -> Node:
        own = node_membership(scenario, membership) if resident else shared
        node = _node(plan, node_id, population.key(node_id), own, followers)
        if node.light is None and node_id in followers:  # an observer device keeps state: it endorses
            node.add_service(EndorserService(node_id, node.key, node.state))
        attach_device_services(node, plan, data, trainer, core=core, learner=learner, coalitions=coalitions)
        return node

    population = DevicePopulation(plan.devices, build_device, scheme, scenario.seed,  # type: ignore[arg-type]
                                  keys={d: keys[d] for d in plan.devices},
                                  start_effects=(lambda d: data_upload_effects(plan, data, d))
                                  if scenario.fl.trainers == "edge" else None)
    del keys
    if resident or offload_on_network(plan):  # they keep chain state, or act every slot
        for node_id in plan.devices:
            population.pin(node_id)
    return Network(scenario=scenario, membership=membership,
                   nodes=NodeMap(plan.roles, infrastructure, population), roles=plan.roles, edge_of=plan.edge_of,
                   malicious=plan.malicious, test_data=data.test, aggregator=aggregator,
                   learners=LearnerMap(learners, population), device_cores=DeviceCoreMap(population),
                   trainer=trainer, infrastructure=infrastructure, population=population, coalitions=coalitions)
