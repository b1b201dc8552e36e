"""An in-process EdgeToll consortium for the CLI and the dashboard: one sequencer, real contracts.

Blocks are applied straight to a :class:`LedgerState` (no consensus: the PBFT path is
exercised by the simulator and the benchmark); everything else is the real thing --
signed transactions, the matching and payment contracts, off-chain signed vouchers.
:func:`run_market_demo` walks the whole market once: companies register ENs, devices are
matched to the nearest, channels device -> proxy and proxy -> EN open, devices pay
off-chain, receivers close with the latest voucher and settle after the challenge window.
The CLI saves a consortium as ``genesis.bin`` + ``chain.sqlite`` and reloads it read-only
(a ``MarketChain`` built from the genesis and the store, without keys).
"""

from __future__ import annotations

import random
from typing import Any

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.errors import ConfigError
from edgeledger.ledger.block import Block, BlockHeader
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, call_log
from edgeledger.ledger.identity import Genesis, Identity, Membership
from edgeledger.ledger.state import LedgerState, Receipt
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import make_transaction
from edgeledger.market.channels import ChannelReceiver, ChannelSender
from edgeledger.market.payments import CHALLENGE_WINDOW

__all__ = ["MarketChain", "run_market_demo", "consortium_roles"]

CHAIN_ID = "edgetoll-demo"


def consortium_roles(n_ens: int, n_devices: int, n_companies: int = 3) -> dict[str, str]:
    """proxy, companies c0.., edge nodes en0.., devices dev0.. (ids in that order)."""
    roles = {"proxy": "proxy"} | {f"c{i}": "company" for i in range(n_companies)}
    return roles | {f"en{i}": "en" for i in range(n_ens)} | {f"dev{i}": "device" for i in range(n_devices)}


class MarketChain:
    """Signs transactions with per-sender nonces and applies each batch as a block."""

    def __init__(self, genesis: Genesis, keys: dict[str, PrivateKey] | None = None,
                 store: ChainStore | None = None) -> None:
        self.genesis = genesis
        self.membership = Membership(genesis)
        self.keys = keys or {}
        self.state = LedgerState(self.membership)
        self.store = store or ChainStore(":memory:")
        for block in self.store.blocks():
            self.state.apply_block(block)
        self.nonces: dict[str, int] = dict(self.state.nonces)

    @classmethod
    def create(cls, roles: dict[str, str], seed: int) -> MarketChain:
        keys = {n: derive_key("ed25519", f"{seed}/{n}".encode()) for n in roles}
        sealers = [n for n, r in roles.items() if r in ("proxy", "company")]
        ids = [Identity(node_id=n, role=r, scheme="ed25519", public_key=keys[n].public_key) for n, r in roles.items()]
        return cls(Genesis(chain_id=CHAIN_ID, identities=ids, validators=sealers), keys)

    def block(self, txs: list[Any]) -> list[Receipt]:
        h = self.state.height + 1
        header = BlockHeader(chain_id=CHAIN_ID, height=h, prev_hash=b"", tx_root=b"", tx_count=len(txs),
                             proposer=self.membership.validators[0], timestamp_ms=h * 1000)
        block = Block(header=header, transactions=list(txs))
        receipts = self.state.apply_block(block)
        self.store.append(block, receipts)
        return receipts

    def call(self, sender: str, contract: str, method: str, *args: Any) -> Any:
        """Commit one call in its own block; returns its result or raises with the receipt's reason."""
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        tx = make_transaction(self.keys[sender], sender, self.nonces[sender], "contract.call",
                              ContractCall(contract=contract, method=method, args=list(args)))
        (receipt,) = self.block([tx])
        if not receipt.ok:
            raise ConfigError(f"{contract}.{method} by {sender} failed: {receipt.reason}")
        log = call_log(self.state.kv, receipt.tx_id)
        return log.result if log else None

    def deploy(self, sender: str, name: str, code: str) -> None:
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        tx = make_transaction(self.keys[sender], sender, self.nonces[sender], "contract.deploy",
                              ContractDeploy(name=name, code=code, version=1))
        (receipt,) = self.block([tx])
        if not receipt.ok:
            raise ConfigError(f"deploying {name} failed: {receipt.reason}")


