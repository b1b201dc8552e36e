"""Cross-chain collaboration through the federal chain (SewingChain, Fig. 3).

One gateway contract code runs on every chain (instance ``xchain``); an oracle relay group
holding a threshold key (installed on every gateway) attests each step:

0. every gateway installs the relay group's key from the FBC's certificate of the group's
   distributed key generation (:mod:`edgeledger.oracle.relay_trust`);
1. source LBC: an application calls ``send`` -> ``outgoing`` event;
2. FBC: the group files the digests of a source block's messages (``file``, group-signed);
   the gateway computes their Merkle root (RFC 6962) and emits ``filed``;
3. source LBC: the group writes the FBC root back (``anchor``);
4. destination LBC: the group carries each message with its Merkle proof and the
   group-signed root (``xchain.deliver``); the gateway checks signature, proof, destination
   and replay, then runs the destination contract (sender ``xchain:<source chain>``);
5. source LBC: the group returns the result (``xchain.ack``) and the source application's
   callback runs.

Expiry, as IBC packets carry it (ICS 4): every message names a ``timeout_height`` (of the
destination chain) or a ``timeout_ms`` (the destination's BFT chain time,
:mod:`edgeledger.ledger.clock`), or both. The destination gateway refuses to run a message
that arrives past either: it records the message as expired (so no later delivery runs it
either) and emits ``expired``; the relay group carries that back like any acknowledgement,
and the source application's callback receives :data:`EXPIRED` (``{"expired": True}``), so
the sender can refund or retry instead of waiting for ever.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.bls import bls_verify
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.merkle import MerkleProof, merkle_root, verify_merkle_proof
from edgeledger.ledger.contracts import (
    CallContext, Contract, ContractError, contract_meta, contract_method, contract_types, execute, register_contract,
    step_budget,
)
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.state import TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction
from edgeledger.oracle.dkg import require_g1_points
from edgeledger.oracle.proxy import BLS_VERIFY_STEPS, commit_executions
from edgeledger.oracle.relay_trust import SIGNATURE_STEPS, RelayKeyClaim, certificate_signers, relay_key_statement

__all__ = ["CrossChainMessage", "XDeliver", "XAck", "CrossChainGateway", "GATEWAY_CODE", "GATEWAY",
           "file_statement", "root_statement", "ack_statement", "cross_chain_sender", "EXPIRED", "is_expired"]

GATEWAY_CODE = "pedal.xchain_gateway"
GATEWAY = "xchain"
#: the result a source's callback receives for a message the destination refused as expired
EXPIRED = encode({"expired": True})


class CrossChainMessage(Record):
    msg_id: str
    source_chain: str
    dest_chain: str
    dest_contract: str
    dest_method: str
    args: list[Any]
    sender: str
    callback_contract: str
    callback_method: str
    timeout_height: int = 0  # the destination refuses it at a greater height (0: no height limit)
    timeout_ms: int = 0  # ... or at this destination chain time or later (0: no time limit)


def is_expired(msg: CrossChainMessage, height: int, chain_time_ms: int) -> bool:
    """Whether the destination, at ``height`` and ``chain_time_ms``, must refuse ``msg``."""
    return bool((msg.timeout_height and height > msg.timeout_height) or
                (msg.timeout_ms and chain_time_ms >= msg.timeout_ms))


class XDeliver(Record):
    """Payload of ``xchain.deliver`` on the destination chain."""

    message: bytes  # canonical encoding of the CrossChainMessage (a Merkle leaf)
    batch: int
    root: bytes
    proof: MerkleProof
    signature: bytes  # group signature over root_statement


class XAck(Record):
    """Payload of ``xchain.ack`` on the source chain."""

    msg_id: str
    result: bytes
    signature: bytes  # group signature over ack_statement


def file_statement(fbc: str, source_chain: str, batch: int, digests: list[bytes]) -> bytes:
    return sha256(encode(("xchain-file", fbc, source_chain, batch, digests)))


def root_statement(fbc: str, source_chain: str, batch: int, root: bytes) -> bytes:
    return sha256(encode(("xchain-root", fbc, source_chain, batch, root)))


def ack_statement(source_chain: str, msg_id: str, result: bytes) -> bytes:
    return sha256(encode(("xchain-ack", source_chain, msg_id, result)))


def cross_chain_sender(source_chain: str) -> str:
    return f"xchain:{source_chain}"


def _group_signed(ctx: CallContext, statement: bytes, signature: bytes, what: str) -> None:
    key = ctx.get("group_key")
    ctx.require(bool(key), f"{what}: no relay group key is installed on this gateway; it installs one only with the "
                           "federal chain's certificate (install_relay_key)")
    ctx.step(BLS_VERIFY_STEPS)
    ctx.require(isinstance(signature, bytes) and bls_verify(key, statement, signature),
                f"{what}: relay group signature does not verify (needs >= 2/3 of the group)")


@register_contract
class CrossChainGateway(Contract):
    name = GATEWAY_CODE
    version = 1

    def init(self, ctx: CallContext, federal_chain: str, dealt_key: bytes = b"",
             fbc_validators: dict[str, list[Any]] | None = None, fbc_genesis: bytes = b"",
             relay_group: str = "relay") -> None:
        """``dealt_key``: trust a dealt relay key at once (the trusted dealer: tests only); otherwise
        ``fbc_validators`` (validator -> [scheme, public key]) and ``fbc_genesis`` (its hash) of the
        federal chain, whose certificate alone installs the key (:mod:`edgeledger.oracle.relay_trust`)."""
        ctx.put("fbc", federal_chain)
        ctx.put("seq", 0)
        ctx.put("relay_group", relay_group)
        if dealt_key:
            ctx.put("group_key", dealt_key)
            ctx.put("relay_trust", "dealt")
            return
        validators = fbc_validators or {}
        ctx.require(isinstance(validators, dict) and bool(validators) and all(
            isinstance(v, str) and isinstance(e, list) and len(e) == 2 and isinstance(e[1], bytes)
            for v, e in validators.items()),
            f"fbc_validators must map each federal-chain genesis validator to [scheme, public key], got "
            f"{validators!r:.80}")
        ctx.require(isinstance(fbc_genesis, bytes) and len(fbc_genesis) == 32,
                    f"fbc_genesis must be the 32-byte hash of the federal chain's genesis, got {fbc_genesis!r:.80}")
        ctx.put("fbc_validators", validators)
        ctx.put("fbc_genesis", fbc_genesis)
        ctx.put("group_key", b"")
        ctx.put("relay_trust", "certificate")

    def _statement(self, ctx: CallContext, claim: RelayKeyClaim) -> bytes:
        ctx.require(claim.group_id == ctx.get("relay_group"),
                    f"group_id must be this gateway's relay group {ctx.get('relay_group')!r}, got {claim.group_id!r:.40}")
        problem = claim.shape_error()
        ctx.require(problem is None, f"relay key: {problem}")
        return relay_key_statement(ctx.get("fbc"), ctx.get("fbc_genesis"), claim.group_id, claim.members,
                                   claim.commitments, claim.threshold, claim.indices)

    @contract_method()
    def attest_relay_key(self, ctx: CallContext, group_id: str, members: list[str], commitments: list[bytes],
                         threshold: int, indices: list[int], signature: bytes) -> None:
        """On the FBC: a genesis validator posts its signature of the relay group its state registered."""
        ctx.require(ctx.chain_id == ctx.get("fbc"), "attest_relay_key is only accepted on the federal chain")
        validators = ctx.get("fbc_validators") or {}
        ctx.require(ctx.sender in validators, f"sender {ctx.sender!r} is not a genesis validator of the federal chain "
                                              f"(expected one of {sorted(validators)})")
        statement = self._statement(ctx, RelayKeyClaim(group_id, members, commitments, threshold, indices))
        ctx.step(SIGNATURE_STEPS)
        good, _ = certificate_signers(statement, {ctx.sender: signature}, validators)
        ctx.require(good == [ctx.sender], f"signature of {ctx.sender!r} does not verify over the relay-key statement")
        ctx.put(f"attest/{group_id}/{ctx.sender}", [members, commitments, threshold, indices, signature])
        ctx.emit("relay_key_attested", group_id=group_id, validator=ctx.sender, key=commitments[0])

    @contract_method()
    def install_relay_key(self, ctx: CallContext, group_id: str, members: list[str], commitments: list[bytes],
                          threshold: int, indices: list[int], signatures: dict[str, bytes]) -> bytes:
        """Install the relay group's key, certified by a quorum of the FBC's genesis validators."""
        ctx.require(ctx.get("relay_trust") == "certificate",
                    f"this gateway trusts a {ctx.get('relay_trust')} key; it installs none from a certificate")
        ctx.require(not ctx.get("group_key"), "a relay group key is already installed on this gateway")
        statement = self._statement(ctx, RelayKeyClaim(group_id, members, commitments, threshold, indices))
        validators = ctx.get("fbc_validators")
        ctx.require(isinstance(signatures, dict) and 0 < len(signatures) <= len(validators),
                    f"signatures must map 1..{len(validators)} federal-chain validators to their signature, got "
                    f"{signatures!r:.80}")
        ctx.step(SIGNATURE_STEPS * len(signatures))
        good, needed = certificate_signers(statement, signatures, validators)
        ctx.require(len(good) >= needed,
                    f"certificate: {len(good)} valid signatures of federal-chain genesis validators {good}, expected "
                    f">= {needed} of the {len(validators)}")
        require_g1_points(ctx, commitments, "commitments")
        ctx.put("group_key", commitments[0])
        ctx.put("relay_members", [members, threshold, indices])
        ctx.emit("relay_key_installed", group_id=group_id, key=commitments[0], signers=good)
        return bytes(commitments[0])

    @contract_method()
    def send(self, ctx: CallContext, dest_chain: str, dest_contract: str, dest_method: str, args: list[Any],
             callback_contract: str = "", callback_method: str = "", timeout_height: int = 0,
             timeout_ms: int = 0) -> str:
        """Send a message to ``dest_chain``; it expires past ``timeout_height`` (a destination height)
        or at ``timeout_ms`` (the destination's chain time): at least one is required."""
        ctx.require(all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (timeout_height, timeout_ms))
                    and (timeout_height > 0 or timeout_ms > 0),
                    f"a cross-chain message needs an expiry: timeout_height (a height of {dest_chain!r}) or "
                    f"timeout_ms (its chain time), got {timeout_height!r} and {timeout_ms!r}")
        seq = ctx.get("seq") + 1
        ctx.put("seq", seq)
        msg = CrossChainMessage(msg_id=f"{ctx.chain_id}:{seq}", source_chain=ctx.chain_id, dest_chain=dest_chain,
                                dest_contract=dest_contract, dest_method=dest_method, args=args, sender=ctx.sender,
                                callback_contract=callback_contract, callback_method=callback_method,
                                timeout_height=timeout_height, timeout_ms=timeout_ms)
        ctx.put(f"out/{msg.msg_id}", encode(msg))
        ctx.emit("outgoing", message=encode(msg))
        return msg.msg_id

    @contract_method()
    def file(self, ctx: CallContext, source_chain: str, batch: int, digests: list[bytes], signature: bytes) -> bytes:
        """On the FBC: record a source block's message digests; their Merkle root is the anchor."""
        ctx.require(ctx.chain_id == ctx.get("fbc"), "file is only accepted on the federal chain")
        ctx.require(ctx.get(f"root/{source_chain}/{batch}") is None, f"batch {batch} of {source_chain} already filed")
        _group_signed(ctx, file_statement(ctx.chain_id, source_chain, batch, digests), signature, "file")
        ctx.step(len(digests))
        root = merkle_root(list(digests))
        ctx.put(f"root/{source_chain}/{batch}", root)
        ctx.emit("filed", source=source_chain, batch=batch, root=root)
        return root

    @contract_method()
    def anchor(self, ctx: CallContext, batch: int, root: bytes, signature: bytes) -> None:
        """On the source LBC: the FBC's root for one of our batches, written back."""
        _group_signed(ctx, root_statement(ctx.get("fbc"), ctx.chain_id, batch, root), signature, "anchor")
        ctx.put(f"anchor/{batch}", root)
        ctx.emit("anchored", batch=batch, root=root)

    def deliver(self, ctx: CallContext, d: XDeliver) -> tuple[CrossChainMessage, bool]:
        """Check a carried message; returns it and whether it expired (then it is recorded, not run)."""
        msg = decode(d.message, CrossChainMessage)
        ctx.require(msg.dest_chain == ctx.chain_id, f"message {msg.msg_id} is for {msg.dest_chain!r}")
        ctx.require(ctx.get(f"in/{msg.msg_id}") is None, f"message {msg.msg_id} was already delivered: replay refused")
        _group_signed(ctx, root_statement(ctx.get("fbc"), msg.source_chain, d.batch, d.root), d.signature, "deliver")
        ctx.step(len(d.proof.path) + 1)
        ctx.require(verify_merkle_proof(sha256(d.message), d.proof, d.root),
                    f"message {msg.msg_id} is not under the filed root")
        expired = is_expired(msg, ctx.height, ctx.chain_time_ms())
        ctx.put(f"in/{msg.msg_id}", -ctx.height if expired else ctx.height)
        if expired:
            ctx.emit("expired", msg_id=msg.msg_id, source=msg.source_chain, height=ctx.height,
                     timeout_height=msg.timeout_height, timeout_ms=msg.timeout_ms)
        return msg, expired

    def ack(self, ctx: CallContext, a: XAck) -> CrossChainMessage:
        raw = ctx.get(f"out/{a.msg_id}")
        ctx.require(raw is not None, f"no outgoing message {a.msg_id}")
        ctx.require(ctx.get(f"ack/{a.msg_id}") is None, f"message {a.msg_id} was already acknowledged")
        _group_signed(ctx, ack_statement(ctx.chain_id, a.msg_id, a.result), a.signature, "ack")
        ctx.put(f"ack/{a.msg_id}", a.result)
        ctx.emit("acknowledged", msg_id=a.msg_id, result=a.result, expired=a.result == EXPIRED)
        return decode(raw, CrossChainMessage)


