"""Edge resource market benchmark (issue 8): committed edge_match transactions per second
through in-memory PBFT (4 sealers) plus state application, and off-chain channel payments
per second (sign + verify) against on-chain token transfers per second, in one run; and the
Fabric task-sharing workflow's request-to-result latency in the simulator versus the number
of edge servers and versus sending the task to the cloud over the WAN (simulated seconds).
Prints a table, then one JSON object as its last line.

    python benchmarks/market.py --quick      # a few seconds
    python benchmarks/market.py              # larger counts
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from collections import deque
from pathlib import Path

try:
    import edgeledger  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.consensus.base import CommitBlock
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Broadcast, CancelTimer, Rejected, Send, SetTimer
from edgeledger.ledger import Genesis, Identity, LedgerState, Membership, genesis_hash, make_transaction
from edgeledger.ledger.contracts import ContractCall, ContractDeploy
from edgeledger.market import ChannelReceiver, ChannelSender
from edgeledger.market.sharing import SharingConfig, latency_table

SEALERS = ["proxy", "c0", "c1", "c2"]


class Consortium:
    """Four PBFT sealers wired in memory; proxy's state executes.

    Messages are delivered FIFO, 1 ms apart on a virtual clock; timers fire at their due time
    (a newer SetTimer of the same name replaces the pending one, CancelTimer drops it), so
    view-change timers only fire if a commit really stalls.
    """

    def __init__(self, n_devices: int) -> None:
        roles = {"proxy": "proxy", "c0": "company", "c1": "company", "c2": "company"}
        roles |= {f"dev{i}": "device" for i in range(n_devices)}
        self.keys = {n: derive_key("ed25519", n.encode()) for n in roles}
        ids = [Identity(node_id=n, role=r, scheme="ed25519", public_key=self.keys[n].public_key) for n, r in roles.items()]
        self.membership = Membership(Genesis(chain_id="edgetoll-bench", identities=ids, validators=SEALERS))
        g = genesis_hash(self.membership.genesis)
        cfg = PbftConfig(max_block_txs=200)
        self.replicas = {v: PbftReplica(v, self.keys[v], self.membership, g, cfg) for v in SEALERS}
        self.state = LedgerState(self.membership)
        self.nonces: dict[str, int] = {}
        self.queue: deque = deque()
        self.timers: list[tuple[float, int, str, str]] = []  # heap: due, token, node, name
        self.tokens: dict[tuple[str, str], int] = {}
        self.rejected: list[str] = []
        self.now = 0.0
        self.receipts: list = []

    def tx(self, sender: str, kind: str, payload: object):
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)

    def _apply(self, node: str, effects: list) -> None:
        for e in effects:
            if isinstance(e, Send):
                self.queue.append((node, e.to, e.message))
            elif isinstance(e, Broadcast):
                self.queue.extend((node, to, e.message) for to in e.to)
            elif isinstance(e, SetTimer):
                token = len(self.tokens) + len(self.timers) + int(self.now * 1e6) + 1
                self.tokens[(node, e.name)] = token
                heapq.heappush(self.timers, (self.now + e.delay_s, token, node, e.name))
            elif isinstance(e, CancelTimer):
                self.tokens.pop((node, e.name), None)
            elif isinstance(e, Rejected):
                self.rejected.append(f"{node}: {e.reason}")
            elif isinstance(e, CommitBlock) and node == "proxy":
                self.receipts.extend(self.state.apply_block(e.block))

    def commit(self, txs: list) -> list:
        """Submit ``txs`` to the primary and run until idle; returns their receipts."""
        start = len(self.receipts)
        for tx in txs:
            self._apply("proxy", self.replicas["proxy"].submit(tx, self.now))
        want = start + len(txs)
        while len(self.receipts) < want and (self.queue or self.timers):
            if self.timers and (not self.queue or self.timers[0][0] <= self.now):
                due, token, node, name = heapq.heappop(self.timers)
                if self.tokens.get((node, name)) != token:
                    continue  # replaced or cancelled
                del self.tokens[(node, name)]
                self.now = max(self.now, due)
                self._apply(node, self.replicas[node].timer(name, self.now))
            else:
                self.now += 0.001
                src, dst, msg = self.queue.popleft()
                self._apply(dst, self.replicas[dst].receive(src, msg, self.now))
        if len(self.receipts) < want:
            raise RuntimeError(f"only {len(self.receipts) - start} of {len(txs)} transactions committed; "
                               f"rejections: {self.rejected[:3]}")
        while self.queue:  # let every replica finish the last block before the next batch
            self.now += 0.001
            src, dst, msg = self.queue.popleft()
            self._apply(dst, self.replicas[dst].receive(src, msg, self.now))
        return self.receipts[start:]


def call(c: Consortium, sender: str, contract: str, method: str, *args: object):
    return c.tx(sender, "contract.call", ContractCall(contract=contract, method=method, args=list(args)))


def bench_edge_match(n_matches: int, n_nodes: int, n_devices: int) -> tuple[float, int]:
    c = Consortium(n_devices)
    setup = [c.tx("proxy", "contract.deploy", ContractDeploy(name="matching", code="edgetoll.matching", version=1))]
    setup += [call(c, f"c{i % 3}", "matching", "add_node", f"en{i:03d}", f"c{i % 3}", (i * 37) % 1000,
                   (i * 91) % 1000, n_matches, 5) for i in range(n_nodes)]
    assert all(r.ok for r in c.commit(setup))
    txs = [call(c, f"dev{i % n_devices}", "matching", "edge_match", f"dev{i % n_devices}", (i * 13) % 1000,
                (i * 29) % 1000, 1) for i in range(n_matches)]  # signing is the client's cost, not timed
    start = time.perf_counter()
    receipts = c.commit(txs)
    elapsed = time.perf_counter() - start
    ok = sum(r.ok for r in receipts)
    assert ok == n_matches, [r.reason for r in receipts if not r.ok][:3]
    return ok / elapsed, c.state.height


def bench_transfers(n: int, n_devices: int) -> float:
    c = Consortium(n_devices)
    setup = [c.tx("proxy", "contract.deploy", ContractDeploy(name="pay", code="edgetoll.payments", version=2))]
    setup += [call(c, "proxy", "pay", "deposit", f"dev{i}", 10 * n) for i in range(n_devices)]
    assert all(r.ok for r in c.commit(setup))
    txs = [call(c, f"dev{i % n_devices}", "pay", "transfer", f"dev{(i + 1) % n_devices}", 1) for i in range(n)]
    start = time.perf_counter()
    receipts = c.commit(txs)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in receipts)
    return n / elapsed


def bench_channel_payments(n: int) -> float:
    c = Consortium(1)
    sender = ChannelSender(c.keys["dev0"], c.membership.chain_id, "pay", 0, deposit=n)
    receiver = ChannelReceiver(c.membership, "dev0", "pay", 0, deposit=n)
    start = time.perf_counter()
    for _ in range(n):
        receiver.accept(sender.pay(1))
    elapsed = time.perf_counter() - start
    assert receiver.amount == n
    return n / elapsed


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: finishes in seconds")
    parser.add_argument("--matches", type=int, default=None, help="edge_match transactions to commit")
    parser.add_argument("--nodes", type=int, default=50, help="edge nodes registered before matching")
    parser.add_argument("--edges", default="4,8,16", help="edge server counts for the task-sharing latency")
    args = parser.parse_args(argv)
    matches = args.matches or (400 if args.quick else 2000)
    transfers = 400 if args.quick else 2000
    payments = 2000 if args.quick else 10000
    print(f"# market benchmark: matches={matches} nodes={args.nodes} transfers={transfers} payments={payments} "
          f"sealers={len(SEALERS)} (in-memory PBFT)")
    match_tps, blocks = bench_edge_match(matches, args.nodes, n_devices=20)
    transfer_tps = bench_transfers(transfers, n_devices=20)
    pay_ps = bench_channel_payments(payments)
    edge_counts = [int(x) for x in args.edges.split(",")]
    sharing = latency_table(edge_counts, seed=1, tasks=1 if args.quick else 3)
    print(f"{'edge_match committed':<28}{match_tps:>12.1f} tx/s   ({blocks} blocks, {args.nodes} ENs)")
    print(f"{'on-chain token transfers':<28}{transfer_tps:>12.1f} tx/s")
    print(f"{'off-chain channel payments':<28}{pay_ps:>12.1f} /s     ({pay_ps / transfer_tps:.1f}x on-chain)")
    cfg = SharingConfig()
    print(f"# task sharing (simulated s; {cfg.payload_bytes / 1e6:.0f} MB payload, LAN {cfg.lan_latency_ms:.0f} ms/"
          f"{cfg.lan_mbps:.0f} Mb/s, WAN {cfg.wan_latency_ms:.0f} ms/{cfg.wan_mbps:.0f} Mb/s, "
          f"{cfg.msg_cost_ms} ms per message)")
    print(f"{'edges':>6}{'request->result':>17}{'->settled':>11}{'cloud':>9}{'blocks':>8}")
    for row in sharing:
        print(f"{row['n_edges']:>6}{row['sharing_latency_s']:>17.4f}{row['settled_latency_s']:>11.4f}"
              f"{row['cloud_latency_s']:>9.4f}{row['blocks']:>8}")
    mid = next((r for r in sharing if r["n_edges"] == cfg.n_edges), sharing[0])
    result = {"edge_match_tx_per_s": round(match_tps, 1), "channel_payments_per_s": round(pay_ps, 1),
              "onchain_transfers_per_s": round(transfer_tps, 1), "edge_nodes": args.nodes, "sealers": len(SEALERS),
              "task_sharing_latency_s": mid["sharing_latency_s"], "task_sharing_edges": mid["n_edges"],
              "task_sharing_latency_by_edges_s": {str(r["n_edges"]): r["sharing_latency_s"] for r in sharing},
              "task_cloud_latency_s": mid["cloud_latency_s"]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
