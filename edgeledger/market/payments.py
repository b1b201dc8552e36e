"""EdgeToll's token and uni-directional payment channels (device -> proxy, proxy -> EN).

Tokens: the proxy credits ``deposit``s (money entering the consortium) and anyone may
``transfer``/``withdraw`` their own balance; supply changes only through deposit/withdraw.
A channel escrows the sender's ``deposit``; the sender pays off-chain by signing
:class:`ChannelPayment` vouchers with *cumulative* amounts. The receiver ``close``s with
the latest voucher; after the channel's expiry the sender may ask for a ``refund``. Either
way a challenge window follows in which a voucher with a higher amount wins; then anyone
may ``settle``: the receiver gets the amount, the sender the rest. (Uni-directional
micropayment channels as in Spilman's and Raiden's designs; EdgeToll, Zhang et al.)

Time, not blocks: the challenge window (``challenge_window_ms``, set when the instance is
deployed) and a channel's expiry are milliseconds of the chain's BFT time
(:mod:`edgeledger.ledger.clock`), which the sealers' heartbeat keeps moving while the chain
idles. A window counted in blocks would have no length in time on a PBFT chain, which
makes blocks only when transactions arrive; one judged by block timestamps would let a
faulty primary (the proxy is a sealer *and* a channel party) end it at will.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import Record, encode
from edgeledger.ledger.contracts import CallContext, Contract, contract_method, register_contract

__all__ = ["Payments", "ChannelPayment", "payment_bytes", "DEFAULT_CHALLENGE_WINDOW_MS"]

DEFAULT_CHALLENGE_WINDOW_MS = 60_000  # one minute of chain time


class ChannelPayment(Record):
    """An off-chain voucher: the sender owes ``amount`` in total on ``channel_id``."""

    chain_id: str
    contract: str
    channel_id: int
    amount: int
    signature: bytes = b""


def payment_bytes(chain_id: str, contract: str, channel_id: int, amount: int) -> bytes:
    """The bytes the channel's sender signs (domain-separated, bound to chain and contract)."""
    return encode(("edgeledger-channel-payment", chain_id, contract, channel_id, amount))


def _positive(ctx: CallContext, name: str, value: Any) -> int:
    ctx.require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                f"{name} must be a positive integer, got {value!r}")
    return value