def run_market_demo(seed: int = 1, n_ens: int = 6, n_devices: int = 8, payments: int = 5) -> MarketChain:
    """Walk the whole market once (see the module docstring); returns the consortium."""
    if n_ens < 1 or n_devices < 1 or payments < 1:
        raise ConfigError(f"need ens >= 1, devices >= 1, payments >= 1; got {n_ens}, {n_devices}, {payments}")
    rng = random.Random(seed)
    chain = MarketChain.create(consortium_roles(n_ens, n_devices), seed)
    chain.deploy("proxy", "matching", "edgetoll.matching")
    chain.deploy("proxy", "pay", "edgetoll.payments")
    for i in range(n_ens):
        chain.call(f"c{i % 3}", "matching", "add_node", f"en{i}", f"c{i % 3}", rng.randrange(1000),
                   rng.randrange(1000), rng.randint(2, 4), rng.randint(1, 5))
    matched: dict[str, str] = {}
    for j in range(n_devices):
        dev = f"dev{j}"
        try:
            matched[dev] = chain.call(dev, "matching", "edge_match", dev, rng.randrange(1000), rng.randrange(1000), 1)
        except ConfigError:
            break  # every EN is full: the rest stay unmatched
    chain.call("proxy", "pay", "deposit", "proxy", 10_000)
    for dev in matched:
        chain.call("proxy", "pay", "deposit", dev, 100)
    _pay_through_channels(chain, matched, payments)
    return chain


def _pay_through_channels(chain: MarketChain, matched: dict[str, str], payments: int) -> None:
    """Device -> proxy and proxy -> EN channels; every device but the last pays and settles."""
    price = {en: _node_price(chain, en) for en in sorted(set(matched.values()))}
    opened: list[tuple[ChannelSender, ChannelReceiver]] = []
    per_en: dict[str, int] = {}
    for dev, en in matched.items():
        cid = chain.call(dev, "pay", "open_channel", "proxy", 50, 20)
        opened.append((ChannelSender(chain.keys[dev], CHAIN_ID, "pay", cid, 50),
                       ChannelReceiver(chain.membership, dev, "pay", cid, 50)))
        per_en[en] = per_en.get(en, 0) + price[en] * payments
    en_channels = {en: chain.call("proxy", "pay", "open_channel", en, 200, 40) for en in sorted(per_en)}
    for (sender, receiver), (dev, en) in list(zip(opened, matched.items()))[:-1]:
        for _ in range(payments):
            receiver.accept(sender.pay(price[en]))  # off-chain: no transaction
    for en, cid in en_channels.items():
        owed = sum(price[e] * payments for d, e in list(matched.items())[:-1] if e == en)
        if owed:
            voucher = ChannelSender(chain.keys["proxy"], CHAIN_ID, "pay", cid, 200).pay(min(owed, 200))
            chain.call(en, "pay", "close", cid, voucher.amount, voucher.signature)
    for _, receiver in opened:
        if receiver.latest is not None:
            chain.call("proxy", "pay", "close", receiver.channel_id, receiver.amount, receiver.latest.signature)
    chain.block([])
    for _ in range(CHALLENGE_WINDOW):
        chain.block([])
    for _, receiver in opened[: max(len(opened) - 2, 0)]:  # leave one closing channel visible
        if receiver.latest is not None:
            chain.call("proxy", "pay", "settle", receiver.channel_id)
    for en, cid in en_channels.items():
        if any(e == en for e in list(matched.values())[:-1]):
            chain.call(en, "pay", "settle", cid)


def _node_price(chain: MarketChain, en: str) -> int:
    from edgeledger.ledger.contracts import contract_state

    return int(contract_state(chain.state.kv, "matching", f"node/{en}")["price"])
