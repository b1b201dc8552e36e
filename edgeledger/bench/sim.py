"""``network.kind = "sim"``: the same rounds against the in-process discrete-event simulation.

Transactions are submitted at *simulated* times chosen by the rate controller (a dispatcher
event asks it after every submission and finish), to the validators round-robin by
worker; commits are timestamped from the first validator's commit listener with the
receipt's verdict. Figures are in simulated seconds (PBFT over the scenario's modelled
links, with no CPU cost), so they show the protocol's latency, not this machine's speed;
reads are answered from a node's state at once. Resources: simulated bytes per node.
"""

from __future__ import annotations

import importlib
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeledger.bench.metrics import TxRecord, throughput_series
from edgeledger.bench.system_under_test import scenario_data
from edgeledger.bench.rate import LoadView, controllers
from edgeledger.bench.report import machine_description, round_entry, write_report
from edgeledger.bench.schema import BenchConfig
from edgeledger.bench.workloads import Consortium, ReadOp, WorkloadContext, workloads
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.ledger.contracts import EndorseRequest, assemble, endorse_proposal
from edgeledger.ledger.transaction import make_transaction
from edgeledger.net.sim import Simulator
from edgeledger.scenario.assembly import build_network
from edgeledger.scenario.schema import parse_scenario
from edgeledger.scenario.topology import consortium_keys, edge_node_owners

__all__ = ["run_sim_bench"]


class _SimRound:
    """One round's dispatcher inside the simulator."""

    def __init__(self, sim: Simulator, net: Any, ctl: Any, wl: Any, senders: list[str], nonces: dict[str, int],
                 rc: Any, records: dict[bytes, TxRecord], keys: dict[str, PrivateKey]) -> None:
        self.sim, self.net, self.ctl, self.wl, self.rc, self.keys = sim, net, ctl, wl, rc, keys
        self.senders, self.nonces, self.records = senders, nonces, records
        self.trace: list[TxRecord] = []
        self.start = sim.now
        self.i = 0
        self.finished: deque[float] = deque()
        self.waiting = False
        self.done_sending = False

    def _more(self) -> bool:
        if self.rc.tx_number is not None:
            return self.i < self.rc.tx_number
        return self.sim.now - self.start < self.rc.tx_duration_s

    def dispatch(self) -> None:
        self.waiting = False
        if not self._more():
            self.done_sending = True
            return
        while self.finished and self.finished[0] < self.sim.now - 1.0:
            self.finished.popleft()
        in_flight = sum(1 for r in self.trace if r.finish is None)
        at = self.ctl.send_at(self.i, LoadView(self.sim.now - self.start, in_flight, float(len(self.finished))))
        if at is None:
            self.waiting = True  # woken by the next finish
            return
        self.sim.call_at(self.start + at, self._send)

    def _send(self) -> None:
        if not self._more():
            self.done_sending = True
            return
        k = self.i % self.rc.workers
        sender = self.senders[k % len(self.senders)]
        validators = self.net.validators
        target = self.net.nodes[validators[k % len(validators)]]
        op = self.wl.op(self.i, sender)
        rec = TxRecord(submit=self.sim.now)
        self.trace.append(rec)
        self.i += 1
        if isinstance(op, ReadOp):
            key = op.path.removeprefix("/v1/state/")
            rec.finish, rec.ok = self.sim.now, target.state.kv.get(key) is not None
            rec.reason = "" if rec.ok else "HTTP 404"
            self.on_finish(rec)
        else:
            self.nonces[sender] += 1
            payload, why = endorse_in_sim(self.net, op, sender, self.nonces[sender], k)
            if payload is None:
                rec.finish, rec.reason = self.sim.now, why
                self.on_finish(rec)
                self.dispatch()
                return
            tx = make_transaction(self.keys[sender], sender, self.nonces[sender], op.kind, payload)
            if op.blob is not None:
                target.blobs.put(op.blob)
            reason = target.state.check(tx)
            if reason is not None:
                rec.finish, rec.reason = self.sim.now, f"HTTP 409: {reason}"
                self.on_finish(rec)
            else:
                rec.tx_id = tx.tx_id.hex()
                self.records[tx.tx_id] = rec
                self.sim.apply(target.node_id, target.submit(tx, self.sim.now))
        self.dispatch()

    def on_finish(self, rec: TxRecord) -> None:
        self.finished.append(self.sim.now)
        if self.waiting:
            self.waiting = False  # one wake-up per wait, so exactly one dispatch chain runs
            self.sim.call_later(0.0, self.dispatch)


def endorse_in_sim(net: Any, op: Any, sender: str, nonce: int, lane: int) -> tuple[Any, str]:
    """The payload to sign: for an endorsed op, the call assembled from one peer per role of
    ``op.endorse`` (rotating by lane), each simulating on its own committed state. Endorsement
    here costs no simulated time or traffic (a modelling shortcut of the simulated bench)."""
    if not op.endorse:
        return op.payload, ""
    request = EndorseRequest(sender=sender, call=op.payload, nonce=nonce)
    chosen: list[str] = []
    for k, role in enumerate(op.endorse):
        peers = [n for n in sorted(net.nodes) if net.roles[n] == role and n not in chosen]
        if not peers:
            return None, f"no endorsing peer with role {role!r} left"
        chosen.append(peers[(lane + k) % len(peers)])
    responses = [endorse_proposal(net.nodes[n].state, n, net.nodes[n].key, request)[0] for n in chosen]
    try:
        return assemble(request, responses), ""
    except EdgeLedgerError as exc:
        return None, f"endorsement: {exc}"[:200]


