"""EdgeToll's payment flow as node services: devices pay the proxy, the proxy pays the ENs.

EdgeToll (Zhang et al.) routes money device -> proxy -> edge node: a device holds one
channel to the proxy, the proxy one channel to each EN it owes, and both sides pay off
chain with cumulative signed vouchers (:mod:`edgeledger.market.channels`). Here:

* :class:`DeviceWallet` (on a device) pays the proxy by sending a :class:`DeviceVoucher`;
* :class:`ProxyPayments` (on the proxy, a sealer) checks each voucher against the device's
  channel, credits the EN the device is matched to on chain (the ``matched`` event of the
  matching contract), opens a channel to that EN when it has none and forwards the credit
  (less ``fee_milli`` thousandths: the toll) as an :class:`EnVoucher`;
* :class:`EnPayments` (on an EN) keeps the proxy's best voucher.

Every party closes the channels it is paid through (:meth:`ChannelParty.close_all`) and
settles them itself once the chain time passes the end of the challenge window: the window
is chain time (:mod:`edgeledger.ledger.clock`), so a quiet chain still gets there through
the sealers' heartbeat blocks. The services read the payments contract's events from each
committed block; they never trust a peer's word for what the chain says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeledger.codec import Record
from edgeledger.effects import Effect, Metric, Rejected, Send, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.clock import chain_time_ms
from edgeledger.ledger.contracts import ContractCall, logs_at
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.state import Receipt
from edgeledger.market.channels import ChannelReceiver, ChannelSender
from edgeledger.market.payments import ChannelPayment
from edgeledger.node.heartbeat import Signer
from edgeledger.node.service import Service

__all__ = ["DeviceVoucher", "EnVoucher", "ChannelParty", "DeviceWallet", "ProxyPayments", "EnPayments",
           "EDGETOLL_MESSAGES", "ACT_TIMER"]

ACT_TIMER = "edgetoll.act"  # a driver (the CLI demo, an operator) queues actions and fires this timer
_HELD = 64  # vouchers kept for channels this node has not seen opened yet


class DeviceVoucher(Record, tag="edgetoll.device_voucher"):
    """A device's cumulative voucher on its channel to the proxy."""

    voucher: ChannelPayment


class EnVoucher(Record, tag="edgetoll.en_voucher"):
    """The proxy's cumulative voucher on its channel to an EN."""

    voucher: ChannelPayment


EDGETOLL_MESSAGES: tuple[type, ...] = (DeviceVoucher, EnVoucher)


class ChannelParty(Service):
    """What every party shares: a signer, the chain's view, the channels it receives on (and
    closes and settles), the ones it pays on, and a queue of actions a driver hands it."""

    timer_prefix = "edgetoll."

    def __init__(self, signer: Signer, membership: Membership, state_view: Callable[[], Any],
                 payments: str = "pay", matching: str = "matching") -> None:
        self.signer, self.membership, self.state_view = signer, membership, state_view
        self.node_id = signer.node_id
        self.payments, self.matching = payments, matching
        self.receiving: dict[int, ChannelReceiver] = {}  # channel id -> our side, we are its receiver
        self.paying: dict[str, ChannelSender] = {}  # receiver -> our open channel to it
        self.settle_at: dict[int, int] = {}  # channels we closed -> end of their challenge window (ms)
        self.settling: dict[int, bytes] = {}  # settle submitted: channel id -> its transaction id
        self.settled: dict[int, int] = {}  # channel id -> amount paid out to its receiver
        self.actions: list[Callable[[float], list[Effect]]] = []

    # -- chain ---------------------------------------------------------------------------------
    def call(self, method: str, *args: Any, contract: str | None = None) -> Effect:
        call = ContractCall(contract=contract or self.payments, method=method, args=list(args))
        return SubmitTransaction(self.signer.sign("contract.call", call))

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        view = self.state_view()
        effects: list[Effect] = []
        refused = {r.tx_id for r in receipts if not r.ok}
        for cid, tx_id in list(self.settling.items()):
            if tx_id in refused:  # too early after all: try again on a later block
                del self.settling[cid]
        for log in logs_at(view, block.height):
            for ev in log.events:
                if ev.contract in (self.payments, self.matching):
                    effects += self.on_event(ev.name, ev.attributes, now)
        clock = chain_time_ms(view)
        for cid, due in sorted(self.settle_at.items()):
            if clock >= due and cid not in self.settling and cid not in self.settled:
                settle = self.call("settle", cid)
                self.settling[cid] = settle.tx.tx_id  # type: ignore[attr-defined]
                effects.append(settle)
        return effects

    def on_event(self, name: str, a: dict[str, Any], now: float) -> list[Effect]:
        if name == "channel_opened" and a["receiver"] == self.node_id:
            self.receiving[a["channel"]] = ChannelReceiver(self.membership, a["sender"], self.payments, a["channel"],
                                                           a["deposit"])
            return self.on_receiving(a["channel"], now)
        if name == "channel_opened" and a["sender"] == self.node_id:
            self.paying[a["receiver"]] = ChannelSender(self.signer.key, self.membership.chain_id, self.payments,
                                                       a["channel"], a["deposit"])
            return self.on_paying(a["receiver"], now)
        if name == "channel_closing" and a["channel"] in self.settle_at:
            self.settle_at[a["channel"]] = a["settle_at_ms"]
        if name == "channel_settled" and a["channel"] in self.receiving:
            self.settled[a["channel"]] = a["paid"]
        return []

    def on_receiving(self, channel: int, now: float) -> list[Effect]:
        return []

    def on_paying(self, receiver: str, now: float) -> list[Effect]:
        return []

    def close_all(self, keep: int = 0) -> list[Effect]:
        """Close every channel we were paid on (with the best voucher), but the last ``keep``."""
        paid = [rx for _, rx in sorted(self.receiving.items()) if rx.latest is not None]
        effects: list[Effect] = []
        for rx in paid[: max(0, len(paid) - keep)]:
            if rx.channel_id not in self.settle_at:
                self.settle_at[rx.channel_id] = 1 << 62  # the closing event tells the real end
                effects.append(self.call("close", rx.channel_id, rx.amount, rx.latest.signature))  # type: ignore[union-attr]
        return effects

    @property
    def received(self) -> int:
        return sum(rx.amount for rx in self.receiving.values())

    # -- the driver's actions ------------------------------------------------------------------
    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name != ACT_TIMER:
            return []
        actions, self.actions = self.actions, []
        return [e for act in actions for e in act(now)]

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []


