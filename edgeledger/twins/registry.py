"""The twin registry contract (SewingChain's control layer on a plant's local chain).

A twin is a machine or a workpiece: its owner company, the edge it sits at and that edge's
gateway (the chain identity that files its readings and delivers its commands), the keys of
its sensor (readings are attested by it) and actuator (acknowledgements are signed by it), and
its schema -- sensor fields with units, commands with integer parameters and their bounds.

* ``add_twin`` needs the consortium role ``company`` (the sender becomes the owner);
  ``update_twin``, ``retire_twin``, ``grant``/``revoke`` (who else may command it) and
  ``close_order`` are the owner's;
* a twin's state changes **only** through ``deliver``, the data oracle's callback: the proxy
  has already checked the group's threshold signature (>= 2/3 of the oracle group agreed on
  the observation), so the sender must be ``contract:<proxy>``. An attested reading becomes the
  twin's state (if newer) and enters its history (the batch's digest; the raw batch stays in
  the storage layer); any other verdict (forged by a gateway, mismatching or missing in the
  store) is recorded as refused and changes nothing else;
* ``set_model`` is the computing oracle's callback: a round of the registered maintenance task
  (its digest must match) sets the model whose digest every later risk names;
* a reading's risk at or above ``risk_threshold_milli`` under a model the chain knows opens a
  maintenance order, unless one is open for that twin.

Commands and acknowledgements are :class:`~edgeledger.twins.commands.CommandBook`'s.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.errors import DecodeError
from edgeledger.ledger.contracts import (
    CallContext,
    Contract,
    ContractError,
    contract_method,
    register_contract,
)
from edgeledger.oracle.proxy import callback_sender, request_blob_references
from edgeledger.twins.commands import CommandBook, load_twin
from edgeledger.twins.records import READING_KIND, REGISTRY_CODE, VERDICTS, ReadingClaim, TwinObservation

__all__ = ["TWIN_KINDS", "UPDATABLE", "TwinRegistry"]

TWIN_KINDS = ("machine", "workpiece")
UPDATABLE = ("edge", "gateway", "sensor_key", "actuator_key", "sensors", "commands")
ORDER_OUTCOMES = ("repaired", "no-fault", "failed")


@request_blob_references.register(READING_KIND)
def _reading_blob(params: bytes) -> list[bytes]:
    """A reading request names its sensor batch: the storage layer keeps it for the audit."""
    return [decode(params, ReadingClaim).digest]


def _check_schema(ctx: CallContext, sensors: Any, commands: Any) -> None:
    ctx.require(isinstance(sensors, list) and len(sensors) > 0 and all(
        isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) and x for x in s) for s in sensors),
        f"sensors must be a non-empty list of [field, unit], got {sensors!r}")
    ctx.require(len({s[0] for s in sensors}) == len(sensors), "sensor fields must be distinct")
    ctx.require(isinstance(commands, list) and all(
        isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and c[0] and isinstance(c[1], list) and all(
            isinstance(p, list) and len(p) == 3 and isinstance(p[0], str) and isinstance(p[1], int)
            and isinstance(p[2], int) and p[1] <= p[2] for p in c[1]) for c in commands),
        f"commands must be a list of [name, [[param, min, max], ...]], got {commands!r}")
    ctx.require(len({c[0] for c in commands}) == len(commands), "command names must be distinct")


def _check_key(ctx: CallContext, what: str, key: Any) -> None:
    ctx.require(isinstance(key, bytes) and len(key) == 32, f"{what} must be a 32-byte Ed25519 public key")


@register_contract
class TwinRegistry(CommandBook, Contract):
    name = REGISTRY_CODE
    version = 1

    def init(self, ctx: CallContext, proxy: str, risk_threshold_milli: int = 700, max_attempts: int = 3,
             model_task: bytes = b"") -> None:
        ctx.require(isinstance(proxy, str) and proxy, "proxy must name the oracle proxy instance")
        ctx.require(isinstance(risk_threshold_milli, int) and 0 < risk_threshold_milli <= 1000,
                    f"risk_threshold_milli must lie in 1..1000, got {risk_threshold_milli!r}")
        ctx.require(isinstance(max_attempts, int) and 1 <= max_attempts <= 10,
                    f"max_attempts must lie in 1..10, got {max_attempts!r}")
        for key, value in (("admin", ctx.sender), ("proxy", proxy), ("risk_threshold_milli", risk_threshold_milli),
                           ("max_attempts", max_attempts), ("model_task", model_task), ("ids", [])):
            ctx.put(key, value)

    # -- the registry ----------------------------------------------------------------------------
    @contract_method("company")
    def add_twin(self, ctx: CallContext, twin_id: str, kind: str, edge: str, gateway: str, sensor_key: bytes,
                 actuator_key: bytes, sensors: list[list[str]], commands: list[Any]) -> int:
        """Register a twin owned by the sender; returns the number of twins."""
        ctx.require(isinstance(twin_id, str) and 0 < len(twin_id) <= 64 and "/" not in twin_id,
                    f"twin id must be 1..64 characters without '/', got {twin_id!r}")
        ctx.require(ctx.get(f"twin/{twin_id}") is None, f"twin {twin_id!r} exists")
        ctx.require(kind in TWIN_KINDS, f"kind must be one of {TWIN_KINDS}, got {kind!r}")
        ctx.require(isinstance(edge, str) and edge and ctx.role(gateway) is not None,
                    f"edge must be named and gateway {gateway!r} a member of this chain")
        _check_key(ctx, "sensor_key", sensor_key)
        _check_key(ctx, "actuator_key", actuator_key)
        _check_schema(ctx, sensors, commands)
        ctx.put(f"twin/{twin_id}", {"id": twin_id, "kind": kind, "owner": ctx.sender, "edge": edge, "gateway": gateway,
                                    "sensor_key": sensor_key, "actuator_key": actuator_key, "sensors": sensors,
                                    "commands": commands, "status": "active", "version": 1, "height": ctx.height,
                                    "tx": ctx.tx_id})
        ids = ctx.get("ids", []) + [twin_id]
        ctx.put("ids", ids)
        ctx.emit("twin_added", twin=twin_id, owner=ctx.sender, edge=edge)
        return len(ids)

    def _owned(self, ctx: CallContext, twin_id: Any) -> dict[str, Any]:
        twin = load_twin(ctx, twin_id)
        ctx.require(ctx.sender == twin["owner"] and ctx.role() == "company",
                    f"only the owner company {twin['owner']!r} may change twin {twin_id!r}, not {ctx.sender!r}")
        return twin

    @contract_method()
    def update_twin(self, ctx: CallContext, twin_id: str, field: str, value: Any) -> int:
        """Change one of :data:`UPDATABLE` of an active twin; returns its new version."""
        twin = self._owned(ctx, twin_id)
        ctx.require(twin["status"] == "active", f"twin {twin_id!r} is retired")
        ctx.require(field in UPDATABLE, f"field {field!r} cannot be updated; expected one of {UPDATABLE}")
        if field in ("sensor_key", "actuator_key"):
            _check_key(ctx, field, value)
        elif field == "sensors":
            _check_schema(ctx, value, twin["commands"])
        elif field == "commands":
            _check_schema(ctx, twin["sensors"], value)
        else:
            ctx.require(isinstance(value, str) and value and (field != "gateway" or ctx.role(value) is not None),
                        f"{field} must name a member of this chain, got {value!r}")
        twin[field], twin["version"] = value, twin["version"] + 1
        ctx.put(f"twin/{twin_id}", twin)
        ctx.emit("twin_updated", twin=twin_id, field=field, version=twin["version"])
        return twin["version"]

    @contract_method()
    def retire_twin(self, ctx: CallContext, twin_id: str) -> None:
        twin = self._owned(ctx, twin_id)
        ctx.require(twin["status"] == "active", f"twin {twin_id!r} is already retired")
        twin["status"] = "retired"
        ctx.put(f"twin/{twin_id}", twin)
        ctx.emit("twin_retired", twin=twin_id)

    @contract_method()
    def grant(self, ctx: CallContext, twin_id: str, user: str) -> list[str]:
        """Let ``user`` (a member of the chain) command the twin; returns the granted users."""
        self._owned(ctx, twin_id)
        ctx.require(isinstance(user, str) and ctx.role(user) is not None, f"{user!r} is not a member of this chain")
        users = sorted(set(ctx.get(f"grants/{twin_id}", [])) | {user})
        ctx.put(f"grants/{twin_id}", users)
        return users

    @contract_method()
    def revoke(self, ctx: CallContext, twin_id: str, user: str) -> list[str]:
        self._owned(ctx, twin_id)
        users = [u for u in ctx.get(f"grants/{twin_id}", []) if u != user]
        ctx.put(f"grants/{twin_id}", users)
        return users

    # -- oracle callbacks ------------------------------------------------------------------------
    def _from_proxy(self, ctx: CallContext) -> None:
        ctx.require(ctx.sender == callback_sender(ctx.get("proxy")),
                    f"twin state changes only through oracle fulfilments, not from {ctx.sender!r}")

    @contract_method()
    def deliver(self, ctx: CallContext, request_id: str, result: Any) -> str:
        """The data oracle's callback with the group's :class:`TwinObservation`; returns the verdict."""
        self._from_proxy(ctx)
        try:
            obs = decode(encode(result), TwinObservation)
        except DecodeError as exc:
            raise ContractError(f"{ctx.contract}: fulfilment {request_id!r} is not a twin observation: {exc}") from None
        twin = load_twin(ctx, obs.twin_id)
        ctx.require(obs.verdict in VERDICTS, f"unknown verdict {obs.verdict!r}")
        stats = ctx.get(f"stats/{obs.twin_id}", [0, 0, 0])  # attested, refused, failures (running -> failed)
        if obs.verdict != "attested" or twin["status"] != "active":
            ctx.put(f"refused/{obs.twin_id}/{obs.seq}", [obs.digest, obs.verdict if obs.verdict != "attested"
                                                         else "retired", ctx.height, ctx.tx_id, request_id])
            ctx.put(f"stats/{obs.twin_id}", [stats[0], stats[1] + 1, stats[2]])
            ctx.put(f"last_refused/{obs.twin_id}", (ctx.get(f"last_refused/{obs.twin_id}", []) + [obs.seq])[-20:])
            ctx.emit("refused", twin=obs.twin_id, seq=obs.seq, verdict=obs.verdict)
            return obs.verdict
        ctx.require(len(obs.values) == len(twin["sensors"]), f"observation of {obs.twin_id!r} has "
                                                              f"{len(obs.values)} values for {len(twin['sensors'])} fields")
        ctx.put(f"reading/{obs.twin_id}/{obs.seq}", [obs.digest, obs.time_ms, ctx.height, ctx.tx_id, request_id])
        failed = obs.status == "failed"
        state = ctx.get(f"state/{obs.twin_id}", {"seq": 0, "risk_milli": -1, "model": b"", "status": ""})
        if obs.seq <= state["seq"]:  # attested but older than what the twin shows: history only
            ctx.put(f"stats/{obs.twin_id}", [stats[0] + 1, stats[1], stats[2]])
            ctx.emit("reading", twin=obs.twin_id, seq=obs.seq, current=False)
            return "attested"
        new_failure = failed and state["status"] != "failed"  # a failure, not the next reading of the same one
        ctx.put(f"stats/{obs.twin_id}", [stats[0] + 1, stats[1], stats[2] + int(new_failure)])
        known = obs.model_digest != b"" and ctx.get(f"models/{obs.model_digest.hex()}") is not None
        state = {"seq": obs.seq, "time_ms": obs.time_ms, "hours": obs.hours, "status": obs.status,
                 "values": list(obs.values), "digest": obs.digest, "height": ctx.height, "tx": ctx.tx_id,
                 "risk_milli": obs.risk_milli if known else state["risk_milli"],
                 "model": obs.model_digest if known else state["model"]}
        ctx.put(f"state/{obs.twin_id}", state)
        ctx.emit("reading", twin=obs.twin_id, seq=obs.seq, current=True)
        if new_failure:
            ctx.emit("failure", twin=obs.twin_id, seq=obs.seq, hours=obs.hours)
        if known and obs.risk_milli >= ctx.get("risk_threshold_milli") and not failed and \
                ctx.get(f"open_order/{obs.twin_id}") is None:
            self._open_order(ctx, obs)
        return "attested"

    def _open_order(self, ctx: CallContext, obs: TwinObservation) -> None:
        seq = ctx.get("order_seq", 0) + 1
        ctx.put("order_seq", seq)
        ctx.put(f"order/{seq}", {"id": seq, "twin": obs.twin_id, "risk_milli": obs.risk_milli,
                                 "model": obs.model_digest, "seq": obs.seq, "hours": obs.hours, "height": ctx.height,
                                 "tx": ctx.tx_id, "status": "open", "outcome": "", "closed_height": 0,
                                 "close_tx": b""})
        ctx.put(f"open_order/{obs.twin_id}", seq)
        ctx.emit("maintenance_order", id=seq, twin=obs.twin_id, risk_milli=obs.risk_milli)

    @contract_method()
    def set_model(self, ctx: CallContext, request_id: str, result: Any) -> int:
        """The computing oracle's callback: ``[task digest, round, global model digest]``; returns the round."""
        self._from_proxy(ctx)
        ctx.require(isinstance(result, list) and len(result) == 3, f"model result must be [task, round, digest], "
                                                                   f"got {result!r}")
        task, round_, digest = result
        ctx.require(task == ctx.get("model_task") and task != b"", "model result is for a task other than the "
                                                                   "registered maintenance task")
        current = ctx.get("model", [b"", 0, 0, b""])
        ctx.require(isinstance(round_, int) and round_ == current[1] + 1,
                    f"model round {round_!r} does not follow round {current[1]}")
        ctx.require(isinstance(digest, bytes) and len(digest) == 32, "model digest must be 32 bytes")
        ctx.put("model", [digest, round_, ctx.height, ctx.tx_id])
        ctx.put(f"models/{digest.hex()}", round_)
        ctx.emit("model", round=round_, digest=digest)
        return round_

    @contract_method()
    def set_model_task(self, ctx: CallContext, task_digest: bytes) -> None:
        """The admin names the maintenance task whose rounds may set the model (before its first round)."""
        ctx.require(ctx.sender == ctx.get("admin"), f"only the admin may set the maintenance task, not {ctx.sender!r}")
        ctx.require(isinstance(task_digest, bytes) and len(task_digest) == 32, "task digest must be 32 bytes")
        ctx.require(ctx.get("model") is None, "the maintenance task is fixed once a model round is on chain")
        ctx.put("model_task", task_digest)

    # -- maintenance orders ----------------------------------------------------------------------
    @contract_method()
    def close_order(self, ctx: CallContext, order_id: int, outcome: str) -> None:
        """The owner closes an order after inspection: ``repaired``, ``no-fault`` (a false alarm) or ``failed``
        (the machine broke before the inspection)."""
        order = ctx.get(f"order/{order_id}") if isinstance(order_id, int) else None
        ctx.require(order is not None and order["status"] == "open", f"no open maintenance order {order_id!r}")
        self._owned(ctx, order["twin"])
        ctx.require(outcome in ORDER_OUTCOMES, f"outcome must be one of {ORDER_OUTCOMES}, got {outcome!r}")
        order.update(status="closed", outcome=outcome, closed_height=ctx.height, close_tx=ctx.tx_id)
        ctx.put(f"order/{order_id}", order)
        ctx.delete(f"open_order/{order['twin']}")
        ctx.emit("order_closed", id=order_id, twin=order["twin"], outcome=outcome)
