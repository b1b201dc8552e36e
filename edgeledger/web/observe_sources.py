"""Where the /observe dashboard gets its data: a live node, or a finished simulation run.

Both sources answer the same questions (overview, latest blocks, one block with its Merkle
proofs, one transaction, the time series) so a simulation and a deployment look alike in the
browser. The overview carries what EdgeToll's information port shows beside the chain: pending
transactions, transactions per day, every node's height and view; and what an FL operator
needs: the declared attackers, the tampering edges and every rejected upload or download.
"""

from __future__ import annotations

import csv
import json
import tomllib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeledger.codec import encode, to_builtins
from edgeledger.consensus.pow.finality import WorkFinality
from edgeledger.crypto.merkle import merkle_proof
from edgeledger.web.observe_series import LiveRecorder, TxPerPeriod, series_json, tx_per_day

__all__ = ["ObserveSource", "LiveSource", "RunSource", "DashboardPlan", "SHOWN_DEVICES"]

SHOWN_DEVICES = 48  # the topology and node table show this many devices; the rest are counted
RECENT = 15


@dataclass(frozen=True)
class DashboardPlan:
    """What the /observe dashboard asks of a topology: every member's role and the validators.

    A scenario's :class:`~edgeledger.scenario.topology.Topology` answers the same questions.
    """

    roles: dict[str, str]
    validators: list[str]
    edge_of: dict[str, str] = field(default_factory=dict)
    malicious: dict[str, str] = field(default_factory=dict)


def _shown_members(roles: Any) -> tuple[list[tuple[str, str]], int]:
    """(node, role) for the infrastructure and the first devices; the number of devices left out."""
    shown, hidden = [], 0
    for node, role in roles.items():
        if node == "center":
            continue
        if role == "device" and sum(1 for _, r in shown if r == "device") >= SHOWN_DEVICES:
            hidden += 1
            continue
        shown.append((node, role))
    return shown, hidden


def _topology(shown: list[tuple[str, str]], edge_of: Any, malicious: dict[str, str]) -> list[dict[str, Any]]:
    ids = {n for n, _ in shown}
    links = [{"a": "cloud", "b": n, "tampering": malicious.get(n, "").endswith("_tamper")}
             for n, r in shown if r == "edge" and "cloud" in ids]
    links += [{"a": edge_of[n], "b": n, "tampering": malicious.get(edge_of[n], "").endswith("_tamper")}
              for n, r in shown if r == "device" and n in edge_of and edge_of[n] in ids]
    return links


