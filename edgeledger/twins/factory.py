"""A plant on one local chain inside the discrete-event simulator: SewingChain's five layers at once.

:func:`build_factory` adds to a :class:`Simulator`: PBFT validators (the companies' sealers),
one edge host per edge (an oracle member of the Pedal group *and* that edge's gateway, two
identities on one node), an observation node (follows the chain, serves reads), and one
simulated machine per twin (:class:`MachineHost`: sensor and actuator). Accounts without a
process -- the owner companies, the plant engineer and an intruder -- submit through the first
validator, as a client would. Setup goes through consensus like any transaction: the oracle
proxy and the twin registry, oracle registrations and the group, every twin, the engineer's grants.

The storage layer is one :class:`CloudStore` the gateways write and the oracle members read
(direct calls: the simulator models no latency for it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.hashing import derive_seed
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.effects import Effect, Send, SetTimer
from edgeledger.ledger.blobs import MemoryBlobStore
from edgeledger.ledger.contracts import ContractCall, ContractDeploy
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.node import Node, wire_decoder
from edgeledger.oracle.enrollment import (
    deal_groups,
    group_call,
    oracle_keys,
    registration_call,
)
from edgeledger.oracle.pedal import FetchJob, PedalConfig, PedalCore
from edgeledger.oracle.proxy import PROXY_CODE
from edgeledger.oracle.service import OracleService, WorkResult
from edgeledger.twins.attestation import reading_work
from edgeledger.twins.gateway import BatchTamper, GatewayCore, TwinGatewayService
from edgeledger.twins.machine import MACHINE_COMMANDS, MACHINE_SENSORS, MachineDevice
from edgeledger.twins.maintenance import (
    HistorySpec,
    RiskScorer,
    maintenance_aggregation,
    maintenance_task,
    maintenance_work,
    task_digest,
)
from edgeledger.twins.records import (
    MAINTENANCE_KIND,
    READING_KIND,
    REGISTRY,
    REGISTRY_CODE,
    ActuatorCommand,
)
from edgeledger.twins.storage import CloudStore

__all__ = ["COMPANIES", "PROXY", "Factory", "FactoryConfig", "MachineHost", "build_factory", "link_model", "work_by_kind"]

PROXY = "oracle"
log = logging.getLogger("edgeledger.twins")
COMPANIES = ("acme", "bolt", "cogs")


@dataclass(frozen=True)
class FactoryConfig:
    seed: int = 7
    edges: int = 3
    machines_per_edge: int = 3
    validators: int = 4
    hours: int = 480  # operating hours each machine runs
    period_s: float = 0.5  # simulated seconds per sensor batch (8 operating hours)
    ack_timeout_s: float = 0.3
    max_attempts: int = 3
    risk_threshold_milli: int = 700
    lying_edge: int | None = 1  # this edge's gateway rewrites some batches (None: every gateway is honest)
    lying_rate: float = 0.15
    lossy_machine: int | None = 0  # the link to this machine loses messages
    link_loss: float = 0.3
    sluggish_machine: int | None = 2  # this actuator answers some commands after the gateway's timeout
    sluggish_delay_s: float = 0.45
    store_tamper_rate: float = 0.03  # share of stored batches the cloud rewrites before the oracle reads them
    store_rewrite_rate: float = 0.03  # share it rewrites after they are attested (found by the reader's audit)
    commands: int = 24
    intrusions: int = 4
    fl_rounds: int = 5
    fl_epochs: int = 5
    history: HistorySpec = HistorySpec()
    latency_s: float = 0.005  # chain links
    device_latency_s: float = 0.002  # machine <-> edge gateway


@dataclass
class MachineHost:
    """A simulated machine: a sensor batch every ``period_s`` to its gateway, commands from it."""

    node_id: str
    device: MachineDevice
    edge: str
    period_s: float
    hours: int
    ack_delay: Callable[[ActuatorCommand], float] = lambda cmd: 0.0
    pending: dict[str, Any] = field(default_factory=dict)
    sent: int = 0

    def __post_init__(self) -> None:
        self._decode = wire_decoder((ActuatorCommand,))

    def decode_message(self, data: bytes) -> Any:
        return self._decode(data)

    def start(self) -> list[Effect]:
        return [SetTimer("twin.tick", self.period_s)]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name == "twin.tick":
            if self.device.total_hours >= self.hours:
                return []
            self.sent += 1
            return [Send(self.edge, self.device.next_batch(round(now * 1000))), SetTimer("twin.tick", self.period_s)]
        ack = self.pending.pop(name, None)
        return [Send(self.edge, ack)] if ack is not None else []

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if sender != self.edge or not isinstance(message, ActuatorCommand):
            return []
        ack = self.device.on_command(message)
        delay = self.ack_delay(message)
        if delay <= 0:
            return [Send(self.edge, ack)]
        name = f"twin.ack:{message.command_id}:{message.attempt}"
        self.pending[name] = ack
        return [SetTimer(name, delay)]


@dataclass
class Factory:
    config: FactoryConfig
    sim: Simulator
    chain_id: str
    nodes: dict[str, Node]
    keys: dict[str, PrivateKey]
    validators: list[str]
    edges: list[str]
    gateways: dict[str, GatewayCore]  # edge node id -> its gateway core
    machines: dict[str, MachineHost]  # twin id -> host
    owner: dict[str, str]  # twin id -> company
    observer: str
    store: CloudStore
    task: Any
    nonces: dict[str, int] = field(default_factory=dict)

    def tx(self, sender: str, kind: str, payload: Any) -> Transaction:
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)

    def submit(self, sender: str, tx: Transaction, at: float | None = None, via: str | None = None) -> None:
        """Hand ``tx`` to a node (the sender's own, or the first validator for accounts)."""
        host = sender if sender in self.nodes else (via or self.validators[0])

        def go() -> None:
            self.sim.apply(host, self.nodes[host].submit(tx, self.sim.now))

        self.sim.call_at(self.sim.now if at is None else at, go)

    def call(self, sender: str, method: str, args: list[Any], at: float | None = None,
             contract: str = REGISTRY) -> Transaction:
        tx = self.tx(sender, "contract.call", ContractCall(contract=contract, method=method, args=args))
        self.submit(sender, tx, at)
        return tx

    @property
    def view(self) -> Any:
        return self.nodes[self.observer].state.kv

    def start_machines(self) -> None:
        for host in self.machines.values():
            self.sim.apply(host.node_id, host.start())


def work_by_kind(works: dict[str, Callable[[FetchJob], WorkResult]]) -> Callable[[FetchJob], WorkResult]:
    """One node's ``work``: the function registered for the request's kind. Other kinds, and work that
    fails, give an empty value (no observation this node can vouch for), never a dead node."""
    def work(job: FetchJob) -> WorkResult:
        fn = works.get(job.request.kind)
        if fn is None:
            return WorkResult(b"", 0.0)
        try:
            return fn(job)
        except Exception:
            log.exception("%s: local work for %s failed", job.node_id, job.request.request_id)
            return WorkResult(b"", 0.0)
    return work


def _identities(cfg: FactoryConfig, chain: str) -> dict[str, str]:
    roles = {f"{chain}.v{i}": "company" for i in range(cfg.validators)}
    roles.update({f"{chain}.e{k}": "oracle" for k in range(cfg.edges)})
    roles.update({f"{chain}.gw{k}": "gateway" for k in range(cfg.edges)})
    roles.update({c: "company" for c in COMPANIES[: max(1, min(cfg.edges, len(COMPANIES)))]})
    roles.update({"engineer": "operator", "intruder": "operator", f"{chain}.obs": "observer"})
    return roles


def build_factory(sim: Simulator, cfg: FactoryConfig, chain: str = "plant") -> Factory:
    """Add the plant's hosts to ``sim`` and schedule its setup; machines start with :meth:`Factory.start_machines`."""
    seed = derive_seed(cfg.seed, "factory").to_bytes(8, "big") * 3
    roles = _identities(cfg, chain)
    keys = {n: derive_key("ed25519", seed + n.encode()) for n in roles}
    validators = [n for n in roles if n.startswith(f"{chain}.v")]
    edges = [f"{chain}.e{k}" for k in range(cfg.edges)]
    observer = f"{chain}.obs"
    genesis = Genesis(chain_id=chain, validators=validators, identities=[
        Identity(node_id=n, role=r, scheme="ed25519", public_key=keys[n].public_key) for n, r in roles.items()])
    membership = Membership(genesis)
    followers = tuple(edges) + (observer,)
    pbft = PbftConfig(max_block_txs=200, batch_timeout_s=0.05)
    nodes: dict[str, Node] = {}
    for n in validators + edges + [observer]:
        is_v = n in validators
        nodes[n] = Node(node_id=n, role=roles[n], key=keys[n], membership=membership, store=ChainStore(":memory:"),
                        consensus=PbftReplica(n, keys[n], membership, genesis_hash(genesis), pbft) if is_v else None,
                        validator=None if is_v else validators[0], observers=followers if is_v else (), center=None,
                        blobs=MemoryBlobStore())
    store = CloudStore(cfg.store_tamper_rate, np.random.default_rng(derive_seed(cfg.seed, "cloud")))
    companies = [c for c in COMPANIES if c in roles]
    task = maintenance_task(cfg.history, rounds=cfg.fl_rounds, epochs=cfg.fl_epochs)
    okeys = {e: oracle_keys(seed, e) for e in edges}
    (group,), shares = deal_groups({"g0": edges}, random.Random(derive_seed(cfg.seed, "dealer")))
    machines: dict[str, MachineHost] = {}
    owner: dict[str, str] = {}
    gateways: dict[str, GatewayCore] = {}
    for k, e in enumerate(edges):
        devices = {}
        for j in range(cfg.machines_per_edge):
            index = k * cfg.machines_per_edge + j
            twin = f"m{index}"
            host_id = f"{chain}.m{index}"
            devices[twin] = host_id
            owner[twin] = companies[k % len(companies)]
            device = MachineDevice(twin, derive_key("ed25519", seed + f"sensor-{twin}".encode()),
                                   derive_key("ed25519", seed + f"actuator-{twin}".encode()), chain, REGISTRY,
                                   company=k % len(companies), model=cfg.history.model,
                                   rng=np.random.default_rng(derive_seed(cfg.seed, "machine", twin)))
            delays = np.random.default_rng(derive_seed(cfg.seed, "sluggish", twin))
            slow = index == cfg.sluggish_machine
            machines[twin] = MachineHost(host_id, device, e, cfg.period_s, cfg.hours, ack_delay=(
                (lambda cmd, d=delays: cfg.sluggish_delay_s if cmd.attempt == 1 and d.random() < 0.5 else 0.0)
                if slow else (lambda cmd: 0.0)))
            sim.add_host(machines[twin])
        tamper = BatchTamper(cfg.lying_rate, np.random.default_rng(derive_seed(cfg.seed, "liar"))) \
            if k == cfg.lying_edge else None
        gw = f"{chain}.gw{k}"
        gateways[e] = GatewayCore(gw, keys[gw], chain, devices, proxy=PROXY, ack_timeout_s=cfg.ack_timeout_s,
                                  max_attempts=cfg.max_attempts, tamper=tamper)
    factory = Factory(cfg, sim, chain, nodes, keys, validators, edges, gateways, machines, owner, observer, store, task)
    factory.nonces.update({e: 1 for e in edges})  # each edge's registration uses nonce 1; its Pedal core goes on
    config = PedalConfig(proxy=PROXY, seed=seed)
    for k, e in enumerate(edges):
        node = nodes[e]
        scorer = RiskScorer(node.blobs, store.fetch)
        liar = gateways[e].tamper is not None
        work = work_by_kind({
            READING_KIND: reading_work(store.fetch, lambda node=node: node.state.kv, scorer, 0.01,
                                       check_signature=not liar),
            MAINTENANCE_KIND: maintenance_work(node.blobs, cfg.history, k, 1.0, store.fetch)})
        core = PedalCore(e, keys[e], membership, config, okeys[e].vrf_secret, {o: okeys[o].vrf_public for o in edges},
                         [group], shares.get(e, {}), nonce=1,
                         aggregators={MAINTENANCE_KIND: maintenance_aggregation(node.blobs)})
        node.add_service(OracleService(core, work, lambda node=node: node.state.kv))
        node.add_service(TwinGatewayService(gateways[e], lambda node=node: node.state.kv, store.put))
        node.compute_time = lambda job, result: getattr(result, "duration_s", 0.0)
    for n, node in nodes.items():
        sim.add_host(node)
        sim.start(n, node.start(0.0))
    operator = validators[0]
    factory.submit(operator, factory.tx(operator, "contract.deploy", ContractDeploy(
        name=PROXY, code=PROXY_CODE, version=1, args=[seed, 1000, 1000])))
    factory.submit(operator, factory.tx(operator, "contract.deploy", ContractDeploy(
        name=REGISTRY, code=REGISTRY_CODE, version=1,
        args=[PROXY, cfg.risk_threshold_milli, cfg.max_attempts, task_digest(task)])))
    for e in edges:
        factory.submit(e, make_transaction(keys[e], e, 1, "contract.call", registration_call(PROXY, okeys[e])), at=0.2)
    factory.submit(operator, factory.tx(operator, "contract.call", group_call(PROXY, group)), at=0.5)
    for twin, host in machines.items():
        dev = host.device
        factory.call(owner[twin], "add_twin", [twin, "machine", host.edge, gateways[host.edge].gateway_id,
                                               dev.sensor_key.public_key, dev.actuator_key.public_key,
                                               MACHINE_SENSORS, MACHINE_COMMANDS], at=0.5)
        factory.call(owner[twin], "grant", [twin, "engineer"], at=0.8)
    return factory


def link_model(cfg: FactoryConfig, chain: str = "plant") -> Callable[[str, str], Link]:
    """Chain links of ``latency_s``; machine links of ``device_latency_s``, the lossy machine's with loss."""
    lossy = f"{chain}.m{cfg.lossy_machine}" if cfg.lossy_machine is not None else None

    def link(a: str, b: str) -> Link:
        if a.startswith(f"{chain}.m") or b.startswith(f"{chain}.m"):
            return Link(latency_s=cfg.device_latency_s, bandwidth_bps=100e6,
                        loss=cfg.link_loss if lossy in (a, b) else 0.0)
        return Link(latency_s=cfg.latency_s, bandwidth_bps=1e9)

    return link

