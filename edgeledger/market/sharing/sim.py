"""Task sharing over the simulator: request-to-result latency vs edge servers and vs the cloud.

One seed decides the run: the servers' loads, which of them have become busier since their
report (and so decline), and the payloads. The consortium is the cloud plus ``n_edges``
edge servers, all PBFT sealers and endorsing peers (Fabric's peers: every contract call is
endorsed by two of them before ordering); edges share a metro LAN, the cloud is one WAN hop
away. Each task runs the whole workflow of :mod:`edgeledger.market.sharing.core`; then the
same payload is sent to the cloud instead (no chain), for comparison. Invariants checked
after the run: every task settled with a checked result, the payload reached only the
contracted volunteer, no ledger holds payload bytes or the task's private details (only
their hashes), exactly the two parties hold the details, the volunteer was paid its metered
usage at its price and the tokens are conserved.
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
from edgeledger.ledger.contracts import contract_state, implicit_collection
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.market.sharing.core import CloudMonitorCore, EdgeServerCore
from edgeledger.market.sharing.service import CloudSharingService, EdgeSharingService
from edgeledger.market.sharing.contract import details_key
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.endorsing import EndorserService
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
    balance: int = 100_000  # tokens each edge server starts with
    unit_price: int = 1  # tokens per metered unit (a millisecond of compute) a volunteer asks
    max_unit_price: int = 2  # the most a requester pays per unit
    max_units: int = 1000  # metered units a requester escrows for

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
    paid: list[int] = field(default_factory=list)  # tokens paid per settled task (unit price x metered units)
    mvcc_resubmitted: int = 0  # calls the chain marked MVCC_READ_CONFLICT, endorsed again and resubmitted
    declined: int = 0
    blocks: int = 0
    bytes_sent: int = 0

    def summary(self) -> dict[str, float | int]:
        return {"n_edges": self.config.n_edges, "sharing_latency_s": round(mean(self.sharing_latency_s), 4),
                "settled_latency_s": round(mean(self.settled_latency_s), 4),
                "cloud_latency_s": round(mean(self.cloud_latency_s), 4), "blocks": self.blocks,
                "declined": self.declined, "paid_tokens": sum(self.paid), "mvcc_resubmitted": self.mvcc_resubmitted}


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
        peer = EndorserService(n, keys[n], node.state)  # first: its private data is stored before the workflow reads it
        node.add_service(peer)
        if role == "cloud":
            node.add_service(CloudSharingService(CloudMonitorCore(
                n, keys[n], shortlist_k=cfg.shortlist_k, servers=edges, balance=cfg.balance, co_endorser=edges[0],
                local=peer.endorse), node.state))
        else:
            buddy = edges[(edges.index(n) + 1) % len(edges)]  # a fellow server co-endorses our own calls (LAN)
            core = EdgeServerCore(n, keys[n], capacity=cfg.capacity, load=loads[n], buddy=buddy,
                                  unit_price=cfg.unit_price, max_unit_price=cfg.max_unit_price,
                                  max_units=cfg.max_units, local=peer.endorse, private=peer.private.view)
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
        return all(contract_state(req_node.state.kv, "tasks", f"load/{e}") is not None for e in _edge_ids(cfg.n_edges))

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
                run.paid.append(service.core.paid[task_id])
    _check_privacy(nodes, service, run)
    _check_payments(nodes, service, cfg)
    run.mvcc_resubmitted = sum(n.service(EdgeSharingService).core.client.endorsing.resubmitted
                               for n in nodes.values() if n.service(EdgeSharingService) is not None)
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
    """Payload bytes only between the parties; the details (payload digest) as hashes on chain and in
    plaintext only in the two parties' private data."""
    shared = [t for t in requester.core.tasks.values() if not t.task_id.startswith("c")]
    for n, node in nodes.items():
        svc = node.service(EdgeSharingService)
        got = svc.core.payloads_received if svc is not None else []
        for task_id in got:
            if requester.core.tasks[task_id].volunteer != n:
                raise InvariantViolation(f"payload of {task_id} reached {n}, not its volunteer")
        for value in node.state.kv.values():
            if any(t.payload[:64] in value or t.payload_digest in value for t in shared):
                raise InvariantViolation(f"payload bytes or a task's private details found in the ledger state of {n}")
        store = node.service(EndorserService).private
        for t in shared:
            parties = (t.requester, t.volunteer)
            held = [m for m in parties if store.view("tasks", implicit_collection(m), details_key(t.task_id))]
            if (n in parties) != bool(held) or any(m != n for m in held):
                raise InvariantViolation(f"{n} holds the private details of {t.task_id} of {held}; parties {parties}")


def _check_payments(nodes: dict[str, Node], requester: EdgeSharingService, cfg: SharingConfig) -> None:
    """Each settled task paid its metered units at the volunteer's price; no token was made or lost."""
    kv = nodes["cloud"].state.kv
    for t in requester.core.tasks.values():
        if t.phase != "settled":
            continue
        record = contract_state(kv, "tasks", f"task/{t.task_id}")
        if record["paid"] != record["unit_price"] * record["units"] or record["paid"] + record["refunded"] != \
                record["escrow"]:
            raise InvariantViolation(f"task {t.task_id} settled with {record}")
    total = sum(contract_state(kv, "tasks", f"balance/{e}", 0) for e in _edge_ids(cfg.n_edges))
    held = sum(r["escrow"] for t in requester.core.tasks.values()
               if (r := contract_state(kv, "tasks", f"task/{t.task_id}")) and r["status"] in ("agreed", "contracted",
                                                                                          "result_submitted"))
    if total + held != cfg.n_edges * cfg.balance:
        raise InvariantViolation(f"tokens not conserved: balances {total} + escrow {held} != "
                                 f"{cfg.n_edges} x {cfg.balance}")


def latency_table(edge_counts: list[int], seed: int = 1, tasks: int = 3, **overrides: object) -> list[dict]:
    """One summary row per edge count (the same seed for each)."""
    return [run_task_sharing(SharingConfig(n_edges=n, seed=seed, tasks=tasks, **overrides)).summary()  # type: ignore[arg-type]
            for n in edge_counts]