def _summary(b: dict[str, Any]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for tx in b["transactions"]:
        kinds[tx["kind"]] = kinds.get(tx["kind"], 0) + 1
    return {"height": b["index"], "hash": b["hash"], "proposer": b["proposer"], "timestamp_ms": b["timestamp_ms"],
            "txs": len(b["transactions"]), "kinds": kinds,
            "signers": len((b["commit_certificate"] or {"votes": []})["votes"])}  # PoW blocks carry none


def _rejection_rows(rows: list[tuple[float, str, str, str, str]], clock_start: float) -> dict[str, Any]:
    by_reason: dict[str, int] = {}
    for row in rows:
        by_reason[f"{row[3]}: {row[4]}"] = by_reason.get(f"{row[3]}: {row[4]}", 0) + 1
    recent = [{"t": round(t - clock_start, 3), "node": n, "sender": s, "what": w, "reason": r}
              for t, n, s, w, r in rows[-50:]][::-1]
    senders: dict[str, int] = {}
    for row in rows:
        senders[row[2]] = senders.get(row[2], 0) + 1
    return {"count": len(rows), "by_reason": by_reason, "recent": recent, "senders": senders}


class ObserveSource(ABC):
    live: bool = False
    clock: str = "wall"  # block timestamps: "wall" (ms since the epoch) or "simulated" (ms since start)

    @abstractmethod
    def overview(self) -> dict[str, Any]:
        """Height, transactions, view/leader, nodes, attackers, rejections, pending, topology links."""

    @abstractmethod
    def blocks(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` blocks as summaries, newest first."""

    @abstractmethod
    def block(self, height: int) -> dict[str, Any] | None:
        """One block in full, each transaction with its Merkle inclusion proof."""

    @abstractmethod
    def transaction(self, tx_id: str) -> dict[str, Any] | None:
        """One committed transaction: its block, position, Merkle proof and receipt."""

    @abstractmethod
    def series(self) -> dict[str, Any]:
        """Time series of the node's own metrics (see :func:`~edgeledger.web.observe_series.series_json`)."""


def _with_proofs(data: dict[str, Any], leaves: list[bytes]) -> dict[str, Any]:
    data = dict(data)
    data["transactions"] = [dict(tx, proof=to_builtins(merkle_proof(leaves, i)))
                            for i, tx in enumerate(data["transactions"])]
    return data


def _tx_detail(block: dict[str, Any], position: int) -> dict[str, Any]:
    tx = block["transactions"][position]
    return {"height": block["index"], "position": position, "block_hash": block["hash"],
            "merkle_root": block["merkle_root"], "timestamp_ms": block["timestamp_ms"], "transaction": tx,
            "proof": tx.get("proof"), "receipt": tx.get("receipt")}


class LiveSource(ObserveSource):
    live = True

    def __init__(self, api: Any) -> None:
        self.api = api
        self.statuses: dict[str, str] = {}
        self.heads: dict[str, dict[str, Any]] = {}  # node -> its /v1/head (height, view), by the peer prober
        self.last_viewed = float("-inf")  # monotonic time the dashboard last asked (drives peer probing)
        self.recorder = LiveRecorder(api)
        self._per_day_seen, self._per_day = 0, TxPerPeriod()  # bounded: one number per bucket

    def overview(self) -> dict[str, Any]:
        import time

        self.last_viewed = time.monotonic()
        api = self.api
        node = api.node
        if node is None:
            return {"ready": False}
        self.recorder.attach()
        consensus = node.consensus
        view = getattr(consensus, "view", None)
        plan = api.plan
        malicious = dict(getattr(plan, "malicious", {}) or {})
        shown, hidden = _shown_members(plan.roles)
        nodes = []
        for n, role in shown:
            head = {"height": node.store.committed.height, "view": view} if n == node.node_id else self.heads.get(n, {})
            nodes.append({"id": n, "role": role, "validator": n in plan.validators, "attack": malicious.get(n),
                          "status": "self" if n == node.node_id else self.statuses.get(n, "registered"),
                          "height": head.get("height"), "view": head.get("view"),
                          "address": api.driver.peers.get(n, "")})
        mempool = getattr(consensus, "mempool", None) or {}
        pending = [{"id": tx_id.hex(), "sender": tx.sender, "kind": tx.kind} for tx_id, tx in list(mempool.items())[:50]]
        keeps_chain = node.light is None and (consensus is not None or node.store.committed.height > 0 or node.role != "device")
        validator = node.validator or (plan.validators[0] if plan.validators else None)
        rejections = list(getattr(api.driver, "rejections", []))
        # a PoW chain (the node verifies its blocks by their work, miner or not) has no views and no
        # leader: the card shows its newest final block's miner
        pow_chain = isinstance(node.finality, WorkFinality)
        height = node.store.committed.height
        if pow_chain:
            head = node.store.committed.head()
            leader = head.header.proposer if head is not None else "-"
        elif consensus is not None:
            leader = consensus.primary_of(view) if view is not None else "-"
        else:
            leader = plan.validators[0]
        return {"ready": True, "node": node.node_id, "role": node.role, "height": height,
                "transactions": node.store.committed.transaction_count(), "view": view,
                "protocol": "pow" if pow_chain else "pbft", "leader": leader,
                "keeps_chain": keeps_chain, "light_client": node.light is not None,
                "validator": validator, "validator_url": api.driver.peers.get(validator, "") if validator else "",
                "nodes": nodes, "hidden_devices": hidden, "malicious": malicious,
                "links": _topology(shown, plan.edge_of, malicious),
                "accuracy": sorted(api.accuracy.items()), "clock": self.clock,
                "pending": {"count": len(mempool), "transactions": pending, "held": consensus is not None},
                "rejections": _rejection_rows([(t, node.node_id, s, w, r) for t, s, w, r in rejections],
                                              self.recorder.start),
                "tx_per_day": self._tx_per_day(),
                "recent_transactions": [list(t) for t in reversed(api.recent_tx)][:RECENT]}

    def _tx_per_day(self) -> dict[str, Any]:
        store = self.api.node.store.committed  # the durable chain only
        height = store.height  # read once: the durable height moves while the writer thread commits
        if height > self._per_day_seen:  # only the blocks committed since the last look
            for b in store.iter_blocks(self._per_day_seen + 1, height):
                self._per_day.add(b.header.timestamp_ms, len(b.transactions))
            self._per_day_seen = height
        return self._per_day.json()

    def blocks(self, limit: int) -> list[dict[str, Any]]:
        from edgeledger.scenario.results import block_json

        store = self.api.node.store.committed  # the durable chain only
        height = store.height
        return [_summary(block_json(b)) for b in reversed(store.blocks(max(1, height - limit + 1), height))]

    def block(self, height: int) -> dict[str, Any] | None:
        from edgeledger.scenario.results import block_json

        block = self.api.node.store.committed.block(height) if self.api.node is not None else None
        if block is None:
            return None
        data = _with_proofs(block_json(block), [encode(t) for t in block.transactions])
        for receipt, tx in zip(self.api.node.store.committed.receipts(block), data["transactions"]):
            tx["receipt"] = {"ok": receipt.ok, "reason": receipt.reason, "code": receipt.code} if receipt else None
        return data

    def transaction(self, tx_id: str) -> dict[str, Any] | None:
        try:
            where = self.api.node.store.committed.locate_transaction(bytes.fromhex(tx_id))
        except ValueError:
            return None
        if where is None:
            return None
        block = self.block(where[0])
        return _tx_detail(block, where[1]) if block is not None else None

    def series(self) -> dict[str, Any]:
        return self.recorder.series()


class RunSource(ObserveSource):
    """A results folder of ``edgeledger run`` / ``demo``."""

    clock = "simulated"

    def __init__(self, results_dir: Path) -> None:
        from edgeledger.scenario.results import load_chain_export
        from edgeledger.scenario.schema import parse_scenario
        from edgeledger.scenario.topology import plan_topology

        self.dir = Path(results_dir)
        self.chain = load_chain_export(self.dir)[0]
        self.scenario = parse_scenario(tomllib.loads((self.dir / "scenario.toml").read_text()))
        self.plan = plan_topology(self.scenario)
        self.summary = json.loads((self.dir / "summary.json").read_text())
        self.viewpoint = self.plan.validators[0]  # the node whose own metrics the series show
        self.metrics: list[tuple[float, int, str, str, float]] = []
        with open(self.dir / "metrics.csv") as fh:
            for row in csv.DictReader(fh):
                self.metrics.append((float(row["time"]), int(row["round"]), row["node"], row["metric"], float(row["value"])))
        self.rejections: list[tuple[float, str, str, str, str]] = []
        if (self.dir / "rejections.csv").exists():
            with open(self.dir / "rejections.csv") as fh:
                self.rejections = [(float(r["time"]), r["node"], r["sender"], r["what"], r["reason"])
                                   for r in csv.DictReader(fh)]
        self.samples: dict[str, list[tuple[float, int, int, int]]] = {}
        if (self.dir / "traffic.csv").exists():
            with open(self.dir / "traffic.csv") as fh:
                for r in csv.DictReader(fh):
                    self.samples.setdefault(r["node"], []).append(
                        (float(r["time"]), int(r["bytes_in"]), int(r["bytes_out"]), int(r["view"])))
        # reported by each round's closer: the cloud, or the consensus winner (fl.round.reporting)
        self.accuracy = sorted({r: v for t, r, n, m, v in self.metrics if m == "fl.accuracy"}.items())

    def _final_heads(self) -> dict[str, dict[str, Any]]:
        heads: dict[str, dict[str, Any]] = {}
        for _t, _r, n, m, v in self.metrics:
            if m == "chain.height":
                heads.setdefault(n, {})["height"] = int(v)
        for n, rows in self.samples.items():
            heads.setdefault(n, {})["view"] = rows[-1][3]
        return heads

    def overview(self) -> dict[str, Any]:
        blocks = self.chain["blocks"]
        recent = [[b["index"], tx["id"], tx["sender"], tx["kind"]] for b in reversed(blocks)
                  for tx in reversed(b["transactions"])][:RECENT]
        malicious = dict(self.plan.malicious)
        shown, hidden = _shown_members(self.plan.roles)
        heads = self._final_heads()
        nodes = [{"id": n, "role": r, "validator": n in self.plan.validators, "attack": malicious.get(n),
                  "status": "simulated", "address": "", "height": heads.get(n, {}).get("height"),
                  "view": heads.get(n, {}).get("view")} for n, r in shown]
        view = heads.get(self.viewpoint, {}).get("view", 0)
        protocol, validators = self.scenario.consensus.protocol, self.plan.validators
        if protocol == "pow":  # no views and no leader: the newest final block's miner
            leader = blocks[-1]["proposer"] if blocks else "-"
        else:
            leader = validators[view % len(validators)] if validators else "-"
        return {"ready": True, "node": f"simulation {self.summary['name']} (seed {self.summary['seed']})",
                "role": "results", "height": self.chain["height"],
                "transactions": sum(len(b["transactions"]) for b in blocks), "view": view,
                "protocol": protocol, "leader": leader,
                "keeps_chain": True, "light_client": False, "validator": None, "validator_url": "",
                "nodes": nodes, "hidden_devices": hidden, "malicious": malicious,
                "links": _topology(shown, self.plan.edge_of, malicious), "accuracy": self.accuracy,
                "clock": self.clock, "pending": {"count": 0, "transactions": [], "held": True, "finished": True},
                "rejections": _rejection_rows(self.rejections, 0.0),
                "tx_per_day": tx_per_day((b["timestamp_ms"], len(b["transactions"])) for b in blocks),
                "recent_transactions": recent}

    def blocks(self, limit: int) -> list[dict[str, Any]]:
        return [_summary(b) for b in reversed(self.chain["blocks"][-limit:])]

    def block(self, height: int) -> dict[str, Any] | None:
        found = [b for b in self.chain["blocks"] if b["index"] == height]
        if not found:
            return None
        return _with_proofs(found[0], [bytes.fromhex(tx["encoded"]) for tx in found[0]["transactions"]])

    def transaction(self, tx_id: str) -> dict[str, Any] | None:
        for b in self.chain["blocks"]:
            for i, tx in enumerate(b["transactions"]):
                if tx["id"] == tx_id:
                    block = self.block(b["index"])
                    return _tx_detail(block, i) if block is not None else None
        return None

    def series(self) -> dict[str, Any]:
        me = self.viewpoint
        commits = [(t, int(v)) for t, r, n, m, v in self.metrics if n == me and m == "chain.block_txs"]
        latencies = [(t, v) for t, r, n, m, v in self.metrics if n == me and m == "pbft.commit_latency_s"]
        per_round: dict[int, dict[str, Any]] = {}
        for _t, r, _n, m, v in self.metrics:
            if r > 0 and m in ("fl.accuracy", "fl.loss", "fl.round_time_s"):  # from the round's closer, whoever
                key = {"fl.accuracy": "accuracy", "fl.loss": "loss", "fl.round_time_s": "duration_s"}[m]
                per_round.setdefault(r, {"round": r})[key] = v
        data = series_json(commits, latencies, self.samples.get(me, []), 0.0,
                           float(self.summary.get("simulated_time_s", 0.0)), [per_round[r] for r in sorted(per_round)],
                           "simulated")
        data["node"] = me
        return data
