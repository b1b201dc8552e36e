"""Pedal's oracle proxy contract and the ``oracle.fulfill`` transaction kind (Algorithm 1).

The proxy keeps the registry of oracle nodes (BLS key checked by its proof of possession,
VRF key), the signing groups (made by the distributed key generation of
:mod:`edgeledger.oracle.dkg`; ``register_group`` from a trusted dealer remains for tests),
the terms' chained seeds and fallback board (:mod:`edgeledger.oracle.terms`), the
requesters' stakes (:mod:`edgeledger.oracle.stake`) and the pending request queue. A
master's fulfillment is accepted only when, deterministically on chain:

1. the request is still pending (a replay of a fulfilled request is refused) and has not
   expired (``height <= expires_at_height``);
2. the sender is the master: its own VRF proof over ``seed_term || term`` verifies under its
   registered key with ``beta < threshold(alpha, n)``; or -- fallback, no proofs presented --
   the term's fallback board is closed and the sender holds its smallest output;
3. the master belongs to the named group and the group key is that group's C_0;
4. the master's work-node draw verifies (:mod:`edgeledger.oracle.work`): the chain records
   which nodes did the work;
5. the signature verifies under the group key over (chain, proxy, request, result): with
   threshold t = ceil(2|group|/3) that proves >= 2/3 of the group signed.

Then the request leaves the queue. A junk verdict (:data:`~edgeledger.oracle.stake.JUNK`)
forfeits the requester's stake to the work nodes; any other result returns the stake and
the application's callback runs in the same transaction, with ``sender =
"contract:<proxy>"`` (the runtime has no contract-to-contract call, so this kind performs
both executions and commits them atomically). A sealed request's result is sealed to the
requester (:mod:`edgeledger.oracle.privacy`); the callback receives the sealed form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.crypto.bls import bls_pop_verify, bls_verify
from edgeledger.crypto.threshold import group_public_key
from edgeledger.crypto.vrf import PUBLIC_KEY_BYTES
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.contracts import (
    CallContext, CallLog, Contract, ContractError, StateEntry, Version, call_blob_references, contract_meta,
    contract_method, contract_state, contract_types, execute, register_contract, step_budget,
)
from edgeledger.ledger.contracts.runtime import state_key
from edgeledger.ledger.state import TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction
from edgeledger.oracle.dkg import DistributedKeyGeneration
from edgeledger.oracle.election import certificate_error, election_threshold, verified_output
from edgeledger.oracle.records import Fulfillment, OracleFulfill, OracleGroup, OracleRequest, result_message
from edgeledger.oracle.stake import StakeLedger, is_junk
from edgeledger.oracle.terms import DEFAULT_FALLBACK_MS, ElectionBoard
from edgeledger.oracle.work import verified_work_nodes
from edgeledger.registry import Registry

__all__ = ["OracleProxy", "PROXY_CODE", "request_body", "callback_sender", "pending_request", "registered_nodes",
           "registered_group", "oracle_group", "commit_executions", "BLS_VERIFY_STEPS", "VRF_VERIFY_STEPS",
           "request_blob_references"]

PROXY_CODE = "pedal.oracle_proxy"
BLS_VERIFY_STEPS = 200
VRF_VERIFY_STEPS = 50


#: request kind -> ``params -> [digests of the blobs the request names]``: a request whose
#: parameters point at a blob in the storage layer (a twin's sensor batch) names it, so the
#: storage layer keeps it for good instead of deleting it when its upload window passes
request_blob_references: Registry[Callable[[bytes], list[bytes]]] = Registry("oracle request blob reference")


@call_blob_references.register("request")
def _request_blobs(args: list[Any]) -> list[bytes]:
    """The blobs a ``request`` call names: its kind's reader over its (unsealed) params."""
    if len(args) < 3 or not isinstance(args[0], str) or not isinstance(args[2], bytes):
        return []
    if args[0] not in request_blob_references or (len(args) > 9 and args[9] is True):  # sealed: opaque params
        return []
    return request_blob_references.get(args[0])(args[2])


def callback_sender(proxy: str) -> str:
    """The sender an application's callback sees when ``proxy`` calls it back."""
    return f"contract:{proxy}"


def request_body(chain_id: str, proxy: str, kind: str, source: str, params: bytes, callback_contract: str,
                 callback_method: str, timestamp_ms: int) -> bytes:
    """What the requester signs as its certificate (Fig. 2: requester key and certificate)."""
    return encode(("pedal-request", chain_id, proxy, kind, source, params, callback_contract, callback_method,
                   timestamp_ms))


