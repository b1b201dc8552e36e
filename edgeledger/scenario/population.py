"""The devices of a simulated scenario as a population: a full node only while a device has work.

Flower's simulation engine runs millions of virtual clients by materialising only the clients
of the current round; this is the same idea for edgeledger's devices. A device at rest is a
record of a few bytes: its id (a number, :class:`~edgeledger.node.ids.NumberedIds`), its edge
(arithmetic on that number), its partition (a slice of one shared index array,
:class:`~edgeledger.scenario.network.FLData`) and its counters (``last_round`` below). When a
message or timer reaches it, the population builds the device's :class:`~edgeledger.node.Node`
with the code every node uses (key derived from the scenario seed, the round core, the learner
over the shared model) and hands the event to it; once the node has no pending work the
population folds it back into the record. Events, effects, checks and randomness are those of
a node that lived all along, so chains and metrics are the same bit for bit.

What outlives a materialisation: ``last_round`` (replays of old rounds stay refused), the
round core of a device with a model attack (its attack and random stream advance round by
round) or with a pending direct fetch, and learners that carry state between rounds (an
offloading agent's replay buffer and target network). A device that keeps chain state (an
observer or a light client) or that a caller took hold of (``Network.nodes[id]``) is pinned:
it stays a full node for the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from edgeledger.consensus.pbft.events import ForwardRequest
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.effects import Effect, Send
from edgeledger.fl.learner import Learner, SupervisedLearner
from edgeledger.fl.round.core import DeviceCore
from edgeledger.fl.round.services import DeviceService
from edgeledger.node.center import CENTER_MESSAGES, PeerList, make_registration
from edgeledger.node.gossip import CommittedBlock, FetchCommitted
from edgeledger.node.ids import NumberedIds
from edgeledger.node.node import Node, wire_decoder

__all__ = ["DevicePopulation", "NodeMap", "LearnerMap", "DeviceCoreMap", "DeviceFactory"]

#: ``(node id, kept round core or None, kept learner or None) -> the device's node``
DeviceFactory = Callable[[str, "DeviceCore | None", "Learner | None"], Node]


class _Resting:
    """The host of a device without a node: decodes as a device does, absorbs the center's
    peer list (a node would store it and be folded away at once) and wakes the device for
    anything else."""

    __slots__ = ("population", "node_id")

    def __init__(self, population: DevicePopulation, node_id: str) -> None:
        self.population, self.node_id = population, node_id

    def decode_message(self, data: bytes) -> Any:
        return self.population.decode(data)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, PeerList):
            return []
        return self.population.wake(self.node_id).on_message(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.population.wake(self.node_id).on_timer(name, now)

    def on_undeliverable(self, to: str, message: Any, now: float) -> list[Effect]:
        return self.population.wake(self.node_id).on_undeliverable(to, message, now)


class DevicePopulation:
    """Every device of a scenario; a simulator host group (:class:`~edgeledger.net.sim.HostGroup`).

    Parameters: ``ids`` the device ids; ``build`` makes a device's node (``DeviceFactory``);
    ``scheme``/``seed`` derive a device's key (``f"{seed}/{id}"``, as every node's); ``keys``
    keys already derived for the genesis, used once for the devices' registrations and then
    dropped; ``start_effects`` what a device sends at start besides its registration (the same its
    node's services would: its raw data, when edges train). Devices that keep chain state
    (observers, light clients) are pinned by the caller.
    """

    def __init__(self, ids: NumberedIds, build: DeviceFactory, scheme: str, seed: int,
                 keys: dict[str, PrivateKey] | None = None,
                 start_effects: Callable[[str], list[Effect]] | None = None) -> None:
        self.ids, self.build, self.scheme, self.seed = ids, build, scheme, seed
        self.start_effects = start_effects  # what a resting device sends at start besides its registration
        self.last_round = np.zeros(len(ids), dtype=np.int64)  # the newest round each device trained
        self._keys = dict(keys or {})
        self._nodes: dict[str, Node] = {}  # devices that are full nodes now
        self._pinned: set[str] = set()
        self._cores: dict[str, DeviceCore] = {}  # round cores with state beyond last_round
        self._learners: dict[str, Learner] = {}  # learners with state between rounds
        self._decoder: Callable[[bytes], Any] | None = None
        self._watchers: list[Callable[[Learner], None]] = []
        self.wakes = 0  # materialisations so far (a diagnostic: about one per participant and round)

    # -- the host group --------------------------------------------------------------------
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def host(self, node_id: str) -> Any:
        node = self._nodes.get(node_id)
        return node if node is not None else _Resting(self, node_id)

    def settle(self, node_id: str) -> None:
        """An event for ``node_id`` was handled: fold its node away if it has nothing pending."""
        node = self._nodes.get(node_id)
        if node is None or node_id in self._pinned or node._pending:
            return
        if node.store.height or node.light is not None or node._future_blocks:  # holds chain state now
            self._pinned.add(node_id)
            return
        service: DeviceService | None = node.service(DeviceService)
        if service is None:  # a device that does not train (its edge does): nothing to keep
            del self._nodes[node_id]
            node.store.close()
            return
        core, learner = service.core, service.learner
        self.last_round[self.ids.index(node_id)] = core.last_round
        if core.attack is not None or core.fetching or core.held:  # a model attack, a fetch, a colluder's upload
            self._cores[node_id] = core
        else:
            self._cores.pop(node_id, None)
        if not isinstance(learner, SupervisedLearner):  # e.g. an RL agent: its buffers are its own
            self._learners[node_id] = learner
        del self._nodes[node_id]
        node.store.close()

    def decode(self, data: bytes) -> Any:
        """Decode a message for a resting device with the decoder every device node uses."""
        if self._decoder is None:
            types = CENTER_MESSAGES + (CommittedBlock, FetchCommitted, ForwardRequest) + DeviceService.message_types
            self._decoder = wire_decoder(types)
        return self._decoder(data)

    # -- materialising -----------------------------------------------------------------------
    def key(self, node_id: str) -> PrivateKey:
        """``node_id``'s signing key: derived from the scenario seed whenever it is needed."""
        return self._keys.get(node_id) or derive_key(self.scheme, f"{self.seed}/{node_id}".encode())

    def wake(self, node_id: str) -> Node:
        """``node_id``'s full node (built now unless it is one already)."""
        node = self._nodes.get(node_id)
        if node is not None:
            return node
        if node_id not in self.ids:
            raise KeyError(node_id)
        kept_core, kept_learner = self._cores.get(node_id), self._learners.get(node_id)
        node = self.build(node_id, kept_core, kept_learner)
        service: DeviceService | None = node.service(DeviceService)
        if service is not None and kept_core is None:
            service.core.last_round = int(self.last_round[self.ids.index(node_id)])
        if service is not None and kept_learner is None:
            for watch in self._watchers:
                watch(service.learner)
        self._nodes[node_id] = node
        self.wakes += 1
        return node

    def pin(self, node_id: str) -> Node:
        """``node_id``'s node, kept for the rest of the run (a caller holds it: it must stay the one)."""
        node = self.wake(node_id)
        self._pinned.add(node_id)
        return node

    def start(self, node_id: str) -> list[Effect]:
        """The start-up effects of ``node_id``: a device registers with the center (``Node.start``)."""
        node = self._nodes.get(node_id)
        if node is not None:
            return node.start(0.0)
        key = self._keys.pop(node_id, None) or self.key(node_id)
        extra = self.start_effects(node_id) if self.start_effects is not None else []
        return [Send("center", make_registration(key, node_id, "device", f"sim://{node_id}")), *extra]

    def forget_keys(self) -> None:
        """Drop the keys derived for the genesis (after the start-up registrations)."""
        self._keys.clear()

    def watch_learners(self, watch: Callable[[Learner], None]) -> None:
        """Call ``watch`` on every device learner now held and on each one built later."""
        self._watchers.append(watch)
        awake = [s.learner for n in self._nodes.values() if (s := n.service(DeviceService)) is not None]
        for learner in [*self._learners.values(), *awake]:
            watch(learner)

    @property
    def awake(self) -> int:
        """Devices that are full nodes now (pinned ones included)."""
        return len(self._nodes)

    def core(self, node_id: str) -> DeviceCore:
        return self.pin(node_id).service(DeviceService).core

    def learner(self, node_id: str) -> Learner:
        return self.pin(node_id).service(DeviceService).learner


class NodeMap(Mapping[str, Node]):
    """``node id -> Node`` over the infrastructure nodes and the device population, in the
    topology's order. Looking a device up pins it (see :class:`DevicePopulation`); iterating the
    values therefore builds every device: fine for a demo, not for 100,000 devices."""

    def __init__(self, order: Mapping[str, str], infrastructure: dict[str, Node], devices: DevicePopulation) -> None:
        self.order, self.infrastructure, self.devices = order, infrastructure, devices

    def __getitem__(self, node_id: str) -> Node:
        node = self.infrastructure.get(node_id)
        if node is not None:
            return node
        if node_id in self.devices:
            return self.devices.pin(node_id)
        raise KeyError(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.infrastructure or node_id in self.devices

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class LearnerMap(Mapping[str, Learner]):
    """``node id -> learner``: the cloud's and every device's (a device looked up is pinned)."""

    def __init__(self, own: dict[str, Learner], devices: DevicePopulation) -> None:
        self.own, self.devices = own, devices

    def __getitem__(self, node_id: str) -> Learner:
        if node_id in self.own:
            return self.own[node_id]
        if node_id in self.devices:
            return self.devices.learner(node_id)
        raise KeyError(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.own or node_id in self.devices

    def __iter__(self) -> Iterator[str]:
        yield from self.own
        yield from self.devices.ids

    def __len__(self) -> int:
        return len(self.own) + len(self.devices)


class DeviceCoreMap(Mapping[str, DeviceCore]):
    """``device id -> its round core`` (a device looked up is pinned)."""

    def __init__(self, devices: DevicePopulation) -> None:
        self.devices = devices

    def __getitem__(self, node_id: str) -> DeviceCore:
        if node_id not in self.devices:
            raise KeyError(node_id)
        return self.devices.core(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.devices

    def __iter__(self) -> Iterator[str]:
        return iter(self.devices.ids)

    def __len__(self) -> int:
        return len(self.devices)
