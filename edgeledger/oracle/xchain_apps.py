"""Two small applications for cross-chain requests (Fig. 3) between local chains.

:class:`StockLedger` (``pedal.stock``) is the destination side: a plant's stock, reserved
only through the gateway (sender ``xchain:<source chain>``). :class:`OrderBook`
(``pedal.orders``) is the source side: it records the result the gateway calls back with
once the relay group acknowledged the destination's state change. The federation
deployment (``edgeledger oracle federation-up``) deploys both on every local chain.
"""

from __future__ import annotations

from typing import Any

from edgeledger.ledger.contracts import CallContext, Contract, contract_method, register_contract

__all__ = ["StockLedger", "OrderBook", "STOCK_CODE", "ORDERS_CODE"]

STOCK_CODE = "pedal.stock"
ORDERS_CODE = "pedal.orders"


@register_contract
class StockLedger(Contract):
    name = STOCK_CODE
    version = 1

    def init(self, ctx: CallContext, stock: int) -> None:
        ctx.require(isinstance(stock, int) and stock >= 0, f"stock must be a non-negative int, got {stock!r}")
        ctx.put("stock", stock)

    @contract_method()
    def reserve(self, ctx: CallContext, qty: int) -> int:
        """Take ``qty`` units; returns what is left. Only another chain, through the gateway, may reserve."""
        ctx.require(ctx.sender.startswith("xchain:"), f"reservations arrive through the gateway, not {ctx.sender!r}")
        ctx.require(isinstance(qty, int) and qty > 0, f"qty must be a positive int, got {qty!r}")
        left = ctx.get("stock") - qty
        ctx.require(left >= 0, f"out of stock: {ctx.get('stock')} left, {qty} asked")
        ctx.put("stock", left)
        ctx.emit("reserved", qty=qty, left=left, by=ctx.sender)
        return left


@register_contract
class OrderBook(Contract):
    name = ORDERS_CODE
    version = 1

    def init(self, ctx: CallContext) -> None:
        ctx.put("count", 0)

    @contract_method()
    def confirmed(self, ctx: CallContext, msg_id: str, result: Any) -> int:
        """The gateway's callback with the destination's result (sender ``xchain:<destination>``)."""
        ctx.require(ctx.sender.startswith("xchain:"), f"confirmations arrive through the gateway, not {ctx.sender!r}")
        ctx.require(ctx.get(f"confirmed/{msg_id}") is None, f"order {msg_id} is already confirmed")
        ctx.put(f"confirmed/{msg_id}", result)
        count = ctx.get("count", 0) + 1
        ctx.put("count", count)
        ctx.emit("confirmed", msg_id=msg_id, by=ctx.sender)
        return count
