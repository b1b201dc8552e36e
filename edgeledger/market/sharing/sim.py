"""Task sharing over the simulator: request-to-result latency vs edge servers and vs the cloud.

One seed decides the run: the servers' loads, which of them have become busier since their
report (and so decline), and the payloads. The consortium is the cloud plus ``n_edges``
edge servers, all PBFT sealers (Fabric's peers); edges share a metro LAN, the cloud is one
WAN hop away. Each task runs the whole workflow of :mod:`edgeledger.market.sharing.core`;
then the same payload is sent to the cloud instead (no chain), for comparison. Invariants
checked after the run: every task settled with a checked result, the payload reached only
the contracted volunteer, and no ledger holds payload bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from statistics import mean

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Metric
from edgeledger.errors import ConfigError, InvariantViolation
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.market.sharing.core import CloudMonitorCore, EdgeServerCore
from edgeledger.market.sharing.service import CloudSharingService, EdgeSharingService
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.node import Node

__all__ = ["SharingConfig", "SharingRun", "run_task_sharing", "latency_table"]


@dataclass(frozen=True)
class SharingConfig:
    """Settings of one run; defaults model a metro MEC deployment (LAN 1 ms, WAN 40 ms)."""

    n_edges: int = 8
    seed: int = 1
    tasks: int = 3
    payload_bytes: int = 2_000_000
    need: int = 20  # load units a task adds; capacity 100 per server
    capacity: int = 100
    edge_s_per_mb: float = 0.1  # compute seconds per MB of payload at an edge server
    cloud_s_per_mb: float = 0.05  # the cloud computes twice as fast
    lan_latency_ms: float = 1.0
    lan_mbps: float = 1000.0
    wan_latency_ms: float = 40.0
    wan_mbps: float = 50.0
    shortlist_k: int = 3
    batch_timeout_s: float = 0.005
    msg_cost_ms: float = 0.25  # a node handles one message at a time: signature check (~0.14 ms) + work
    max_sim_time_s: float = 120.0

    def __post_init__(self) -> None:
        if self.n_edges < 3:
            raise ConfigError(f"task sharing needs n_edges >= 3 (PBFT n >= 4 with the cloud), got {self.n_edges}")
        if self.tasks < 1 or self.payload_bytes < 1:
            raise ConfigError(f"tasks and payload_bytes must be >= 1, got {self.tasks}, {self.payload_bytes}")


@dataclass
class SharingRun:
    config: SharingConfig
    loads: dict[str, int]
    sharing_latency_s: list[float] = field(default_factory=list)  # request -> checked result
    settled_latency_s: list[float] = field(default_factory=list)  # request -> settled on chain
    cloud_latency_s: list[float] = field(default_factory=list)
    volunteers: list[str] = field(default_factory=list)
    declined: int = 0
    blocks: int = 0
    bytes_sent: int = 0

    def summary(self) -> dict[str, float | int]:
        return {"n_edges": self.config.n_edges, "sharing_latency_s": round(mean(self.sharing_latency_s), 4),
                "settled_latency_s": round(mean(self.settled_latency_s), 4),
                "cloud_latency_s": round(mean(self.cloud_latency_s), 4), "blocks": self.blocks,
                "declined": self.declined}


class _Processing:
    """Wrap a node so it handles one input at a time, each message costing ``cost_s`` of CPU.

    The simulator's links model the network only; this queue is what makes PBFT's O(n^2)
    messages cost time as the consortium grows (inputs keep their arrival order).
    """

    def __init__(self, node: Node, sim: Simulator, cost_s: float) -> None:
        self.node, self.sim, self.cost_s = node, sim, cost_s
        self.node_id = node.node_id
        self.busy_until = 0.0

    def decode_message(self, data: bytes) -> object:
        return self.node.decode_message(data)

    def _queue(self, cost: float, handle: Callable[[float], list]) -> list:
        self.busy_until = max(self.sim.now, self.busy_until) + cost
        self.sim.call_at(self.busy_until, lambda: self.sim.apply(self.node_id, handle(self.sim.now)))
        return []

    def on_message(self, sender: str, message: object, now: float) -> list:
        return self._queue(self.cost_s, lambda t: self.node.on_message(sender, message, t))

    def on_timer(self, name: str, now: float) -> list:
        return self._queue(0.0, lambda t: self.node.on_timer(name, t))


def _edge_ids(n: int) -> list[str]:
    return [f"edge{i:02d}" for i in range(n)]


def _build(cfg: SharingConfig, rng: random.Random) -> tuple[dict[str, Node], dict[str, int]]:
    edges = _edge_ids(cfg.n_edges)
    roles = {e: "edge" for e in edges} | {"cloud": "cloud"}
    keys = {n: derive_key("ed25519", f"{cfg.seed}/{n}".encode()) for n in roles}
    genesis = Genesis(chain_id="task-sharing", validators=edges + ["cloud"],
                      identities=[Identity(node_id=n, role=r, scheme="ed25519", public_key=keys[n].public_key)
                                  for n, r in roles.items()])
    membership = Membership(genesis)
    g = genesis_hash(genesis)
    pbft = PbftConfig(batch_timeout_s=cfg.batch_timeout_s)
    loads = {e: rng.randint(10, 70) for e in edges}
    loads[edges[0]] = cfg.capacity  # the requester is full
    nodes: dict[str, Node] = {}
    for n, role in roles.items():
        node = Node(node_id=n, role=role, key=keys[n], membership=membership, store=ChainStore(":memory:"),
                    consensus=PbftReplica(n, keys[n], membership, g, pbft), address=f"sim://{n}")
        per_byte = (cfg.cloud_s_per_mb if role == "cloud" else cfg.edge_s_per_mb) / 1e6
        node.compute_time = lambda job, result, k=per_byte: len(job.payload) * k
        if role == "cloud":
            node.add_service(CloudSharingService(CloudMonitorCore(n, keys[n], shortlist_k=cfg.shortlist_k),
                                                 node.state))
        else:
            core = EdgeServerCore(n, keys[n], capacity=cfg.capacity, load=loads[n])
            node.add_service(EdgeSharingService(core, node.state))
        nodes[n] = node
    return nodes, loads


def run_task_sharing(cfg: SharingConfig, log: Callable[[str], None] | None = None) -> SharingRun:
    """Run ``cfg.tasks`` shared tasks then as many cloud tasks; raises InvariantViolation if one fails."""
    rng = random.Random(cfg.seed)
    nodes, loads = _build(cfg, rng)
    if log:
        log(f"task sharing seed={cfg.seed}: {asdict(cfg)}; loads={loads}")
    lan = Link(cfg.lan_latency_ms / 1000, cfg.lan_mbps * 1e6)
    wan = Link(cfg.wan_latency_ms / 1000, cfg.wan_mbps * 1e6)
    metrics: list[tuple[str, Metric]] = []
    sim = Simulator(cfg.seed, lambda a, b: wan if "cloud" in (a, b) else lan,
                    on_metric=lambda node, m, now: metrics.append((node, m)))
    for node in nodes.values():
        sim.add_host(_Processing(node, sim, cfg.msg_cost_ms / 1000))
    for n, node in nodes.items():
        sim.start(n, node.start(0.0))
    requester = _edge_ids(cfg.n_edges)[0]
    req_node = nodes[requester]
    service: EdgeSharingService = req_node.service(EdgeSharingService)
    run = SharingRun(cfg, loads)

    def reported() -> bool:
        from edgeledger.ledger.contracts import contract_state

        return len(contract_state(req_node.state.kv, "tasks", "loads", {})) == cfg.n_edges

    sim.run(until=cfg.max_sim_time_s, stop=reported)
    _drift_local_loads(nodes, requester, rng)
    for i in range(cfg.tasks):
        for to_cloud in (False, True):
            task_id = f"{'c' if to_cloud else 't'}{i}"
            payload = rng.randbytes(cfg.payload_bytes)
            service.plan(task_id, payload, cfg.need, to_cloud)
            name = f"share.go:{task_id}"
            sim.call_at(sim.now, lambda name=name: sim.apply(requester, req_node.on_timer(name, sim.now)))
            done = "cloud_done" if to_cloud else "settled"
            sim.run(until=sim.now + cfg.max_sim_time_s,
                    stop=lambda t=task_id, d=done: t in service.core.tasks and service.core.tasks[t].phase == d)
            task = service.core.tasks.get(task_id)
            if task is None or task.phase != done:
                raise InvariantViolation(f"task {task_id} ended {task.phase if task else 'unstarted'}, expected "
                                         f"{done}; replay with seed={cfg.seed} n_edges={cfg.n_edges}")
            if to_cloud:
                run.cloud_latency_s.append(task.times["cloud_done"] - task.started)
            else:
                run.sharing_latency_s.append(task.times["result_checked"] - task.started)
                run.settled_latency_s.append(task.times["settled"] - task.started)
                run.volunteers.append(task.volunteer)
    _check_privacy(nodes, service, run)
    run.declined = sum(1 for _, m in metrics if m.name == "market.task_declined")
    run.blocks = req_node.store.height
    run.bytes_sent = sim.total_bytes()
    return run


def _drift_local_loads(nodes: dict[str, Node], requester: str, rng: random.Random) -> None:
    """Since their reports, some servers got busier: their local load now decides (they may decline)."""
    for n, node in sorted(nodes.items()):
        svc = node.service(EdgeSharingService)
        if svc is not None and n != requester and rng.random() < 0.5:
            svc.core.load = min(svc.core.capacity, svc.core.load + rng.randint(10, 60))


def _check_privacy(nodes: dict[str, Node], requester: EdgeSharingService, run: SharingRun) -> None:
    payloads = {t.task_id: t.payload for t in requester.core.tasks.values() if not t.task_id.startswith("c")}
    for n, node in nodes.items():
        svc = node.service(EdgeSharingService)
        got = svc.core.payloads_received if svc is not None else []
        for task_id in got:
            if requester.core.tasks[task_id].volunteer != n:
                raise InvariantViolation(f"payload of {task_id} reached {n}, not its volunteer")
        for value in node.state.kv.values():
            if any(p[:64] in value for p in payloads.values()):
                raise InvariantViolation(f"payload bytes found in the ledger state of {n}")


def latency_table(edge_counts: list[int], seed: int = 1, tasks: int = 3, **overrides: object) -> list[dict]:
    """One summary row per edge count (the same seed for each)."""
    return [run_task_sharing(SharingConfig(n_edges=n, seed=seed, tasks=tasks, **overrides)).summary()  # type: ignore[arg-type]
            for n in edge_counts]
