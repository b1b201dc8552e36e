"""The plant scenario end to end: train the predictor, run the plant, attack it, measure it.

:func:`run_plant` builds a :class:`~edgeledger.twins.factory.Factory` and drives the people and
adversaries around it from the observation node's view of the chain (what they would see):

1. the operator (the registry's admin) files the maintenance task's rounds to the computing
   oracle, one per committed model; with the last round on chain the plant goes live;
2. machines report a batch every ``period_s``; the engineer issues commands at random times,
   an intruder tries commanding twins it was never granted;
3. the crew answers every maintenance order: it inspects the machine, repairs it when failure is
   imminent, and the owner closes the order (``repaired`` / ``no-fault``, or ``failed`` when the
   machine broke first); after an attested failure it repairs the machine;
4. one edge's gateway rewrites some batches; the cloud store rewrites some batches before the
   oracle reads them and, after the run, rewrites some attested history; the reader then audits
   every attested reading against the chain.

:class:`PlantReport` holds the measurements; :meth:`PlantReport.figures` the headline numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeledger.crypto.hashing import derive_seed
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import call_log, contract_state, logs_at
from edgeledger.net.sim import Simulator
from edgeledger.oracle.computing import (
    evaluate_model,
    round_params,
    verify_global_model,
)
from edgeledger.oracle.proxy import request_body
from edgeledger.twins.evaluation import (
    MaintenanceScore,
    ScheduleReplay,
    equal_budget_schedule,
    score_events,
)
from edgeledger.twins.factory import (
    PROXY,
    Factory,
    FactoryConfig,
    build_factory,
    link_model,
)
from edgeledger.twins.machine import HOURS_PER_BATCH
from edgeledger.twins.maintenance import HORIZON_HOURS
from edgeledger.twins.records import MAINTENANCE_KIND, REGISTRY
from edgeledger.twins.storage import audit_readings, reading_index

__all__ = ["PlantActors", "PlantReport", "percentile", "run_plant"]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class PlantActors:
    """Operator, engineer, intruder and crew, reacting to the blocks the observation node commits."""

    def __init__(self, factory: Factory) -> None:
        self.f = factory
        self.rng = np.random.default_rng(derive_seed(factory.config.seed, "actors"))
        self.live_at: float | None = None
        self.cmd_submitted: dict[bytes, float] = {}  # command tx id -> submitted at
        self.cmd_at: dict[int, float] = {}  # command id -> submitted at
        self.cmd_done: dict[int, float] = {}  # command id -> first settled ack (or failure) committed
        self.intrusions: set[bytes] = set()
        self.intrusions_refused = 0
        self.reading_delay: list[float] = []
        factory.nodes[factory.observer].commit_listeners.append(self.on_commit)

    def start(self, at: float = 1.0) -> None:
        self.f.sim.call_at(at, self.file_round, 1, b"")

    def file_round(self, round_: int, digest: bytes) -> None:
        f, operator = self.f, self.f.validators[0]
        params = round_params(f.task, round_, digest)
        timestamp_ms = int(f.sim.now * 1000)
        body = request_body(f.chain_id, PROXY, MAINTENANCE_KIND, "maintenance", params, REGISTRY, "set_model",
                            timestamp_ms)
        f.call(operator, "request", [MAINTENANCE_KIND, "maintenance", params, REGISTRY, "set_model", timestamp_ms, 400,
                                     f.keys[operator].sign(body)], contract=PROXY)

    def go_live(self) -> None:
        f, cfg = self.f, self.f.config
        self.live_at = f.sim.now
        f.start_machines()
        span = cfg.hours / HOURS_PER_BATCH * cfg.period_s
        twins = sorted(f.machines)
        for _ in range(cfg.commands):
            twin = twins[int(self.rng.integers(len(twins)))]
            name, args = ("set_speed", [int(self.rng.choice([800, 1000, 1200, 1400]))]) if self.rng.random() < 0.75 \
                else ("set_coolant", [int(self.rng.integers(2))])
            f.sim.call_later(float(self.rng.uniform(0.5, span - 1.0)), self.command, "engineer", twin, name, args)
        for _ in range(cfg.intrusions):
            twin = twins[int(self.rng.integers(len(twins)))]
            f.sim.call_later(float(self.rng.uniform(0.5, span - 1.0)), self.command, "intruder", twin, "set_speed", [0])

    def command(self, user: str, twin: str, name: str, args: list[int]) -> None:
        tx = self.f.call(user, "command", [twin, name, args])
        (self.intrusions.add if user == "intruder" else lambda t: self.cmd_submitted.__setitem__(t, self.f.sim.now))(
            tx.tx_id)

    def on_commit(self, block: Block, receipts: list[Any]) -> None:
        now, view = self.f.sim.now, self.f.view
        for tx, receipt in zip(block.transactions, receipts):
            if tx.tx_id in self.intrusions and not receipt.ok:
                self.intrusions_refused += 1
            if tx.tx_id in self.cmd_submitted and receipt.ok:
                self.cmd_at[call_log(view, tx.tx_id).result] = self.cmd_submitted[tx.tx_id]
        for log in logs_at(view, block.height):
            for ev in log.events:
                if ev.contract == REGISTRY:
                    self._on_event(ev.name, ev.attributes, now)

    def _on_event(self, name: str, a: dict[str, Any], now: float) -> None:
        f = self.f
        if name == "model":
            if a["round"] < f.task.rounds:
                f.sim.call_later(0.0, self.file_round, a["round"] + 1, a["digest"])
            elif self.live_at is None:
                f.sim.call_later(0.0, self.go_live)
        elif name == "reading" and a["current"]:
            state = contract_state(f.view, REGISTRY, f"state/{a['twin']}")
            self.reading_delay.append(now - state["time_ms"] / 1000)
        elif name in ("ack", "ack_missing"):
            settled = name == "ack" or a["status"] == "failed"
            if settled and a["id"] not in self.cmd_done:
                self.cmd_done[a["id"]] = now
        elif name == "maintenance_order":
            device = f.machines[a["twin"]].device
            outcome = "failed" if device.failed else "repaired" if device.inspect(HORIZON_HOURS) else "no-fault"
            f.sim.call_later(0.0, f.call, f.owner[a["twin"]], "close_order", [a["id"], outcome])
        elif name == "failure":
            device = f.machines[a["twin"]].device
            if device.failed:
                device.renew()


@dataclass
class PlantReport:
    config: FactoryConfig
    sim_time_s: float
    live_at: float
    height: int
    command_rtt_s: list[float]
    delivery_rtt_s: list[float]
    command_status: dict[str, int]
    lost_attempts: int
    late_acks: int
    intrusions: int
    intrusions_refused: int
    reading_to_twin_s: list[float]
    attested: int
    refused: dict[str, int]
    tampered: int
    detected: int
    false_alarms: int
    maintenance: MaintenanceScore
    orders_on_chain: dict[str, int]
    baseline_tau_hours: int
    baseline: MaintenanceScore
    model_round: int
    model_accuracy: float
    extra: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        return {
            "command_rtt_s_p50": percentile(self.command_rtt_s, 50), "command_rtt_s_p99": percentile(self.command_rtt_s, 99),
            "delivery_rtt_s_p50": percentile(self.delivery_rtt_s, 50),
            "reading_to_twin_s_p50": percentile(self.reading_to_twin_s, 50),
            "reading_to_twin_s_p99": percentile(self.reading_to_twin_s, 99),
            "tampered_detected_pct": 100.0 * self.detected / self.tampered if self.tampered else float("nan"),
            "tampered_items": float(self.tampered), "false_alarms": float(self.false_alarms),
            "maintenance_precision": self.maintenance.precision, "maintenance_recall": self.maintenance.recall,
            "baseline_precision": self.baseline.precision, "baseline_recall": self.baseline.recall,
            "baseline_tau_hours": float(self.baseline_tau_hours), "maintenance_orders": float(self.maintenance.orders),
            "failures": float(self.maintenance.false_negatives), "model_accuracy": self.model_accuracy,
            "commands_acked": float(self.command_status.get("acked", 0) + self.command_status.get("acked-late", 0)),
            "commands_failed": float(self.command_status.get("failed", 0)), "lost_attempts": float(self.lost_attempts),
            "late_acks": float(self.late_acks),
            "intrusions_refused_pct": 100.0 * self.intrusions_refused / self.intrusions if self.intrusions else float("nan"),
            "sim_time_s": self.sim_time_s,
        }


def _commands(view: Any) -> list[dict[str, Any]]:
    return [contract_state(view, REGISTRY, f"cmd/{i}") for i in range(1, contract_state(view, REGISTRY, "cmd_seq", 0) + 1)]


def _detection(f: Factory, view: Any, findings: list[Any]) -> tuple[int, int, int, dict[str, int]]:
    liar = [(t, s) for core in f.gateways.values() if core.tamper is not None for t, s in core.tamper.tampered]
    refused: dict[tuple[str, int], Any] = {}
    for twin, host in f.machines.items():
        for seq in range(1, host.device.seq + 1):
            entry = contract_state(view, REGISTRY, f"refused/{twin}/{seq}")
            if entry is not None:
                refused[(twin, seq)] = entry
    flagged = {entry[0] for entry in refused.values()} | {finding.digest for finding in findings}
    detected = sum(1 for key in liar if key in refused) + sum(1 for d in f.store.tampered if d in flagged)
    tampered_keys = set(liar)
    false_alarms = sum(1 for key, entry in refused.items() if key not in tampered_keys and entry[0] not in f.store.tampered)
    false_alarms += sum(1 for finding in findings if finding.digest not in f.store.tampered)
    return len(liar) + len(f.store.tampered), detected, false_alarms, dict(Counter(e[1] for e in refused.values()))


def _baseline(f: Factory, orders: int) -> tuple[int, MaintenanceScore]:
    fleet = []
    for twin, host in sorted(f.machines.items()):
        changes = tuple((ev.hour, ev.kind, ev.detail) for ev in host.device.events if ev.kind.startswith("set_"))
        fleet.append(ScheduleReplay(twin, host.device.company, derive_seed(f.config.seed, "machine", twin),
                                    host.device.total_hours, changes))
    return equal_budget_schedule(fleet, orders, f.config.history.model)


def run_plant(config: FactoryConfig | None = None, tail_s: float = 4.0) -> tuple[PlantReport, Factory]:
    """Run the plant scenario of ``config`` to the end; the report and the factory (its chain, store, hosts)."""
    cfg = config or FactoryConfig()
    sim = Simulator(cfg.seed, link_model(cfg))
    f = build_factory(sim, cfg)
    actors = PlantActors(f)
    actors.start()
    sim.run(until=600.0, stop=lambda: actors.live_at is not None)
    if actors.live_at is None:
        raise RuntimeError(f"the maintenance model never reached round {cfg.fl_rounds} on chain")
    span = cfg.hours / HOURS_PER_BATCH * cfg.period_s
    sim.run(until=actors.live_at + span + tail_s)
    view = f.view
    rewrite = np.random.default_rng(derive_seed(cfg.seed, "rewrite"))
    for twin in sorted(f.machines):
        for _, digest, _ in reading_index(view, twin):
            if rewrite.random() < cfg.store_rewrite_rate:
                f.store.tamper(digest)
    audit = audit_readings(view, f.store.fetch)
    tampered, detected, false_alarms, refused = _detection(f, view, audit.findings)
    commands = _commands(view)
    attempts = [a for c in commands for a in c["attempts"]]
    score = MaintenanceScore(0, 0, 0)
    for host in f.machines.values():
        score = score + score_events(host.device.events)
    orders = Counter(contract_state(view, REGISTRY, f"order/{i}")["outcome"] or "open"
                     for i in range(1, contract_state(view, REGISTRY, "order_seq", 0) + 1))
    tau, baseline = _baseline(f, score.orders)
    model = contract_state(view, REGISTRY, "model")
    accuracy = evaluate_model(f.task, verify_global_model(f.nodes[f.edges[0]].blobs, model[0]))
    report = PlantReport(
        config=cfg, sim_time_s=sim.now, live_at=actors.live_at,
        height=f.nodes[f.observer].store.height,
        command_rtt_s=[actors.cmd_done[i] - t for i, t in sorted(actors.cmd_at.items()) if i in actors.cmd_done
                       and contract_state(view, REGISTRY, f"cmd/{i}")["status"] in ("acked", "acked-late")],
        delivery_rtt_s=[a[2] / 1e6 for a in attempts if a[1] == "acked"],
        command_status=dict(Counter(c["status"] for c in commands)),
        lost_attempts=sum(1 for a in attempts if a[1] == "lost"), late_acks=sum(1 for a in attempts if a[1] == "late"),
        intrusions=len(actors.intrusions), intrusions_refused=actors.intrusions_refused,
        reading_to_twin_s=actors.reading_delay,
        attested=sum(contract_state(view, REGISTRY, f"stats/{t}", [0, 0, 0])[0] for t in f.machines),
        refused=refused, tampered=tampered, detected=detected, false_alarms=false_alarms, maintenance=score,
        orders_on_chain=dict(orders), baseline_tau_hours=tau, baseline=baseline, model_round=model[1],
        model_accuracy=accuracy, extra={"audit_checked": audit.checked, "audit_findings": len(audit.findings)})
    return report, f