@register_contract
class OracleProxy(ElectionBoard, DistributedKeyGeneration, StakeLedger, Contract):
    name = PROXY_CODE
    version = 1

    def init(self, ctx: CallContext, seed: bytes, alpha_milli: int = 1000, term_blocks: int = 10,
             fallback_ms: int = DEFAULT_FALLBACK_MS, work_nodes: int = 0, min_stake: int = 0) -> None:
        """``work_nodes``: how many nodes the master draws per request (0: the size of its group);
        ``min_stake``: the least stake a request escrows; ``fallback_ms``: the fallback board's window."""
        ctx.require(isinstance(seed, bytes) and len(seed) >= 16, "election seed must be >= 16 bytes")
        ctx.require(alpha_milli > 0 and term_blocks > 0, "alpha and term_blocks must be positive")
        ctx.require(all(isinstance(v, int) and v >= 0 for v in (fallback_ms, work_nodes, min_stake)),
                    "fallback_ms, work_nodes and min_stake must be non-negative integers")
        for key, value in (("admin", ctx.sender), ("seed", seed), ("alpha_milli", alpha_milli),
                           ("term_blocks", term_blocks), ("fallback_ms", fallback_ms), ("work_nodes", work_nodes),
                           ("min_stake", min_stake), ("nodes", []), ("seq", 0)):
            ctx.put(key, value)

    @contract_method("oracle")
    def register(self, ctx: CallContext, bls_public_key: bytes, pop: bytes, vrf_public_key: bytes) -> int:
        """Register the sender as an oracle node; returns the number of registered nodes."""
        nodes: list[str] = ctx.get("nodes", [])
        ctx.require(ctx.sender not in nodes, f"oracle node {ctx.sender!r} is already registered")
        ctx.step(BLS_VERIFY_STEPS)
        ctx.require(bls_pop_verify(bls_public_key, pop), f"BLS proof of possession of {ctx.sender!r} does not verify")
        ctx.require(isinstance(vrf_public_key, bytes) and len(vrf_public_key) == PUBLIC_KEY_BYTES,
                    f"VRF public key must be {PUBLIC_KEY_BYTES} bytes")
        ctx.put(f"node/{ctx.sender}", [bls_public_key, vrf_public_key])
        ctx.put("nodes", sorted(nodes + [ctx.sender]))
        ctx.emit("registered", node=ctx.sender)
        return len(nodes) + 1

    @contract_method()
    def register_group(self, ctx: CallContext, group_id: str, members: list[str], commitments: list[bytes],
                       threshold: int) -> bytes:
        """The dealer (the proxy's admin) records a working group's Feldman commitments."""
        ctx.require(ctx.sender == ctx.get("admin"), f"only the admin may register groups, not {ctx.sender!r}")
        ctx.require(ctx.get(f"group/{group_id}") is None, f"group {group_id!r} exists")
        nodes = ctx.get("nodes", [])
        ctx.require(len(members) > 0 and len(set(members)) == len(members), "group members must be distinct")
        ctx.require(all(m in nodes for m in members), "every group member must be a registered oracle node")
        need = -(-2 * len(members) // 3)
        ctx.require(threshold >= need and len(commitments) == threshold,
                    f"threshold must be >= ceil(2n/3) = {need} with one commitment per coefficient, got "
                    f"t={threshold} and {len(commitments)} commitments")
        ctx.step(BLS_VERIFY_STEPS)
        try:
            key = group_public_key(commitments)
        except EdgeLedgerError as exc:
            raise ContractError(f"group {group_id!r}: bad commitment: {exc}") from None
        ctx.put(f"group/{group_id}", [members, commitments, threshold])
        ctx.emit("group", group_id=group_id, key=key)
        return key

    @contract_method()
    def request(self, ctx: CallContext, kind: str, source: str, params: bytes, callback_contract: str,
                callback_method: str, timestamp_ms: int, ttl_blocks: int, certificate: bytes, stake: int = 0,
                sealed: bool = False) -> str:
        """File a request (``stake`` tokens into escrow; ``sealed``: ``params`` is an envelope for the
        oracle nodes and the result will be sealed to the requester); emits ``requested``."""
        body = request_body(ctx.chain_id, ctx.contract, kind, source, params, callback_contract, callback_method,
                            timestamp_ms)
        ctx.require(ctx.verify_signature(ctx.sender, body, certificate), "requester certificate does not verify")
        ctx.require(ttl_blocks > 0, f"ttl_blocks must be positive, got {ttl_blocks}")
        ctx.require(isinstance(sealed, bool), f"sealed must be true or false, got {sealed!r}")
        self.escrow(ctx, ctx.sender, stake)
        seq = ctx.get("seq", 0) + 1
        ctx.put("seq", seq)
        term = ctx.height // ctx.get("term_blocks")
        request = OracleRequest(
            request_id=f"{ctx.contract}#{seq}", kind=kind, source=source, params=params, requester=ctx.sender,
            requester_certificate=certificate, callback_contract=callback_contract, callback_method=callback_method,
            timestamp_ms=timestamp_ms, expires_at_height=ctx.height + ttl_blocks, term=term, height=ctx.height,
            seed=self.seed_for(ctx, term), sealed=sealed, stake=stake)
        ctx.put(f"pending/{request.request_id}", [encode(request), len(ctx.get("nodes", []))])
        ctx.emit("requested", request=encode(request))
        return request.request_id

    # not a contract_method: reachable only through the ``oracle.fulfill`` kind below
    def fulfill(self, ctx: CallContext, f: Fulfillment) -> tuple[OracleRequest, bool]:
        """Check ``f`` (see the module docstring); returns the request and whether it was junk."""
        raw = ctx.get(f"pending/{f.request_id}")
        if raw is None:
            done = ctx.get(f"done/{f.request_id}")
            ctx.require(False, f"request {f.request_id!r} is not pending" +
                        (f" (fulfilled at height {done}: replay refused)" if done is not None else ""))
        request, n_registered = decode(raw[0], OracleRequest), raw[1]
        ctx.require(ctx.height <= request.expires_at_height,
                    f"request {f.request_id!r} expired at height {request.expires_at_height}, now {ctx.height}")
        ctx.require(ctx.sender == f.master, f"fulfillment names master {f.master!r} but is sent by {ctx.sender!r}")
        beta = self._check_election(ctx, f, request, n_registered)
        group = oracle_group_in(ctx, f.group_id)
        ctx.require(group is not None, f"unknown group {f.group_id!r}")
        assert group is not None
        ctx.require(f.master in group.members, f"master {f.master!r} is not in group {f.group_id!r}")
        ctx.step(BLS_VERIFY_STEPS)
        ctx.require(f.group_public_key == group_public_key(group.commitments),
                    f"group key is not group {f.group_id!r}'s registered key")
        workers = self._check_work(ctx, f, request, group)
        ctx.step(BLS_VERIFY_STEPS)
        message = result_message(ctx.chain_id, ctx.contract, f.request_id, f.result)
        ctx.require(bls_verify(f.group_public_key, message, f.signature),
                    f"group signature over request {f.request_id!r} does not verify (needs >= 2/3 of the group)")
        ctx.delete(f"pending/{f.request_id}")
        ctx.put(f"done/{f.request_id}", ctx.height)
        self.record_output(ctx, request.term, beta)
        junk = is_junk(f.result)
        if junk:
            self.forfeit(ctx, request, workers)
        else:
            self.refund(ctx, request)
        ctx.emit("fulfilled", request_id=f.request_id, master=f.master, group=f.group_id, result=f.result,
                 workers=workers, junk=junk)
        return request, junk

    def _seed(self, ctx: CallContext, request: OracleRequest) -> bytes:
        return request.seed or ctx.get("seed")

    def _check_election(self, ctx: CallContext, f: Fulfillment, request: OracleRequest, n_registered: int) -> bytes:
        """The master's VRF output for the term, once its election is proven (own proof or fallback board)."""
        seed = self._seed(ctx, request)
        if not f.election:  # fallback: the chain's board decides, the master presents nothing
            master, why, outputs = self.decide_fallback(ctx, request.term)
            ctx.require(master is not None, f"no fallback master for term {request.term}: {why}")
            ctx.require(master == f.master, f"the fallback master of term {request.term} is {master!r}, "
                                            f"not {f.master!r} (smallest of {len(outputs)} posted proofs)")
            return outputs[f.master]
        threshold = election_threshold(ctx.get("alpha_milli"), n_registered)

        def vrf_key(node: str) -> bytes | None:
            entry = ctx.get(f"node/{node}")
            return None if entry is None else entry[1]

        error = certificate_error(f.master, f.election, request.term, n_registered, threshold, seed, vrf_key,
                                  lambda: ctx.step(VRF_VERIFY_STEPS))
        ctx.require(error is None, error or "")
        return verified_output(f.election[0], vrf_key(f.master) or b"", seed) or b""

    def _check_work(self, ctx: CallContext, f: Fulfillment, request: OracleRequest, group: OracleGroup) -> list[str]:
        """The work nodes the master's draw names (its proof must verify)."""
        entry = ctx.get(f"node/{f.master}")
        k = ctx.get("work_nodes", 0) or len(group.members)
        ctx.step(VRF_VERIFY_STEPS)
        workers = verified_work_nodes(f.work_proof, entry[1] if entry else None, self._seed(ctx, request),
                                      request.term, request.request_id, ctx.get("nodes", []), k)
        ctx.require(workers is not None, f"the work-node draw of {f.master!r} for {f.request_id!r} does not verify")
        return workers or []


def oracle_group_in(ctx: CallContext, group_id: str) -> OracleGroup | None:
    raw = ctx.get(f"group/{group_id}")
    return None if raw is None else _group(group_id, raw)


def _group(group_id: str, raw: list[Any]) -> OracleGroup:
    return OracleGroup(group_id=group_id, members=raw[0], commitments=raw[1], threshold=raw[2],
                       indices=raw[3] if len(raw) > 3 else [])


def commit_executions(ctx: TxContext, tx: Transaction, runs: list[tuple[str, Any]], log_contract: str, method: str,
                      result: Any) -> None:
    """Commit several contracts' executions of one transaction atomically, with one call log."""
    version = Version(height=ctx.height, tx=tx.tx_id[:8])
    events = []
    for contract, execution in runs:
        for key in sorted(execution.write_set):
            value = execution.write_set[key]
            if value is None:
                ctx.delete(state_key(contract, key))
            else:
                ctx.put(state_key(contract, key), encode(StateEntry(version=version, value=value)))
        events += execution.events
    ctx.put(f"clog/{tx.tx_id.hex()}", encode(CallLog(tx_id=tx.tx_id, height=ctx.height, sender=tx.sender,
                                                     contract=log_contract, method=method, result=result,
                                                     events=events)))
    raw = ctx.get(f"clogs/{ctx.height}")
    ids = decode(raw, list[bytes]) if raw is not None else []
    ctx.put(f"clogs/{ctx.height}", encode(ids + [tx.tx_id]))


@tx_kinds.register("oracle.fulfill")
def apply_fulfill(ctx: TxContext, tx: Transaction) -> None:
    """Verify a master's fulfillment on the proxy, then run the application's callback."""
    payload = decode(tx.payload, OracleFulfill)
    meta = contract_meta(ctx, payload.proxy)
    if meta is None or meta.code != PROXY_CODE:
        raise ContractError(f"{payload.proxy!r} is not a deployed {PROXY_CODE} contract")
    budget = step_budget["default"]
    pctx = CallContext(ctx, ctx.membership, payload.proxy, height=ctx.height, sender=tx.sender, tx_id=tx.tx_id,
                       budget=budget)
    try:
        request, junk = OracleProxy().fulfill(pctx, payload.fulfillment)
    except EdgeLedgerError:
        raise
    except Exception as exc:  # a malformed fulfillment fails its transaction only
        raise ContractError(f"{payload.proxy}.fulfill raised {type(exc).__name__}: {exc}") from None
    if junk:  # a junk request's stake is forfeited and its application hears nothing
        commit_executions(ctx, tx, [(payload.proxy, pctx.execution)], payload.proxy, "fulfill", None)
        return
    app = contract_meta(ctx, request.callback_contract)
    if app is None:
        raise ContractError(f"callback contract {request.callback_contract!r} is not deployed")
    actx = CallContext(ctx, ctx.membership, request.callback_contract, height=ctx.height,
                       sender=callback_sender(payload.proxy), tx_id=tx.tx_id, budget=budget)
    result = decode(payload.fulfillment.result, Any)
    callback = execute(contract_types.get(f"{app.code}@{app.version}"), actx, request.callback_method,
                       [request.request_id, result])
    commit_executions(ctx, tx, [(payload.proxy, pctx.execution), (request.callback_contract, callback)], payload.proxy,
            "fulfill", callback.result)


def pending_request(view: Any, proxy: str, request_id: str) -> OracleRequest | None:
    raw = contract_state(view, proxy, f"pending/{request_id}")
    return None if raw is None else decode(raw[0], OracleRequest)


def registered_nodes(view: Any, proxy: str) -> dict[str, tuple[bytes, bytes]]:
    """node id -> (BLS public key, VRF public key), in id order."""
    return {n: tuple(contract_state(view, proxy, f"node/{n}")) for n in contract_state(view, proxy, "nodes", [])}


def registered_group(view: Any, proxy: str, group_id: str) -> tuple[list[str], list[bytes], int] | None:
    raw = contract_state(view, proxy, f"group/{group_id}")
    return None if raw is None else (raw[0], raw[1], raw[2])


def oracle_group(view: Any, proxy: str, group_id: str) -> OracleGroup | None:
    """A registered group with its members' share indices (gaps where the key generation excluded one)."""
    raw = contract_state(view, proxy, f"group/{group_id}")
    return None if raw is None else _group(group_id, raw)
