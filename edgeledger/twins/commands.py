"""Commands back to the plant, the contract half: who may command a twin, and the acknowledgement log.

An authorised user (the twin's owner company, or a user the owner granted) submits
``command(twin, name, args)``; the contract checks the name and every argument against the
twin's schema and emits ``command`` for the twin's gateway (the outbound oracle). The gateway
delivers it to the actuator and records each attempt's outcome:

* ``ack(id, attempt, status, state, rtt_us, signature)`` -- the actuator's signature over the
  command, the attempt and the resulting state verifies under the actuator key registered in
  the twin; an ack for an attempt already recorded lost is recorded *late* (the actuator did
  apply the command, after the gateway gave up waiting);
* ``ack_missing(id, attempt)`` -- the attempt's acknowledgement did not arrive in time: recorded
  *lost*; the gateway may retry (``attempt + 1``) until ``max_attempts``, after which the command
  is *failed*. The bound is the contract's: a record for an attempt past it is refused.

Statuses: ``pending`` -> ``acked`` | ``retrying`` -> ... -> ``acked`` | ``failed``; a late ack turns
``retrying``/``failed`` into ``acked-late``. Only the twin's gateway records outcomes.
"""

from __future__ import annotations

from typing import Any

from edgeledger.crypto.keys import verify_signature
from edgeledger.ledger.contracts import CallContext, contract_method
from edgeledger.twins.records import ack_statement

__all__ = ["ACK_VERIFY_STEPS", "CommandBook", "load_twin", "may_command"]

ACK_VERIFY_STEPS = 20


def load_twin(ctx: CallContext, twin_id: Any) -> dict[str, Any]:
    """The twin's record; the call fails naming the id when there is none."""
    ctx.require(isinstance(twin_id, str), f"twin id must be a string, got {twin_id!r}")
    twin = ctx.get(f"twin/{twin_id}")
    ctx.require(twin is not None, f"unknown twin {twin_id!r}")
    return twin


def may_command(ctx: CallContext, twin: dict[str, Any], user: str) -> bool:
    """The owner company (while it still holds the company role) or a user the owner granted."""
    if user == twin["owner"]:
        return ctx.role(user) == "company"
    return user in ctx.get(f"grants/{twin['id']}", [])


def _check_args(ctx: CallContext, twin: dict[str, Any], name: Any, args: Any) -> None:
    schema = {c[0]: c[1] for c in twin["commands"]}
    ctx.require(name in schema, f"twin {twin['id']!r} has no command {name!r}; expected one of {sorted(schema)}")
    params = schema[name]
    ctx.require(isinstance(args, list) and len(args) == len(params),
                f"command {name!r} takes {len(params)} integer arguments {[p[0] for p in params]}, got {args!r}")
    for value, (param, low, high) in zip(args, params):
        ctx.require(isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
                    f"command {name!r}: {param}={value!r} is outside [{low}, {high}]")


