"""Who trains and who aggregates: the FL architectures a scenario can run.

``fl.trainers``: ``"device"`` (ChainFL, Pedal: IoT devices train, edges relay) or ``"edge"``
(FBFL: devices upload raw data to their edge server at start, edges train).
``fl.aggregation``: ``"cloud"`` (the cloud aggregates every round) or ``"consensus_winner"``
(FBFL: every validator collects the updates; the proposer of the block that closes a round --
the PoW miner, the PBFT primary -- aggregates, and its block carries the result).

This module wires the roles' services for the non-default choices; the default architecture
is :func:`edgeledger.scenario.assembly.attach_fl_services` as before. Used by the simulator and
by node processes alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgeledger.crypto.hashing import derive_seed
from edgeledger.effects import Effect, Send
from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators import build_aggregator
from edgeledger.fl.attacks import Backdoor, ColludingAttack, attacks, build_attack, build_data_attack, data_attacks
from edgeledger.fl.backdoor_probe import BackdoorProbe
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.learner import Learner, SupervisedLearner
from edgeledger.fl.round import DeviceCore, RoundSettings
from edgeledger.fl.round.collusion import Coalition
from edgeledger.fl.round.edge_training import DataOwnerService, EdgeTrainerService, data_upload
from edgeledger.fl.round.services import WinnerService
from edgeledger.fl.round.winner import RoundLog, WinnerCore, update_nonce
from edgeledger.fl.server_eval import aggregator_injections
from edgeledger.node.node import Node
from edgeledger.scenario.schema import Scenario
from edgeledger.scenario.fl_data import FLData, aggregator_params
from edgeledger.scenario.topology import WIRE_ATTACKS, Topology, devices_of

__all__ = ["aggregators_of", "trainers_of", "attach_winner", "attach_edge_trainer", "attach_data_owner",
           "device_data", "data_upload_effects", "evaluation_learner"]


def aggregators_of(plan: Topology) -> tuple[str, ...]:
    """The nodes that aggregate rounds (and so receive uploads and send announcements)."""
    return tuple(plan.validators) if plan.scenario.fl.aggregation == "consensus_winner" else ("cloud",)


def trainers_of(plan: Topology) -> Sequence[str]:
    """The nodes a round's participants are drawn from: devices, or edge servers."""
    return plan.edges if plan.scenario.fl.trainers == "edge" else plan.devices


def cloud_learner(scenario: Scenario, evaluator: SupervisedLearner, test: Dataset) -> Learner:
    """The cloud's evaluating learner; with a backdoor attack it also reports ``backdoor_asr``."""
    backdoor = next((a for a in scenario.attacks if a.kind == "backdoor"), None)
    if backdoor is None:
        return evaluator
    attack = build_data_attack("backdoor", **backdoor.params)
    assert isinstance(attack, Backdoor)
    return BackdoorProbe(evaluator, attack.trigger_for(test), attack.target)


def is_colluding(kind: str | None) -> bool:
    """Is ``kind`` a colluding attack (one crafted update per round for all its devices)?"""
    return kind is not None and kind in attacks and issubclass(attacks.get(kind), ColludingAttack)


def evaluation_learner(plan: Topology, data: FLData) -> Learner:
    """An aggregator's evaluating learner (test accuracy; with a backdoor attack also its ASR)."""
    return cloud_learner(plan.scenario, data.learner(None, data.test), data.test)


def round_settings(plan: Topology) -> RoundSettings:
    fl = plan.scenario.fl
    return RoundSettings(rounds=fl.rounds, clients_per_round=fl.clients_per_round,
                         round_timeout_s=fl.round_timeout_s, verify_uploads=fl.verify_uploads)


def attach_winner(node: Node, plan: Topology, data: FLData, log: RoundLog | None,
                  uploads: bool = True, announcements: bool = True) -> WinnerCore | None:
    """A validator's consensus-winner aggregation service (None for a node that does not validate)."""
    scenario = plan.scenario
    if scenario.fl.aggregation != "consensus_winner" or node.node_id not in plan.validators:
        return None
    aggregator = build_aggregator(scenario.fl.aggregator, **aggregator_params(scenario),
                                  **(aggregator_injections(scenario.fl.aggregator, data.learner(None, data.validation))
                                     if data.validation is not None else {}))
    # the edges relay (or train on) the model; validators keep it; the cloud needs no copy of its own
    announce_to = tuple(n for n in dict.fromkeys([*plan.edges, *plan.validators]) if n in plan.edges or n != node.node_id)
    core = WinnerCore(node.node_id, node.key, node.membership, round_settings(plan), aggregator,
                      evaluation_learner(plan, data), trainers_of(plan), announce_to, scenario.seed,
                      log if log is not None else RoundLog(scenario.fl.rounds), blobs=node.blobs)
    node.add_service(WinnerService(core, uploads=uploads, announcements=announcements))
    return core


