"""EdgeToll's service-matching contract: edge nodes register, devices are matched to the nearest.

``add_node`` records an edge node (EN) with its company (sent by that company or the
proxy), integer location, capacity and price; ``edge_match`` gives a device (sent by the
device itself or the proxy) the nearest EN with enough free capacity (squared Euclidean
distance on integer coordinates, ties broken by EN id), records the match and emits
``matched``. Because every match is on chain, the proxy and the companies supervise
each other: :func:`audit_matches` replays the matches and reports any that broke the rule.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import Record
from edgeledger.ledger.contracts import (
    CallContext, Contract, contract_method, contract_state, logs_at, register_contract,
)

__all__ = ["ServiceMatching", "MatchFinding", "nearest_node", "audit_matches", "favoured_companies"]


def _distance2(node: dict[str, Any], x: int, y: int) -> int:
    return (node["x"] - x) ** 2 + (node["y"] - y) ** 2


def nearest_node(nodes: list[dict[str, Any]], x: int, y: int, need: int) -> dict[str, Any] | None:
    """The rule: the nearest node with ``free >= need``; ties go to the smaller ``en_id``."""
    fit = [n for n in nodes if n["free"] >= need]
    return min(fit, key=lambda n: (_distance2(n, x, y), n["en_id"]), default=None)


@register_contract
class ServiceMatching(Contract):
    name = "edgetoll.matching"
    version = 1

    @contract_method("company", "proxy")
    def add_node(self, ctx: CallContext, en_id: str, company: str, x: int, y: int, capacity: int,
                 price: int) -> None:
        ctx.require(isinstance(en_id, str) and en_id != "", f"en_id must be a non-empty string, got {en_id!r}")
        for field_name, value in (("x", x), ("y", y), ("capacity", capacity), ("price", price)):
            ctx.require(isinstance(value, int), f"{field_name} must be an integer, got {value!r}")
        ctx.require(capacity > 0 and price >= 0, f"capacity must be > 0 and price >= 0, got {capacity}, {price}")
        ctx.require(company == ctx.sender or ctx.role() == "proxy",
                    f"company {ctx.sender!r} may register only its own edge nodes, not {company!r}'s")
        ids = ctx.get("nodes", [])
        ctx.require(en_id not in ids, f"edge node {en_id!r} is already registered")
        ctx.put(f"node/{en_id}", {"en_id": en_id, "company": company, "x": x, "y": y,
                                  "capacity": capacity, "free": capacity, "price": price})
        ctx.put("nodes", sorted(ids + [en_id]))
        ctx.emit("node_added", en_id=en_id, company=company, x=x, y=y, capacity=capacity, price=price)

    @contract_method("device", "proxy")
    def edge_match(self, ctx: CallContext, device: str, x: int, y: int, need: int) -> str:
        ctx.require(isinstance(need, int) and need > 0, f"need must be a positive integer, got {need!r}")
        ctx.require(isinstance(x, int) and isinstance(y, int), f"location must be integers, got ({x!r}, {y!r})")
        ctx.require(device == ctx.sender or ctx.role() == "proxy",
                    f"device {ctx.sender!r} may request a match only for itself, not for {device!r}")
        nodes = [ctx.get(f"node/{i}") for i in ctx.get("nodes", [])]
        chosen = nearest_node(nodes, x, y, need)
        ctx.require(chosen is not None, f"no edge node has {need} free capacity")
        assert chosen is not None
        chosen["free"] -= need
        ctx.put(f"node/{chosen['en_id']}", chosen)
        count = ctx.get("match_count", 0)
        match = {"seq": count, "device": device, "x": x, "y": y, "need": need, "en_id": chosen["en_id"],
                 "company": chosen["company"], "height": ctx.height}
        ctx.put(f"match/{count}", match)
        ctx.put("match_count", count + 1)
        ctx.emit("matched", **match)
        return chosen["en_id"]

    @contract_method("device", "proxy")
    def release(self, ctx: CallContext, seq: int) -> None:
        """Give a match's capacity back to its EN (by the device or proxy that made it)."""
        match = ctx.get(f"match/{seq}")
        ctx.require(match is not None and not match.get("released"), f"match {seq!r} is unknown or released")
        ctx.require(ctx.sender == match["device"] or ctx.role() == "proxy",
                    f"only device {match['device']!r} or the proxy may release match {seq}")
        node = ctx.get(f"node/{match['en_id']}")
        node["free"] += match["need"]
        ctx.put(f"node/{match['en_id']}", node)
        ctx.put(f"match/{seq}", {**match, "released": True})
        ctx.emit("released", seq=seq, en_id=match["en_id"])


class MatchFinding(Record):
    """A match that broke the nearest-node rule: who got it and who should have."""

    seq: int
    height: int
    device: str
    chosen: str
    chosen_company: str
    expected: str
    expected_company: str


def audit_matches(state: Any, contract: str = "matching") -> list[MatchFinding]:
    """Replay the contract's node and match events in chain order; report rule-breaking matches.

    ``state`` is a ``LedgerState``. The replay rebuilds free capacities from ``node_added``,
    ``matched`` and ``released`` events, so a match recorded by a tampered node (or a
    contract version that favoured a company) shows up with the EN the rule would choose.
    """
    nodes: dict[str, dict[str, Any]] = {}
    findings: list[MatchFinding] = []
    for h in range(1, state.height + 1):
        for log in logs_at(state.kv, h):
            for ev in log.events:
                if ev.contract != contract:
                    continue
                a = ev.attributes
                if ev.name == "node_added":
                    nodes[a["en_id"]] = {**a, "free": a["capacity"]}
                elif ev.name == "matched":
                    want = nearest_node(sorted(nodes.values(), key=lambda n: n["en_id"]), a["x"], a["y"], a["need"])
                    if want is None or want["en_id"] != a["en_id"]:
                        findings.append(MatchFinding(
                            seq=a["seq"], height=h, device=a["device"], chosen=a["en_id"],
                            chosen_company=a["company"], expected=want["en_id"] if want else "",
                            expected_company=want["company"] if want else ""))
                    if a["en_id"] in nodes:
                        nodes[a["en_id"]]["free"] -= a["need"]
                elif ev.name == "released":
                    seq_match = contract_state(state.kv, contract, f"match/{a['seq']}")
                    if a["en_id"] in nodes and seq_match is not None:
                        nodes[a["en_id"]]["free"] += seq_match["need"]
    return findings


def favoured_companies(findings: list[MatchFinding]) -> dict[str, int]:
    """Company -> number of matches it received against the rule."""
    out: dict[str, int] = {}
    for f in findings:
        out[f.chosen_company] = out.get(f.chosen_company, 0) + 1
    return dict(sorted(out.items()))