class CommandBook:
    """The command methods of :class:`~edgeledger.twins.registry.TwinRegistry` (a mixin)."""

    @contract_method()
    def command(self, ctx: CallContext, twin_id: str, name: str, args: list[int]) -> int:
        """Queue a command for a twin's actuator; returns the command id."""
        twin = load_twin(ctx, twin_id)
        ctx.require(twin["status"] == "active", f"twin {twin_id!r} is {twin['status']}: it takes no commands")
        ctx.require(may_command(ctx, twin, ctx.sender), f"{ctx.sender!r} may not command twin {twin_id!r} "
                                                        f"(owner {twin['owner']!r} or a user it granted)")
        _check_args(ctx, twin, name, args)
        seq = ctx.get("cmd_seq", 0) + 1
        ctx.put("cmd_seq", seq)
        ctx.put(f"cmd/{seq}", {"id": seq, "twin": twin_id, "name": name, "args": list(args), "issuer": ctx.sender,
                               "gateway": twin["gateway"], "height": ctx.height, "tx": ctx.tx_id, "status": "pending",
                               "attempt": 1, "attempts": []})
        ctx.emit("command", id=seq, twin=twin_id, gateway=twin["gateway"], command=name, args=list(args))
        return seq

    def _gateway_command(self, ctx: CallContext, command_id: Any) -> dict[str, Any]:
        cmd = ctx.get(f"cmd/{command_id}") if isinstance(command_id, int) else None
        ctx.require(cmd is not None, f"unknown command {command_id!r}")
        ctx.require(ctx.sender == cmd["gateway"], f"only gateway {cmd['gateway']!r} records outcomes of command "
                                                  f"{command_id}, not {ctx.sender!r}")
        return cmd

    @contract_method()
    def ack(self, ctx: CallContext, command_id: int, attempt: int, status: str, state: list[int], rtt_us: int,
            signature: bytes) -> str:
        """Record the actuator's signed acknowledgement of ``attempt``; returns the command's status."""
        cmd = self._gateway_command(ctx, command_id)
        ctx.require(isinstance(attempt, int) and 1 <= attempt <= cmd["attempt"],
                    f"command {command_id}: attempt {attempt!r} was never sent (latest {cmd['attempt']})")
        ctx.require(status in ("applied", "refused") and isinstance(rtt_us, int) and rtt_us >= 0,
                    f"ack status must be applied|refused with rtt_us >= 0, got {status!r}, {rtt_us!r}")
        ctx.require(isinstance(state, list) and all(isinstance(v, int) for v in state), "ack state must be ints")
        outcomes = {a[0]: a[1] for a in cmd["attempts"]}
        ctx.require(outcomes.get(attempt) not in ("acked", "late"), f"command {command_id}: attempt {attempt} is "
                                                                      "already acknowledged")
        twin = load_twin(ctx, cmd["twin"])
        ctx.step(ACK_VERIFY_STEPS)
        message = ack_statement(ctx.chain_id, ctx.contract, command_id, cmd["twin"], cmd["name"], cmd["args"],
                                attempt, status, state)
        ctx.require(isinstance(signature, bytes) and verify_signature("ed25519", twin["actuator_key"], message,
                                                                      signature),
                    f"command {command_id}: acknowledgement is not signed by the actuator of twin {cmd['twin']!r}")
        late = outcomes.get(attempt) == "lost"
        entry = [attempt, "late" if late else "acked", rtt_us, status, ctx.height, ctx.tx_id]
        cmd["attempts"] = [a for a in cmd["attempts"] if a[0] != attempt] + [entry]
        if not late:
            cmd["status"] = "acked" if status == "applied" else "refused"
        elif cmd["status"] in ("retrying", "failed", "pending"):
            cmd["status"] = "acked-late" if status == "applied" else "refused"
        cmd["state"] = list(state)
        ctx.put(f"cmd/{command_id}", cmd)
        ctx.emit("ack", id=command_id, twin=cmd["twin"], attempt=attempt, outcome=entry[1], rtt_us=rtt_us)
        return cmd["status"]

    @contract_method()
    def ack_missing(self, ctx: CallContext, command_id: int, attempt: int) -> str:
        """Record that ``attempt``'s acknowledgement did not arrive in time; returns the command's status
        (``retrying``: the gateway may send ``attempt + 1``; ``failed``: the retry bound is reached)."""
        cmd = self._gateway_command(ctx, command_id)
        ctx.require(cmd["status"] in ("pending", "retrying"), f"command {command_id} is {cmd['status']}: "
                                                               "nothing is awaited")
        ctx.require(attempt == cmd["attempt"], f"command {command_id}: the awaited attempt is {cmd['attempt']}, "
                                               f"not {attempt!r}")
        limit = ctx.get("max_attempts")
        cmd["attempts"] = cmd["attempts"] + [[attempt, "lost", 0, "", ctx.height, ctx.tx_id]]
        if attempt >= limit:
            cmd["status"] = "failed"
        else:
            cmd["status"], cmd["attempt"] = "retrying", attempt + 1
        ctx.put(f"cmd/{command_id}", cmd)
        ctx.emit("ack_missing", id=command_id, twin=cmd["twin"], attempt=attempt, status=cmd["status"])
        return cmd["status"]
