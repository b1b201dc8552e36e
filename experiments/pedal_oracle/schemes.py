"""Pedal vs flat PBFT vs two-layer PBFT vs master-slave reputation, in the discrete-event
simulator (Pedal, Section V-B, reduced).

Workload: ``T`` concurrent oracle transactions, each carrying ``S`` bytes of source data
that ``N`` oracle nodes (3 groups) must agree on. Every scheme moves the same messages a
real run would -- the data once per receiver, and small signed votes/shares -- on links of
``bandwidth`` bit/s. Two resources are serialised per node: its uplink (a broadcast of S
bytes to k peers costs k * S * 8 / bandwidth, which the per-link model of ``net.sim`` alone
would not charge) and its CPU (hashing the data, signing and verifying, with costs taken
from ``benchmarks/crypto_oracle_primitives``). Payload bytes are *virtual*: messages carry a
byte count, not megabytes of filler, and traffic is accounted with it.

* pedal: per transaction the VRF-elected master (hash of the transaction) sends the data to
  its group, members return a BLS threshold share, the master combines ceil(2g/3) of them
  and writes one small transaction to the chain (one validator checks the group signature).
* pbft: the rotating primary pre-prepares the data to all N-1 replicas; prepare and commit
  are all-to-all; done when 2f+1 replicas committed.
* two_layer (DBFT-style): the primary sends the data to the other two group leaders, each
  group runs PBFT on it, then the 3 leaders run PBFT on the digest.
* master_slave (RIBFT-style): the highest-reputation node (fixed) sends the data to all
  N-1 slaves, slaves vote back, the master broadcasts the commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import Record
from edgeledger.effects import Effect, Send, SetTimer
from edgeledger.net.sim import Link, Simulator, Traffic
from edgeledger.node.node import wire_decoder

SCHEMES = ("pedal", "pbft", "two_layer", "master_slave")


@dataclass(frozen=True)
class Costs:
    """CPU seconds (2026 laptop core, see benchmarks/crypto_oracle_primitives.py)."""

    hash_per_byte: float = 1 / 500e6  # sha256 of the data
    ed25519_sign: float = 50e-6
    ed25519_verify: float = 120e-6
    bls_sign: float = 3.0e-3
    bls_verify_share: float = 6.0e-3
    bls_combine_per_share: float = 1.0e-3
    bls_verify: float = 6.0e-3
    vrf_verify: float = 1.2e-3
    vote_bytes: int = 160


class Msg(Record, tag="exp.msg"):
    tx: int
    phase: str  # data | share | prepare | commit | vote | final | l2-data | l2-prepare | l2-commit
    group: int
    virtual_bytes: int


class UplinkSimulator(Simulator):
    """``net.sim`` with one serialised uplink per node and virtual payload sizes."""

    def send(self, src: str, dst: str, message: Any, data: bytes | None = None, rate_bps: float | None = None) -> None:
        from edgeledger.codec import encode

        data = encode(message) if data is None else data
        size = len(data) + getattr(message, "virtual_bytes", 0)
        stats = self.traffic[src]
        stats.bytes_sent += size
        stats.messages_sent += 1
        stats.bytes_by_type[message.phase] += size
        self.traffic[dst].bytes_received += size
        link = self.link_for(src, dst)
        start = max(self.now, self._busy_until.get((src, "uplink"), 0.0))
        done = start + size * 8 / link.bandwidth_bps
        self._busy_until[(src, "uplink")] = done
        self.call_at(done + link.latency_s, self._deliver_counted, src, dst, data)

    def _deliver_counted(self, src: str, dst: str, data: bytes) -> None:
        host = self.hosts[dst]
        self.apply(dst, host.on_message(src, host.decode_message(data), self.now))


@dataclass
class _Tx:
    votes: dict[str, set[str]] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    done: bool = False


class SchemeHost:
    """One oracle node running ``scheme``; CPU work is queued and charged before it acts."""

    def __init__(self, node_id: str, index: int, scheme: str, nodes: list[str], groups: list[list[str]],
                 size: int, costs: Costs, record: dict[int, float]) -> None:
        self.node_id, self.index, self.scheme = node_id, index, scheme
        self.nodes, self.groups, self.size, self.costs, self.record = nodes, groups, size, costs, record
        self.group_of = {n: g for g, members in enumerate(groups) for n in members}
        self.txs: dict[int, _Tx] = {}
        self.cpu_free = 0.0
        self.queue: dict[str, tuple[str, Msg]] = {}
        self.seq = 0
        self._decode = wire_decoder((Msg,))

    # -- host interface ------------------------------------------------------------------------
    def decode_message(self, data: bytes) -> Any:
        return self._decode(data)

    def on_message(self, sender: str, msg: Msg, now: float) -> list[Effect]:
        self.cpu_free = max(self.cpu_free, now) + self._cost(msg)
        self.seq += 1
        name = f"cpu:{self.seq}"
        self.queue[name] = (sender, msg)
        return [SetTimer(name, self.cpu_free - now)]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        sender, msg = self.queue.pop(name)
        return self.handle(sender, msg, now)

    def _cost(self, msg: Msg) -> float:
        c = self.costs
        if msg.phase in ("data", "l2-data"):
            return msg.virtual_bytes * c.hash_per_byte + c.ed25519_verify + (
                c.vrf_verify + c.bls_sign if self.scheme == "pedal" else c.ed25519_sign)
        if msg.phase == "share":
            return c.bls_verify_share
        if msg.phase == "final":
            return c.bls_verify + c.vrf_verify
        return c.ed25519_verify

    # -- protocol ------------------------------------------------------------------------------
    def start_tx(self, tx: int) -> list[Effect]:
        """This node leads ``tx``: it holds the data and starts the scheme."""
        s, members = self.scheme, self._members(tx)
        if s == "pedal":
            return self._send(members, tx, "data", self.size)
        if s == "two_layer":  # the primary is one of the three group leaders
            leaders = [g[0] for g in self.groups if g[0] != self.node_id]
            own = self.handle(self.node_id, self._msg(tx, "l2-data", self.size), 0)
            return self._send(leaders, tx, "l2-data", self.size) + own
        return self._send(members, tx, "data", self.size) + self.handle(self.node_id, self._msg(tx, "data", 0), 0)

    def _members(self, tx: int) -> list[str]:
        if self.scheme == "pedal":
            return [n for n in self.groups[self.group_of[self.node_id]] if n != self.node_id]
        return [n for n in self.nodes if n != self.node_id]

    def _msg(self, tx: int, phase: str, size: int, group: int = -1) -> Msg:
        return Msg(tx=tx, phase=phase, group=group, virtual_bytes=size)

    def _send(self, to: list[str], tx: int, phase: str, size: int, group: int = -1) -> list[Effect]:
        return [Send(n, self._msg(tx, phase, size, group)) for n in to]

    def _quorum(self, n: int) -> int:
        return 2 * ((n - 1) // 3) + 1

    def handle(self, sender: str, msg: Msg, now: float) -> list[Effect]:
        state = self.txs.setdefault(msg.tx, _Tx())
        vote = self.costs.vote_bytes
        if self.scheme == "pedal":
            if msg.phase == "data":
                return [Send(sender, self._msg(msg.tx, "share", vote))]
            state.votes.setdefault("share", {self.node_id}).add(sender)
            group = self.groups[self.group_of[self.node_id]]
            if state.done or len(state.votes["share"]) < -(-2 * len(group) // 3):
                return []
            state.done = True  # combine the shares, then one small transaction to the chain
            self.cpu_free = max(self.cpu_free, now) + self.costs.bls_combine_per_share * len(state.votes["share"])
            self.record[msg.tx] = self.cpu_free
            return [Send("chain", self._msg(msg.tx, "final", 400))]
        if self.scheme == "master_slave":
            if msg.phase == "data" and sender != self.node_id:
                return [Send(sender, self._msg(msg.tx, "vote", vote))]
            if msg.phase == "vote":
                state.votes.setdefault("vote", {self.node_id}).add(sender)
                if not state.done and len(state.votes["vote"]) >= self._quorum(len(self.nodes)):
                    state.done = True
                    self.record[msg.tx] = now
                    return self._send(self._members(msg.tx), msg.tx, "commit", vote)
            return []
        if self.scheme == "pbft":
            return self._pbft(state, sender, msg, self.nodes, "", now, self._quorum(len(self.nodes)))
        return self._two_layer(state, sender, msg, now)

    def _pbft(self, state: _Tx, sender: str, msg: Msg, replicas: list[str], prefix: str, now: float,
              quorum: int) -> list[Effect]:
        """Pre-prepare (data), prepare and commit among ``replicas``; phases carry ``prefix``."""
        vote = self.costs.vote_bytes
        others = [n for n in replicas if n != self.node_id]
        out: list[Effect] = []
        phase = msg.phase[len(prefix):]
        if phase in ("data", "digest"):
            if prefix + "prepare" not in state.sent:
                state.sent.add(prefix + "prepare")
                out += self._send(others, msg.tx, prefix + "prepare", vote)
                state.votes.setdefault(prefix + "prepare", set()).add(self.node_id)
        else:
            state.votes.setdefault(prefix + phase, set()).add(sender)
        if len(state.votes.get(prefix + "prepare", ())) >= quorum and prefix + "commit" not in state.sent:
            state.sent.add(prefix + "commit")
            state.votes.setdefault(prefix + "commit", set()).add(self.node_id)
            out += self._send(others, msg.tx, prefix + "commit", vote)
        if len(state.votes.get(prefix + "commit", ())) >= quorum and prefix + "done" not in state.sent:
            state.sent.add(prefix + "done")
            if prefix == "g-":
                out += self._group_decided(msg.tx, now)
            else:
                self.record.setdefault(msg.tx, now)
        return out

    def _two_layer(self, state: _Tx, sender: str, msg: Msg, now: float) -> list[Effect]:
        group = self.groups[self.group_of[self.node_id]]
        q_group, q_top = self._quorum(len(group)), -(-2 * len(self.groups) // 3)
        if msg.phase == "l2-data":  # a group leader got the data: PBFT inside its group
            return self._send([n for n in group if n != self.node_id], msg.tx, "g-data", msg.virtual_bytes) + \
                self._pbft(state, sender, self._msg(msg.tx, "g-data", 0), group, "g-", now, q_group)
        if msg.phase.startswith("g-"):
            return self._pbft(state, sender, msg, group, "g-", now, q_group)
        return self._pbft(state, sender, msg, [g[0] for g in self.groups], "t-", now, q_top)

    def _group_decided(self, tx: int, now: float) -> list[Effect]:
        """Second layer: group leaders agree on the digest (2/3 of the leaders)."""
        group = self.groups[self.group_of[self.node_id]]
        if self.node_id != group[0]:
            return []
        leaders = [g[0] for g in self.groups]
        return self._pbft(self.txs[tx], self.node_id, self._msg(tx, "t-digest", 0), leaders, "t-", now,
                          -(-2 * len(leaders) // 3))


class ChainSink:
    """The chain's entry point for Pedal's final transactions (counted, not modelled further)."""

    node_id = "chain"

    def decode_message(self, data: bytes) -> Any:
        return wire_decoder((Msg,))(data)

    def on_message(self, sender: str, msg: Any, now: float) -> list[Effect]:
        return []

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return []


def leader_of(tx: int, scheme: str, nodes: list[str]) -> str:
    if scheme == "master_slave":
        return nodes[0]
    digest = hashlib.sha256(f"tx{tx}".encode()).digest()
    return nodes[int.from_bytes(digest[:8], "big") % len(nodes)]


def run_scheme(scheme: str, n_nodes: int, n_tx: int, size: int, bandwidth_bps: float = 1e9,
               latency_s: float = 0.001, seed: int = 0, costs: Costs = Costs()) -> dict[str, float]:
    """Processing time (s until every transaction is agreed) and I/O traffic (bytes)."""
    nodes = [f"n{i:02d}" for i in range(n_nodes)]
    per = n_nodes // 3
    groups = [nodes[g * per:(g + 1) * per] for g in range(3)]
    sim = UplinkSimulator(seed, lambda a, b: Link(latency_s=latency_s, bandwidth_bps=bandwidth_bps))
    record: dict[int, float] = {}
    hosts = {n: SchemeHost(n, i, scheme, nodes, groups, size, costs, record) for i, n in enumerate(nodes)}
    for h in hosts.values():
        sim.add_host(h)
    sim.add_host(ChainSink())
    for tx in range(n_tx):
        leader = groups[tx % 3][0] if scheme == "two_layer" else leader_of(tx, scheme, nodes)
        sim.call_at(0.0, lambda leader=leader, tx=tx: sim.apply(leader, hosts[leader].start_tx(tx)))
    sim.run(until=600.0, stop=lambda: len(record) == n_tx)
    if len(record) != n_tx:
        raise RuntimeError(f"{scheme}: only {len(record)} of {n_tx} transactions agreed")
    traffic = float(sum(t.bytes_sent for t in sim.traffic.values()))
    return {"processing_s": max(record.values()), "traffic_bytes": traffic}


__all__ = ["SCHEMES", "Costs", "run_scheme", "UplinkSimulator", "Traffic"]