def _gateway_ctx(ctx: TxContext, tx: Transaction) -> CallContext:
    meta = contract_meta(ctx, GATEWAY)
    if meta is None or meta.code != GATEWAY_CODE:
        raise ContractError(f"{GATEWAY!r} is not a deployed {GATEWAY_CODE} contract on {ctx.membership.chain_id}")
    return CallContext(ctx, ctx.membership, GATEWAY, height=ctx.height, sender=tx.sender, tx_id=tx.tx_id,
                       budget=step_budget["default"])


def _run_app(ctx: TxContext, tx: Transaction, contract: str, method: str, args: list[Any], sender: str) -> Any:
    meta = contract_meta(ctx, contract)
    if meta is None:
        raise ContractError(f"contract {contract!r} is not deployed on {ctx.membership.chain_id}")
    actx = CallContext(ctx, ctx.membership, contract, height=ctx.height, sender=sender, tx_id=tx.tx_id,
                       budget=step_budget["default"])
    return execute(contract_types.get(f"{meta.code}@{meta.version}"), actx, method, args)


def _contained(handler: Any) -> Any:
    """A malformed payload fails its transaction with a ContractError, never the node."""

    def run(ctx: TxContext, tx: Transaction) -> None:
        try:
            handler(ctx, tx)
        except EdgeLedgerError:
            raise
        except Exception as exc:
            raise ContractError(f"{tx.kind} raised {type(exc).__name__}: {exc}") from None

    return run


