"""Two small applications for cross-chain tests: an inventory (destination) and orders (source)."""

from edgeledger.ledger.contracts import CallContext, Contract, contract_method, register_contract


@register_contract
class Inventory(Contract):
    name = "test.inventory"

    def init(self, ctx: CallContext, stock: int) -> None:
        ctx.put("stock", stock)

    @contract_method()
    def reserve(self, ctx: CallContext, qty: int) -> int:
        ctx.require(ctx.sender.startswith("xchain:"), "reservations arrive through the gateway")
        left = ctx.get("stock") - qty
        ctx.require(left >= 0, "out of stock")
        ctx.put("stock", left)
        return left


@register_contract
class Orders(Contract):
    name = "test.orders"

    @contract_method()
    def confirmed(self, ctx: CallContext, msg_id: str, left: int) -> None:
        ctx.require(ctx.sender == "xchain:lbc2", f"confirmation from {ctx.sender!r}")
        ctx.put(f"confirmed/{msg_id}", left)
