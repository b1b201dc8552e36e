"""``bench.simple@1``: Caliper's "simple" contract (open, query, transfer) for the transfer workload.

Why not ``edgetoll.payments``: its tokens enter only through ``deposit``, which needs the
consortium's ``proxy`` role, and the edge/device topology has no proxy. This contract lets
anyone open an account with an initial balance and move money between accounts; a transfer
that would overdraw fails in its receipt. Accounts are few on purpose so that concurrent
transfers touch the same keys (read-write conflicts in block order).
"""

from __future__ import annotations

from typing import Any

from edgeledger.ledger.contracts import CallContext, Contract, contract_method, register_contract

__all__ = ["SimpleBank"]


@register_contract
class SimpleBank(Contract):
    name = "bench.simple"
    version = 1

    @contract_method()
    def open(self, ctx: CallContext, account: str, money: int) -> None:
        ctx.require(isinstance(account, str) and account != "", f"account must be a non-empty string, got {account!r}")
        ctx.require(isinstance(money, int) and money >= 0, f"money must be an integer >= 0, got {money!r}")
        ctx.put(f"acc/{account}", money)

    @contract_method()
    def query(self, ctx: CallContext, account: str) -> Any:
        return ctx.get(f"acc/{account}")

    @contract_method()
    def transfer(self, ctx: CallContext, src: str, dst: str, money: int) -> None:
        ctx.require(isinstance(money, int) and money > 0, f"money must be a positive integer, got {money!r}")
        have = ctx.get(f"acc/{src}")
        ctx.require(have is not None and ctx.get(f"acc/{dst}") is not None, f"unknown account {src!r} or {dst!r}")
        ctx.require(have >= money, f"account {src!r} has {have}, needs {money}")
        ctx.put(f"acc/{src}", have - money)
        ctx.put(f"acc/{dst}", ctx.get(f"acc/{dst}") + money)