class DeviceWallet(ChannelParty):
    """A device: opens its channel to the proxy, then pays it off chain."""

    def __init__(self, signer: Signer, membership: Membership, state_view: Callable[[], Any], proxy: str = "proxy",
                 **names: str) -> None:
        super().__init__(signer, membership, state_view, **names)
        self.proxy = proxy

    def pay(self, increment: int) -> list[Effect]:
        channel = self.paying.get(self.proxy)
        if channel is None:
            return [Metric("edgetoll.no_channel", 1.0)]
        return [Send(self.proxy, DeviceVoucher(voucher=channel.pay(increment)))]


class ProxyPayments(ChannelParty):
    """The proxy: takes device vouchers, pays the matched ENs through its own channels."""

    message_types = (DeviceVoucher,)

    def __init__(self, signer: Signer, membership: Membership, state_view: Callable[[], Any], en_deposit: int,
                 en_timeout_ms: int, fee_milli: int = 0, **names: str) -> None:
        super().__init__(signer, membership, state_view, **names)
        self.en_deposit, self.en_timeout_ms, self.fee_milli = en_deposit, en_timeout_ms, fee_milli
        self.match: dict[str, str] = {}  # device -> its EN (the latest ``matched`` event)
        self.received_from: dict[str, int] = {}  # device -> total received
        self.credit: dict[str, int] = {}  # EN -> total the devices paid for it
        self.opening: set[str] = set()
        self.held: dict[int, DeviceVoucher] = {}  # vouchers of channels not seen opened yet

    def on_event(self, name: str, a: dict[str, Any], now: float) -> list[Effect]:
        if name == "matched":
            self.match[a["device"]] = a["en_id"]
        return super().on_event(name, a, now)

    def on_receiving(self, channel: int, now: float) -> list[Effect]:
        held = self.held.pop(channel, None)
        return self.on_message(self.receiving[channel].sender, held, now) if held is not None else []

    def on_paying(self, receiver: str, now: float) -> list[Effect]:
        self.opening.discard(receiver)
        return self._forward(receiver)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if not isinstance(message, DeviceVoucher):
            return []
        cid = message.voucher.channel_id
        rx = self.receiving.get(cid)
        if rx is None:  # it outran our view of the chain: keep the newest per channel, bounded
            if cid in self.held or len(self.held) < _HELD:
                self.held[cid] = message
            return []
        if sender != rx.sender:
            return [Rejected(sender, "edgetoll.device_voucher", f"channel {cid} belongs to {rx.sender!r}")]
        en = self.match.get(sender)
        if en is None:
            return [Rejected(sender, "edgetoll.device_voucher", f"{sender!r} has no EN matched on chain")]
        try:
            gained = rx.accept(message.voucher)
        except EdgeLedgerError as exc:
            return [Rejected(sender, "edgetoll.device_voucher", str(exc))]
        self.received_from[sender] = rx.amount
        self.credit[en] = self.credit.get(en, 0) + gained
        return self._forward(en) if gained else []

    def owed(self, en: str) -> int:
        """What the proxy owes ``en`` in total: the devices' payments for it, less the toll."""
        return self.credit.get(en, 0) * (1000 - self.fee_milli) // 1000

    def _forward(self, en: str) -> list[Effect]:
        channel = self.paying.get(en)
        if channel is None:
            if en in self.opening or not self.owed(en):
                return []
            self.opening.add(en)
            return [self.call("open_channel", en, self.en_deposit, self.en_timeout_ms)]
        due = min(self.owed(en), channel.deposit) - channel.paid
        if due <= 0:
            return [Metric("edgetoll.en_channel_full", 1.0)] if self.owed(en) > channel.deposit else []
        return [Send(en, EnVoucher(voucher=channel.pay(due)))]


class EnPayments(ChannelParty):
    """An edge node: keeps the proxy's best voucher on each channel it is paid through."""

    message_types = (EnVoucher,)

    def __init__(self, signer: Signer, membership: Membership, state_view: Callable[[], Any], proxy: str = "proxy",
                 **names: str) -> None:
        super().__init__(signer, membership, state_view, **names)
        self.proxy = proxy
        self.held: dict[int, EnVoucher] = {}

    def on_receiving(self, channel: int, now: float) -> list[Effect]:
        held = self.held.pop(channel, None)
        return self.on_message(self.proxy, held, now) if held is not None else []

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if not isinstance(message, EnVoucher):
            return []
        if sender != self.proxy:
            return [Rejected(sender, "edgetoll.en_voucher", f"vouchers come from the proxy {self.proxy!r}")]
        rx = self.receiving.get(message.voucher.channel_id)
        if rx is None:
            if len(self.held) < _HELD:
                self.held[message.voucher.channel_id] = message
            return []
        try:
            rx.accept(message.voucher)
        except EdgeLedgerError as exc:
            return [Rejected(sender, "edgetoll.en_voucher", str(exc))]
        return []
