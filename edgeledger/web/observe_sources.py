"""Where the /observe dashboard gets its data: a live node, or a finished simulation run.

Both sources answer the same questions (overview, latest blocks, one block with its Merkle
proofs) so a simulation and a deployment look alike in the browser.
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
from edgeledger.crypto.merkle import merkle_proof

__all__ = ["ObserveSource", "LiveSource", "RunSource", "DashboardPlan"]


@dataclass(frozen=True)
class DashboardPlan:
    """What the /observe dashboard asks of a topology: every member's role and the validators.

    A scenario's :class:`~edgeledger.scenario.topology.Topology` answers the same questions.
    """

    roles: dict[str, str]
    validators: list[str]
    edge_of: dict[str, str] = field(default_factory=dict)


def _topology(roles: dict[str, str], edge_of: dict[str, str], validators: list[str]) -> list[list[str]]:
    links = [["cloud", e] for e, r in roles.items() if r == "edge"]
    links += [[edge_of[d], d] for d in roles if roles[d] == "device" and d in edge_of]
    return links


class ObserveSource(ABC):
    live: bool = False

    @abstractmethod
    def overview(self) -> dict[str, Any]:
        """Height, transactions, view/leader, nodes, FL accuracy per round, topology links."""

    @abstractmethod
    def blocks(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` blocks as summaries, newest first."""

    @abstractmethod
    def block(self, height: int) -> dict[str, Any] | None:
        """One block in full, each transaction with its Merkle inclusion proof."""


def _summary(b: dict[str, Any]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for tx in b["transactions"]:
        kinds[tx["kind"]] = kinds.get(tx["kind"], 0) + 1
    return {"height": b["index"], "hash": b["hash"], "proposer": b["proposer"], "timestamp_ms": b["timestamp_ms"],
            "txs": len(b["transactions"]), "kinds": kinds, "signers": len(b["commit_certificate"]["votes"])}


class LiveSource(ObserveSource):
    live = True

    def __init__(self, api: Any) -> None:
        self.api = api
        self.statuses: dict[str, str] = {}
        self.last_viewed = float("-inf")  # monotonic time the dashboard last asked (drives peer probing)

    def overview(self) -> dict[str, Any]:
        import time

        self.last_viewed = time.monotonic()
        api = self.api
        node = api.node
        if node is None:
            return {"ready": False}
        consensus = node.consensus
        view = getattr(consensus, "view", None)
        plan = api.plan
        nodes = [{"id": n, "role": plan.roles.get(n, "?"), "validator": n in plan.validators,
                  "status": "self" if n == node.node_id else self.statuses.get(n, "registered"),
                  "address": api.driver.peers.get(n, "")} for n in plan.roles if n != "center"]
        return {"ready": True, "node": node.node_id, "role": node.role, "height": node.store.height,
                "transactions": node.store.transaction_count(), "view": view,
                "leader": consensus.primary_of(view) if consensus else plan.validators[0],
                "nodes": nodes, "accuracy": sorted(api.accuracy.items()),
                "links": _topology(plan.roles, plan.edge_of, plan.validators),
                "recent_transactions": [list(t) for t in reversed(api.recent_tx)][:15]}

    def blocks(self, limit: int) -> list[dict[str, Any]]:
        from edgeledger.scenario.results import block_json

        store = self.api.node.store
        start = max(1, store.height - limit + 1)
        return [_summary(block_json(b)) for b in reversed(store.blocks(start, store.height))]

    def block(self, height: int) -> dict[str, Any] | None:
        from edgeledger.scenario.results import block_json

        block = self.api.node.store.block(height) if self.api.node is not None else None
        if block is None:
            return None
        data = block_json(block)
        leaves = [encode(t) for t in block.transactions]
        for i, tx in enumerate(data["transactions"]):
            tx["proof"] = to_builtins(merkle_proof(leaves, i))
        return data


class RunSource(ObserveSource):
    """A results folder of ``edgeledger run`` / ``demo``."""

    def __init__(self, results_dir: Path) -> None:
        from edgeledger.scenario.topology import plan_topology
        from edgeledger.scenario.results import load_chain_export
        from edgeledger.scenario.schema import parse_scenario

        self.dir = Path(results_dir)
        self.chain = load_chain_export(self.dir)[0]
        self.scenario = parse_scenario(tomllib.loads((self.dir / "scenario.toml").read_text()))
        self.plan = plan_topology(self.scenario)
        self.summary = json.loads((self.dir / "summary.json").read_text())
        self.accuracy: list[tuple[int, float]] = []
        with open(self.dir / "metrics.csv") as fh:
            for row in csv.DictReader(fh):
                if row["node"] == "cloud" and row["metric"] == "fl.accuracy":
                    self.accuracy.append((int(row["round"]), float(row["value"])))

    def overview(self) -> dict[str, Any]:
        blocks = self.chain["blocks"]
        recent = [[b["index"], tx["id"], tx["sender"], tx["kind"]] for b in reversed(blocks)
                  for tx in reversed(b["transactions"])][:15]
        nodes = [{"id": n, "role": r, "validator": n in self.plan.validators, "status": "simulated", "address": ""}
                 for n, r in self.plan.roles.items() if n != "center"]
        return {"ready": True, "node": f"simulation {self.summary['name']} (seed {self.summary['seed']})",
                "role": "results", "height": self.chain["height"],
                "transactions": sum(len(b["transactions"]) for b in blocks), "view": 0,
                "leader": self.plan.validators[0], "nodes": nodes, "accuracy": self.accuracy,
                "links": _topology(self.plan.roles, self.plan.edge_of, self.plan.validators),
                "recent_transactions": recent}

    def blocks(self, limit: int) -> list[dict[str, Any]]:
        return [_summary(b) for b in reversed(self.chain["blocks"][-limit:])]

    def block(self, height: int) -> dict[str, Any] | None:
        found = [b for b in self.chain["blocks"] if b["index"] == height]
        if not found:
            return None
        data = dict(found[0])
        leaves = [bytes.fromhex(tx["encoded"]) for tx in data["transactions"]]
        data["transactions"] = [dict(tx, proof=to_builtins(merkle_proof(leaves, i)))
                                for i, tx in enumerate(data["transactions"])]
        return data