@tx_kinds.register("xchain.deliver")
@_contained
def apply_deliver(ctx: TxContext, tx: Transaction) -> None:
    gctx = _gateway_ctx(ctx, tx)
    msg, expired = CrossChainGateway().deliver(gctx, decode(tx.payload, XDeliver))
    if expired:  # refused: recorded and announced, never run
        commit_executions(ctx, tx, [(GATEWAY, gctx.execution)], GATEWAY, "deliver", None)
        return
    app = _run_app(ctx, tx, msg.dest_contract, msg.dest_method, list(msg.args), cross_chain_sender(msg.source_chain))
    gctx.emit("received", msg_id=msg.msg_id, source=msg.source_chain, result=encode(app.result))
    commit_executions(ctx, tx, [(GATEWAY, gctx.execution), (msg.dest_contract, app)], GATEWAY, "deliver", app.result)


@tx_kinds.register("xchain.ack")
@_contained
def apply_ack(ctx: TxContext, tx: Transaction) -> None:
    gctx = _gateway_ctx(ctx, tx)
    ack = decode(tx.payload, XAck)
    msg = CrossChainGateway().ack(gctx, ack)
    runs = [(GATEWAY, gctx.execution)]
    if msg.callback_contract:
        app = _run_app(ctx, tx, msg.callback_contract, msg.callback_method, [msg.msg_id, decode(ack.result, Any)],
                       cross_chain_sender(msg.dest_chain))
        runs.append((msg.callback_contract, app))
    commit_executions(ctx, tx, runs, GATEWAY, "ack", None)