def run_sim_bench(cfg: BenchConfig, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every round in one simulated network; write the report like a real run."""
    plugins = sorted({p for r in cfg.rounds for p in workloads.get(r.workload.name).plugins} | set(cfg.network.plugins))
    for module in plugins:
        importlib.import_module(module)  # tx kinds and contracts live in this process
    started = time.time()
    scenario = parse_scenario(scenario_data(cfg.network))
    net = build_network(scenario)
    sim = Simulator(scenario.seed, net.link_for)
    for node in net.nodes.values():
        sim.add_host(node)
    for node_id in sorted(net.nodes):
        sim.start(node_id, net.nodes[node_id].start(0.0))
    records: dict[bytes, TxRecord] = {}
    current: list[_SimRound] = []

    def on_commit(block: Any, receipts: list[Any]) -> None:
        for tx, receipt in zip(block.transactions, receipts):
            rec = records.pop(tx.tx_id, None)
            if rec is not None:
                rec.finish, rec.committed, rec.ok = sim.now, True, receipt.ok
                rec.reason = "" if receipt.ok else f"{receipt.code}: {receipt.reason}"
                if current:
                    current[0].on_finish(rec)

    net.nodes[net.validators[0]].commit_listeners.append(on_commit)
    sim.run(until=1.0)
    keys = {**{n: node.key for n, node in net.nodes.items()}, **consortium_keys(scenario)}
    consortium = Consortium(dict(sorted(scenario.consortium.accounts.items())), edge_node_owners(scenario))
    nonces = {n: 10**12 for n in keys}  # far above the nodes' own transactions (gaps are allowed)
    shared: dict[str, Any] = {}
    entries, traces = [], {}
    for k, rc in enumerate(cfg.rounds):
        wl = workloads.get(rc.workload.name)(rc.workload.params,
                                             WorkloadContext(rc.label, random.Random(cfg.seed * 1000 + k), shared,
                                                             consortium))
        senders = [n for n in sorted(net.nodes) if n != "center" and (not wl.sender_roles or net.roles[n] in wl.sender_roles)]
        senders += [n for n in consortium.accounts if n in keys and consortium.accounts[n] in wl.sender_roles]
        for sender, op in wl.prepare(senders):
            if sender not in keys:
                raise ConfigError(f"round {rc.label!r}: set-up must be signed by {sender!r}, whose key the simulation "
                                  "does not hold (an account with a declared public key)")
            nonces[sender] += 1
            if op.endorse:  # the endorsers simulate on committed state: let the set-up before it commit
                sim.run(until=sim.now + 0.5)
            payload, why = endorse_in_sim(net, op, sender, nonces[sender], 0)
            if payload is None:
                raise ConfigError(f"round {rc.label!r}: set-up call could not be endorsed: {why}")
            tx = make_transaction(keys[sender], sender, nonces[sender], op.kind, payload)
            target = net.nodes[net.validators[0]]
            sim.apply(target.node_id, target.submit(tx, sim.now))
        sim.run(until=sim.now + 2.0)
        before = {n: (t.bytes_received, t.bytes_sent) for n, t in sim.traffic.items()}
        rnd = _SimRound(sim, net, controllers.get(rc.rate_control.type).from_opts(dict(rc.rate_control.opts), rc),
                        wl, senders, nonces, rc, records, keys)
        current[:] = [rnd]
        log(f"round {rc.label} (simulated): {rc.workload.name}, {rc.tx_number or f'{rc.tx_duration_s} s'} tx")
        log(f"  execution model: {wl.execution_model()}")
        rnd.dispatch()
        sim.run(stop=lambda: rnd.done_sending and all(r.finish is not None for r in rnd.trace))  # noqa: B023
        sim.run(until=sim.now + rc.timeout_s, stop=lambda: all(r.finish is not None for r in rnd.trace))  # noqa: B023
        for rec in rnd.trace:
            if rec.finish is None:
                rec.reason = f"not committed within timeout_s={rc.timeout_s}"
        resources = {n: {"net_in_bytes": t.bytes_received - before[n][0], "net_out_bytes": t.bytes_sent - before[n][1]}
                     for n, t in sim.traffic.items() if n != "center"}
        entry = round_entry(rc, wl, rnd.trace, resources)
        entries.append(entry)
        traces[rc.label] = (sorted(r.finish - r.submit for r in rnd.trace if r.ok and r.finish is not None),
                            throughput_series(rnd.trace))
        log(f"  succ {entry['succ']} fail {entry['fail']} throughput {entry['throughput_tps']:.1f} tps "
            f"avg latency {entry['latency_avg_s']} (simulated s)")
    report = {"machine": machine_description(), "benchmark": cfg.name, "description": cfg.description,
              "network": {"kind": "sim", "nodes": len(net.nodes) - 1, "validators": len(net.validators),
                          "time": "simulated seconds"},
              "started_unix": round(started, 3), "wall_s": round(time.time() - started, 1), "rounds": entries}
    write_report(out, report, traces)
    return report