def device_data(plan: Topology, data: FLData, node_id: str) -> Dataset:
    """Device ``node_id``'s local samples, poisoned first if it runs a data attack."""
    scenario = plan.scenario
    kind = plan.malicious.get(node_id)
    local = data.train.subset(data.indices(node_id))
    attack_cfg = next((a for a in scenario.attacks if a.kind == kind), None) if kind else None
    if attack_cfg is not None and kind in data_attacks:  # poisoned data, honest training and upload
        rng = np.random.default_rng(derive_seed(scenario.seed, node_id, "data-attack"))
        local = build_data_attack(kind, **attack_cfg.params).poison_data(local, rng)
    return local


def data_upload_effects(plan: Topology, data: FLData, node_id: str) -> list[Effect]:
    """What a device whose edge trains sends at start: its raw data, to its edge."""
    return [Send(plan.edge_of[node_id], data_upload(device_data(plan, data, node_id)))]


def attach_data_owner(node: Node, plan: Topology, data: FLData) -> None:
    """A device under ``fl.trainers = "edge"``: it uploads its data at start (node processes; the
    simulator's device population sends the same message without building the node)."""
    node.add_service(DataOwnerService(plan.edge_of[node.node_id],
                                      lambda: data_upload(device_data(plan, data, node.node_id))))


def attach_edge_trainer(node: Node, plan: Topology, data: FLData, trainer: Any = None,
                        coalitions: tuple[Coalition, ...] = (),
                        on_model: Callable[..., None] | None = None) -> tuple[SupervisedLearner, DeviceCore]:
    """An edge server that trains on its devices' raw data (``fl.trainers = "edge"``)."""
    scenario, fl, node_id = plan.scenario, plan.scenario.fl, node.node_id
    kind = plan.malicious.get(node_id)
    if kind in WIRE_ATTACKS:
        raise ConfigError(f"attacks: {kind!r} tampers with what an edge relays; with fl.trainers = 'edge' the edges "
                          "train and relay nothing (use a model attack such as sign_flip on edges)")
    attack_cfg = next((a for a in scenario.attacks if a.kind == kind), None) if kind else None
    aggregators = aggregators_of(plan)
    core = DeviceCore(node_id, node.key, node.membership, node_id, scenario.seed,
                      attack=build_attack(kind, **attack_cfg.params) if attack_cfg and kind and not is_colluding(kind)
                      else None,
                      attack_from_round=attack_cfg.start_round if attack_cfg else 1,
                      verify_downloads=fl.verify_downloads, finality=node.finality, coalitions=coalitions,
                      upload_to=aggregators, nonce_of=update_nonce if node_id in aggregators else None)
    learner = data.learner(None, data.validation if fl.aggregator == "proof_of_learning" else None, shared=True)
    service = EdgeTrainerService(core, learner, devices_of(plan, node_id), aggregators,
                                 tuple(data.train.x.shape[1:]), data.train.n_classes, trainer,
                                 hold_s=fl.round_timeout_s / 2, on_model=on_model)
    node.add_service(service)
    node.compute_time = lambda job, result: (fl.compute_s_per_sample * fl.local_epochs
                                             * (len(learner.train_data) if learner.train_data is not None else 0))
    return learner, core


def offload_on_network(plan: Topology) -> bool:
    """Does this scenario's offloading run on its network (``offload.environment = "network"``)?"""
    return plan.scenario.fl.task == "offloading" and plan.scenario.offload.environment == "network"


def attach_offload_server(node: Node, plan: Topology, federation: Any) -> None:
    """An edge (the access point of its devices, a processor) or the cloud serving offloaded tasks."""
    from edgeledger.offload.traffic import OffloadServerCore, OffloadServerService

    task = plan.scenario.offload
    devices = devices_of(plan, node.node_id) if node.role == "edge" else ()
    core = OffloadServerCore(node.node_id, federation.config, "cloud", devices=devices, report_to=devices,
                             sharing=_sharing(task),
                             grant_window_s=task.grant_window_s)
    node.add_service(OffloadServerService(core))


def attach_offload_device(node: Node, plan: Topology, federation: Any, learner: Any) -> None:
    """A device that draws its tasks and offloads them over the network, learning as results come back
    (its cell: its edge, the only edge of its actions, and the cloud)."""
    from edgeledger.offload.traffic import DeviceStream, OffloadDeviceCore, OffloadDeviceService

    task = plan.scenario.offload
    stream = DeviceStream(federation.config, np.random.default_rng(federation.stream_seed(node.node_id)))
    edge = plan.edge_of[node.node_id]
    core = OffloadDeviceCore(node.node_id, federation.config, stream, edge, [edge], "cloud",
                             learner.decide, learner.observe, sharing=_sharing(task),
                             result_timeout_s=task.result_timeout_s)
    node.add_service(OffloadDeviceService(core))


def _sharing(task: Any) -> str:
    return "slot" if task.sharing == "slot" else "network"
