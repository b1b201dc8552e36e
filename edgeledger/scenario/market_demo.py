"""``edgeledger market demo``: EdgeToll's market on its own consortium chain, in the simulator.

The chain is the one a scenario with EdgeToll's topology builds (:func:`edgetoll_scenario`):
the proxy and the companies are the PBFT sealers and supervise each other, the ENs (edge
servers) and devices follow as observers, and the sealers' heartbeat keeps the chain's BFT
time moving while it idles. Every block carries its commit certificate and links to its
predecessor. The walk: the proxy deploys the matching and payment contracts; each company
registers its ENs; devices are matched to the nearest EN; the proxy funds itself and the
devices; each device opens a channel to the proxy and pays it off chain; the proxy service
forwards the credit to the matched ENs through its own channels; ENs and the proxy close
with their best vouchers and settle themselves once the challenge window (chain time) has
passed, while nothing but heartbeat blocks are committed. The last device never pays: its
channel stays open.

A saved chain is ``genesis.bin`` + ``chain.sqlite``; :func:`load_market_chain` replays it
after checking every block's link and commit certificate against the genesis.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.errors import ConfigError, EdgeLedgerError, InvariantViolation
from edgeledger.ledger.block import Block
from edgeledger.ledger.clock import KIND_CLOCK_TICK, chain_time_ms
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, call_log, contract_state
from edgeledger.ledger.identity import Genesis, Membership
from edgeledger.ledger.state import LedgerState, Receipt
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.validation import validate_chain
from edgeledger.market.edgetoll import ACT_TIMER, ChannelParty, DeviceWallet, EnPayments, ProxyPayments
from edgeledger.market.membership import validator_schedule
from edgeledger.net.sim import Simulator
from edgeledger.scenario.chain_network import ChainNetwork, build_chain_network
from edgeledger.scenario.schema import Scenario, parse_scenario
from edgeledger.scenario.topology import edge_node_owners

__all__ = ["MarketRun", "edgetoll_scenario", "run_market_demo", "save_market_chain", "load_market_chain"]

DEVICE_DEPOSIT, DEVICE_FUNDS, EN_DEPOSIT, PROXY_FUNDS = 50, 100, 200, 10_000


def edgetoll_scenario(seed: int = 1, n_ens: int = 6, n_devices: int = 8, companies: int = 3,
                      heartbeat_s: float = 5.0) -> Scenario:
    """EdgeToll's topology: the proxy and ``companies`` companies seal, ENs and devices observe."""
    if n_ens < 1 or n_devices < 1 or companies < 3:
        raise ConfigError(f"need ens >= 1, devices >= 1 and companies >= 3 (PBFT: n = 1 + companies >= 4); "
                          f"got {n_ens}, {n_devices}, {companies}")
    return parse_scenario({
        "name": "edgetoll", "seed": seed,
        "topology": {"edges": n_ens, "devices_per_edge": -(-n_devices // n_ens), "validators": ["proxy", "company"],
                     "companies": companies, "observers": ["edge", "device"]},
        "consensus": {"heartbeat_s": heartbeat_s},
        "fl": {"enabled": False, "clients_per_round": 1}})


@dataclass
class MarketRun:
    """One walk of the market: the network (its chain and services) and what happened when."""

    scenario: Scenario
    network: ChainNetwork
    sim: Simulator
    matched: dict[str, str]
    challenge_window_ms: int
    closed_at: dict[int, float] = field(default_factory=dict)  # channel -> simulated time its close committed
    settled_at: dict[int, float] = field(default_factory=dict)  # channel -> simulated time its settle committed

    @property
    def proxy(self) -> Any:
        return self.network.nodes["proxy"]

    @property
    def state(self) -> LedgerState:
        return self.proxy.state

    @property
    def genesis(self) -> Genesis:
        return self.network.membership.genesis

    @property
    def store(self) -> ChainStore:
        return self.proxy.store

    def figures(self) -> dict[str, Any]:
        blocks = self.store.blocks()
        heartbeat = sum(1 for b in blocks if b.transactions and all(t.kind == KIND_CLOCK_TICK for t in b.transactions))
        delays = [self.settled_at[c] - self.closed_at[c] for c in self.settled_at if c in self.closed_at]
        return {"blocks": len(blocks), "heartbeat_blocks": heartbeat, "chain_time_ms": chain_time_ms(self.state.kv),
                "challenge_window_s": self.challenge_window_ms / 1000, "settled_channels": len(self.settled_at),
                "close_to_settle_s_min": round(min(delays), 3) if delays else None,
                "close_to_settle_s_max": round(max(delays), 3) if delays else None,
                "sim_time_s": round(self.sim.now, 3)}


class _Driver:
    """Submits transactions as a node (through its own signer) and runs the simulator until they commit."""

    def __init__(self, net: ChainNetwork, sim: Simulator, limit_s: float) -> None:
        self.net, self.sim, self.limit_s = net, sim, limit_s
        self.receipts: dict[bytes, tuple[Receipt, float]] = {}
        net.nodes["proxy"].commit_listeners.append(self._committed)

    def _committed(self, block: Block, receipts: list[Receipt]) -> None:
        for r in receipts:
            self.receipts[r.tx_id] = (r, self.sim.now)

    def run_until(self, done: Callable[[], bool], what: str) -> None:
        self.sim.run(until=self.sim.now + self.limit_s, stop=done)
        if not done():
            raise InvariantViolation(f"market demo: {what} did not happen within {self.limit_s} simulated seconds "
                                     f"(seed {self.net.scenario.seed})")

    def commit(self, calls: list[tuple[str, str, Any]]) -> list[Any]:
        """Submit ``(sender, kind, payload)`` transactions at once; wait for all; return their results."""
        txs = []
        for sender, kind, payload in calls:
            tx = self.net.signers[sender].sign(kind, payload)
            self.sim.apply(sender, self.net.nodes[sender].submit(tx, self.sim.now))
            txs.append(tx)
        self.run_until(lambda: all(t.tx_id in self.receipts for t in txs), f"committing {len(txs)} transactions")
        state = self.net.nodes["proxy"].state
        out = []
        for tx in txs:
            receipt = self.receipts[tx.tx_id][0]
            log = call_log(state.kv, tx.tx_id)
            out.append(log.result if receipt.ok and log else receipt)
        return out

    def act(self, node_id: str, action: Callable[[float], list[Any]]) -> None:
        """Hand a node's market service an action and run it now (through the service's timer)."""
        service = self.net.nodes[node_id].service(ChannelParty)
        service.actions.append(action)
        self.sim.apply(node_id, self.net.nodes[node_id].on_timer(ACT_TIMER, self.sim.now))


def _call(sender: str, contract: str, method: str, *args: Any) -> tuple[str, str, ContractCall]:
    return sender, "contract.call", ContractCall(contract=contract, method=method, args=list(args))


def _attach_services(net: ChainNetwork, devices: list[str], en_timeout_ms: int) -> None:
    membership = net.membership
    for node_id, node in net.nodes.items():
        view = (lambda n=node: n.state.kv)
        if node_id == "proxy":
            node.add_service(ProxyPayments(net.signers[node_id], membership, view, EN_DEPOSIT, en_timeout_ms))
        elif node.role == "edge":
            node.add_service(EnPayments(net.signers[node_id], membership, view))
        elif node_id in devices:
            node.add_service(DeviceWallet(net.signers[node_id], membership, view))


def run_market_demo(seed: int = 1, n_ens: int = 6, n_devices: int = 8, payments: int = 5,
                    challenge_window_s: float = 30.0, heartbeat_s: float = 5.0) -> MarketRun:
    """Walk the whole market once (see the module docstring) and check its invariants."""
    if payments < 1 or not challenge_window_s > 0:
        raise ConfigError(f"need payments >= 1 and challenge_window_s > 0, got {payments}, {challenge_window_s}")
    scenario = edgetoll_scenario(seed, n_ens, n_devices, heartbeat_s=heartbeat_s)
    net = build_chain_network(scenario)
    devices = [f"device-{j}" for j in range(n_devices)]
    window_ms = int(challenge_window_s * 1000)
    _attach_services(net, devices, en_timeout_ms=10 * window_ms)
    sim = net.simulator()
    drive = _Driver(net, sim, limit_s=max(120.0, 4 * challenge_window_s))
    drive.run_until(lambda: chain_time_ms(net.nodes["proxy"].state.kv) > 0, "the sealers' first clock ticks")
    rng = random.Random(seed)
    drive.commit([("proxy", "contract.deploy", ContractDeploy(name="matching", code="edgetoll.matching", version=1)),
                  ("proxy", "contract.deploy", ContractDeploy(name="pay", code="edgetoll.payments", version=2,
                                                              args=[window_ms]))])
    drive.commit([_call(owner, "matching", "add_node", en, owner, rng.randrange(1000), rng.randrange(1000),
                        rng.randint(2, 4), rng.randint(1, 5)) for en, owner in edge_node_owners(scenario).items()])
    results = drive.commit([_call(d, "matching", "edge_match", d, rng.randrange(1000), rng.randrange(1000), 1)
                            for d in devices])
    matched = {d: en for d, en in zip(devices, results) if isinstance(en, str)}  # a full EN leaves a device out
    drive.commit([_call("proxy", "pay", "deposit", "proxy", PROXY_FUNDS)]
                 + [_call("proxy", "pay", "deposit", d, DEVICE_FUNDS) for d in matched])
    drive.commit([_call(d, "pay", "open_channel", "proxy", DEVICE_DEPOSIT, 10 * window_ms) for d in matched])
    run = MarketRun(scenario, net, sim, matched, window_ms)
    _pay_and_settle(drive, run, payments)
    sim.run(until=sim.now + min(0.5, heartbeat_s / 2))  # the last block reaches every observer
    _check(run)
    return run


def _pay_and_settle(drive: _Driver, run: MarketRun, payments: int) -> None:
    net, matched = drive.net, run.matched
    kv = net.nodes["proxy"].state.kv
    price = {en: contract_state(kv, "matching", f"node/{en}")["price"] for en in set(matched.values())}
    proxy: ProxyPayments = net.nodes["proxy"].service(ProxyPayments)
    payers = list(matched)[:-1]  # the last device never pays: its channel stays open
    drive.run_until(lambda: all("proxy" in net.nodes[d].service(DeviceWallet).paying for d in payers),
                    "the devices seeing their channels opened (they follow the chain as observers)")
    for d in payers:
        wallet: DeviceWallet = net.nodes[d].service(DeviceWallet)
        for _ in range(payments):
            drive.act(d, lambda now, w=wallet, p=price[matched[d]]: w.pay(p))
    ens = sorted({matched[d] for d in payers})
    en_payments = {en: net.nodes[en].service(EnPayments) for en in ens}
    drive.run_until(lambda: all(proxy.received_from.get(d, 0) == payments * price[matched[d]] for d in payers)
                    and all(en_payments[en].received == proxy.owed(en) for en in ens), "the ENs being paid")
    parties: list[ChannelParty] = [proxy, *en_payments.values()]
    for party in parties:
        drive.act(party.node_id, lambda now, p=party: p.close_all())
    closing = lambda: {c for p in parties for c in p.settle_at}  # noqa: E731
    drive.run_until(lambda: all(_event_time(drive, run, c, "channel_closing") for c in closing()), "the closes")
    drive.run_until(lambda: all(c in p.settled for p in parties for c in p.settle_at), "settling every closed channel")
    for c in closing():
        _event_time(drive, run, c, "channel_settled")


def _event_time(drive: _Driver, run: MarketRun, channel: int, name: str) -> bool:
    """Record when channel ``channel``'s event ``name`` committed (from the proxy's receipts)."""
    book = run.closed_at if name == "channel_closing" else run.settled_at
    if channel in book:
        return True
    kv = drive.net.nodes["proxy"].state.kv
    for tx_id, (receipt, at) in drive.receipts.items():
        log = call_log(kv, tx_id) if receipt.ok else None
        if log and any(e.name == name and e.attributes.get("channel") == channel for e in log.events):
            book[channel] = at
            return True
    return False


def _check(run: MarketRun) -> None:
    """Tokens conserved; every EN paid what the proxy owed it; every block certified by the sealers."""
    kv, state = run.state.kv, run.state
    accounts = sorted(state.membership.identities) + ["@escrow"]
    total = sum(contract_state(kv, "pay", f"bal/{a}", 0) for a in accounts)
    if total != contract_state(kv, "pay", "supply"):
        raise InvariantViolation(f"market demo: balances {total} != supply {contract_state(kv, 'pay', 'supply')}")
    proxy = run.network.nodes["proxy"].service(ProxyPayments)
    for party in run.network.nodes.values():
        en = party.service(EnPayments)
        if en is not None and sum(en.settled.values()) != proxy.owed(party.node_id):
            raise InvariantViolation(f"market demo: {party.node_id} settled {sum(en.settled.values())}, "
                                     f"owed {proxy.owed(party.node_id)}")
    for channel, settled in run.settled_at.items():
        if settled - run.closed_at[channel] < run.challenge_window_ms / 1000:
            raise InvariantViolation(f"market demo: channel {channel} settled before its challenge window ended")
    validate_chain(run.store.blocks(), run.network.membership, run.network.membership.genesis_hash)


def save_market_chain(run: MarketRun, folder: Path) -> None:
    """Write ``genesis.bin`` and ``chain.sqlite`` (blocks with certificates and receipts) to an empty folder."""
    if (folder / "chain.sqlite").exists():
        raise ConfigError(f"--out {str(folder)!r} already holds a market chain; choose an empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "genesis.bin").write_bytes(encode(run.genesis))
    disk = ChainStore(folder / "chain.sqlite")
    for block in run.store.blocks():
        disk.append(block, run.store.receipts(block))  # type: ignore[arg-type]
    disk.close()


def load_market_chain(folder: Path) -> LedgerState:
    """The state of a saved market chain, after checking every block's link and commit certificate."""
    if not (folder / "genesis.bin").exists() or not (folder / "chain.sqlite").exists():
        raise ConfigError(f"{str(folder)!r} holds no market chain; create one with "
                          f"`edgeledger market demo --out {folder}`")
    genesis = decode((folder / "genesis.bin").read_bytes(), Genesis)
    membership = Membership(genesis)
    store = ChainStore(folder / "chain.sqlite")
    try:
        blocks = store.blocks()
    finally:
        store.close()
    state = LedgerState(membership)
    for block in blocks:  # the validator schedule follows the chain's own membership votes
        state.apply_block(block)
        membership.set_schedule(validator_schedule(state))
    try:  # each block against the sealers in force at its height
        validate_chain(blocks, membership, membership.genesis_hash)
    except EdgeLedgerError as exc:
        raise ConfigError(f"{folder}: the saved chain does not verify: {exc}") from None
    return state