@register_contract
class Payments(Contract):
    name = "edgetoll.payments"
    version = 2  # 1 counted the challenge window in blocks

    def init(self, ctx: CallContext, challenge_window_ms: int = DEFAULT_CHALLENGE_WINDOW_MS) -> None:
        _positive(ctx, "challenge_window_ms", challenge_window_ms)
        ctx.put("challenge_window_ms", challenge_window_ms)

    def _now(self, ctx: CallContext) -> int:
        now = ctx.chain_time_ms()
        ctx.require(now > 0, "the chain has no time yet: channels need the sealers' clock ticks (clock.tick; "
                             "run the validators with a heartbeat)")
        return now

    def _window(self, ctx: CallContext) -> int:
        return ctx.get("challenge_window_ms", DEFAULT_CHALLENGE_WINDOW_MS)

    # -- tokens -------------------------------------------------------------------------
    def _move(self, ctx: CallContext, src: str, dst: str, amount: int) -> None:
        have = ctx.get(f"bal/{src}", 0)
        ctx.require(have >= amount, f"{src!r} has {have} tokens, needs {amount}")
        ctx.put(f"bal/{src}", have - amount)
        ctx.put(f"bal/{dst}", ctx.get(f"bal/{dst}", 0) + amount)

    @contract_method("proxy")
    def deposit(self, ctx: CallContext, account: str, amount: int) -> None:
        _positive(ctx, "amount", amount)
        ctx.put(f"bal/{account}", ctx.get(f"bal/{account}", 0) + amount)
        ctx.put("supply", ctx.get("supply", 0) + amount)
        ctx.emit("deposit", account=account, amount=amount)

    @contract_method()
    def withdraw(self, ctx: CallContext, amount: int) -> None:
        _positive(ctx, "amount", amount)
        have = ctx.get(f"bal/{ctx.sender}", 0)
        ctx.require(have >= amount, f"{ctx.sender!r} has {have} tokens, needs {amount}")
        ctx.put(f"bal/{ctx.sender}", have - amount)
        ctx.put("supply", ctx.get("supply", 0) - amount)
        ctx.emit("withdraw", account=ctx.sender, amount=amount)

    @contract_method()
    def transfer(self, ctx: CallContext, to: str, amount: int) -> None:
        ctx.require(isinstance(to, str) and not to.startswith("@"), f"bad recipient {to!r}")
        self._move(ctx, ctx.sender, to, _positive(ctx, "amount", amount))
        ctx.emit("transfer", src=ctx.sender, dst=to, amount=amount)

    # -- channels -----------------------------------------------------------------------
    @contract_method()
    def open_channel(self, ctx: CallContext, receiver: str, deposit: int, timeout_ms: int) -> int:
        """Escrow ``deposit`` for ``receiver``; the sender may ask for a refund ``timeout_ms`` of chain time later."""
        _positive(ctx, "deposit", deposit)
        _positive(ctx, "timeout_ms", timeout_ms)
        ctx.require(isinstance(receiver, str) and receiver not in (ctx.sender, "") and not receiver.startswith("@"),
                    f"bad receiver {receiver!r}")
        cid = ctx.get("channel_count", 0)
        self._move(ctx, ctx.sender, "@escrow", deposit)
        ctx.put(f"chan/{cid}", {"id": cid, "sender": ctx.sender, "receiver": receiver, "deposit": deposit,
                                "expiry_ms": self._now(ctx) + timeout_ms, "state": "open", "amount": 0,
                                "settle_at_ms": 0})
        ctx.put("channel_count", cid + 1)
        ctx.emit("channel_opened", channel=cid, sender=ctx.sender, receiver=receiver, deposit=deposit)
        return cid

    def _channel(self, ctx: CallContext, cid: Any) -> dict[str, Any]:
        chan = ctx.get(f"chan/{cid}") if isinstance(cid, int) else None
        ctx.require(chan is not None, f"channel {cid!r} does not exist")
        return chan  # type: ignore[return-value]

    def _voucher_amount(self, ctx: CallContext, chan: dict[str, Any], amount: Any, signature: Any) -> int:
        _positive(ctx, "amount", amount)
        ctx.require(amount <= chan["deposit"], f"voucher of {amount} exceeds the deposit {chan['deposit']}")
        ctx.require(isinstance(signature, bytes) and ctx.verify_signature(
            chan["sender"], payment_bytes(ctx.chain_id, ctx.contract, chan["id"], amount), signature),
            f"voucher for {amount} on channel {chan['id']} is not signed by {chan['sender']!r}")
        return amount

    @contract_method()
    def close(self, ctx: CallContext, cid: int, amount: int, signature: bytes) -> None:
        """The receiver claims with a voucher; opens (or, while closing, answers) the challenge window."""
        chan = self._channel(ctx, cid)
        ctx.require(ctx.sender == chan["receiver"], f"only receiver {chan['receiver']!r} may close channel {cid}")
        self._claim(ctx, chan, self._voucher_amount(ctx, chan, amount, signature))

    @contract_method()
    def challenge(self, ctx: CallContext, cid: int, amount: int, signature: bytes) -> None:
        """During the window, a voucher with a higher amount than the claimed one replaces it."""
        chan = self._channel(ctx, cid)
        ctx.require(chan["state"] == "closing", f"channel {cid} is {chan['state']}, not closing")
        self._claim(ctx, chan, self._voucher_amount(ctx, chan, amount, signature))

    def _claim(self, ctx: CallContext, chan: dict[str, Any], amount: int) -> None:
        ctx.require(chan["state"] != "settled", f"channel {chan['id']} is already settled")
        now = self._now(ctx)
        if chan["state"] == "closing":
            ctx.require(now < chan["settle_at_ms"], f"challenge window of channel {chan['id']} ended at "
                                                    f"{chan['settle_at_ms']} ms, chain time is {now} ms")
            ctx.require(amount > chan["amount"], f"voucher {amount} is not newer than the claimed {chan['amount']}")
        else:
            chan["settle_at_ms"] = now + self._window(ctx)
        chan["state"], chan["amount"] = "closing", amount
        ctx.put(f"chan/{chan['id']}", chan)
        ctx.emit("channel_closing", channel=chan["id"], amount=amount, settle_at_ms=chan["settle_at_ms"])

    @contract_method()
    def refund(self, ctx: CallContext, cid: int) -> None:
        """After expiry the sender starts closing with nothing paid; the receiver may challenge."""
        chan = self._channel(ctx, cid)
        ctx.require(ctx.sender == chan["sender"], f"only sender {chan['sender']!r} may ask a refund of channel {cid}")
        ctx.require(chan["state"] == "open", f"channel {cid} is {chan['state']}, not open")
        now = self._now(ctx)
        ctx.require(now >= chan["expiry_ms"], f"channel {cid} expires at {chan['expiry_ms']} ms, chain time is {now} ms")
        chan["state"], chan["settle_at_ms"] = "closing", now + self._window(ctx)
        ctx.put(f"chan/{cid}", chan)
        ctx.emit("channel_closing", channel=cid, amount=0, settle_at_ms=chan["settle_at_ms"])

    @contract_method()
    def settle(self, ctx: CallContext, cid: int) -> None:
        """After the window: pay the receiver the claimed amount and return the rest to the sender."""
        chan = self._channel(ctx, cid)
        ctx.require(chan["state"] == "closing", f"channel {cid} is {chan['state']}, not closing")
        now = self._now(ctx)
        ctx.require(now >= chan["settle_at_ms"], f"channel {cid} settles at {chan['settle_at_ms']} ms of chain time, "
                                                 f"now {now} ms (the challenge window is still open)")
        if chan["amount"]:
            self._move(ctx, "@escrow", chan["receiver"], chan["amount"])
        if chan["deposit"] - chan["amount"]:
            self._move(ctx, "@escrow", chan["sender"], chan["deposit"] - chan["amount"])
        chan["state"] = "settled"
        ctx.put(f"chan/{cid}", chan)
        ctx.emit("channel_settled", channel=cid, paid=chan["amount"], refunded=chan["deposit"] - chan["amount"])
