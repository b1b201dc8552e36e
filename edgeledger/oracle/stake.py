"""The requester's stake: a deposit that a junk request forfeits (SewingChain's Pedal).

Oracle work costs the nodes something (a source read, a training run), so a requester puts
up a stake with each request: at least the proxy's ``min_stake`` tokens of its balance on
the proxy (credited by the proxy's admin with ``fund``; ``withdraw`` takes them out). The
stake sits in escrow until the request ends:

* a result is accepted: the stake goes back to the requester;
* the work nodes judge the request junk (malformed parameters, a source nobody serves) and
  the master's group signs that verdict (:data:`JUNK`): the stake is forfeited, split among
  the work nodes that were drawn for it (the remainder to ``@forfeited``), and no callback runs;
* the request expires unserved (``expire``, anyone may call it after its last block): the
  stake goes back, since the oracle, not the requester, failed.
"""

from __future__ import annotations

from edgeledger.codec import decode, encode
from edgeledger.ledger.contracts import CallContext, contract_method
from edgeledger.oracle.records import OracleRequest

__all__ = ["StakeLedger", "JUNK", "is_junk"]

#: the observation (and, with a quorum of them, the result) that says "this request is junk"
JUNK = encode(("pedal-junk",))


def is_junk(value: bytes) -> bool:
    return value == JUNK


class StakeLedger:
    """The proxy's token balances and request escrow (a mixin of the proxy contract)."""

    @contract_method()
    def fund(self, ctx: CallContext, account: str, amount: int) -> int:
        """The admin credits ``amount`` tokens to ``account`` (money entering the oracle); returns its balance."""
        ctx.require(ctx.sender == ctx.get("admin"), f"only the admin funds accounts, not {ctx.sender!r}")
        ctx.require(isinstance(account, str) and account and not account.startswith("@"), f"bad account {account!r}")
        ctx.require(isinstance(amount, int) and not isinstance(amount, bool) and amount > 0,
                    f"amount must be a positive integer, got {amount!r}")
        balance = ctx.get(f"bal/{account}", 0) + amount
        ctx.put(f"bal/{account}", balance)
        return balance

    @contract_method()
    def withdraw(self, ctx: CallContext, amount: int) -> int:
        have = ctx.get(f"bal/{ctx.sender}", 0)
        ctx.require(isinstance(amount, int) and 0 < amount <= have, f"{ctx.sender!r} has {have} tokens, asked {amount!r}")
        ctx.put(f"bal/{ctx.sender}", have - amount)
        return have - amount

    def escrow(self, ctx: CallContext, requester: str, stake: int) -> None:
        minimum = ctx.get("min_stake", 0)
        ctx.require(isinstance(stake, int) and not isinstance(stake, bool) and stake >= minimum,
                    f"a request needs a stake of at least {minimum} tokens, got {stake!r}")
        have = ctx.get(f"bal/{requester}", 0)
        ctx.require(have >= stake, f"{requester!r} has {have} tokens, the stake is {stake}")
        if stake:
            ctx.put(f"bal/{requester}", have - stake)

    def refund(self, ctx: CallContext, request: OracleRequest) -> None:
        if request.stake:
            ctx.put(f"bal/{request.requester}", ctx.get(f"bal/{request.requester}", 0) + request.stake)

    def forfeit(self, ctx: CallContext, request: OracleRequest, workers: list[str]) -> None:
        """The junk request's stake, split among its work nodes (the remainder to ``@forfeited``)."""
        if not request.stake:
            return
        each = request.stake // len(workers) if workers else 0
        for w in workers:
            ctx.put(f"bal/{w}", ctx.get(f"bal/{w}", 0) + each)
        rest = request.stake - each * len(workers)
        if rest:
            ctx.put("bal/@forfeited", ctx.get("bal/@forfeited", 0) + rest)
        ctx.emit("forfeited", request_id=request.request_id, requester=request.requester, stake=request.stake,
                 to=workers)

    @contract_method()
    def expire(self, ctx: CallContext, request_id: str) -> None:
        """After its last block an unserved request leaves the queue and its stake goes back."""
        raw = ctx.get(f"pending/{request_id}")
        ctx.require(raw is not None, f"request {request_id!r} is not pending")
        request = decode(raw[0], OracleRequest)
        ctx.require(ctx.height > request.expires_at_height,
                    f"request {request_id!r} lives until height {request.expires_at_height}, now {ctx.height}")
        ctx.delete(f"pending/{request_id}")
        ctx.put(f"done/{request_id}", ctx.height)
        self.refund(ctx, request)
        ctx.emit("expired", request_id=request_id, stake=request.stake)
