"""The oracle relay group of cross-chain collaboration, as a sans-IO core (Fig. 3).

Every member follows the FBC and the LBCs it serves. Each chain event that needs the
group's word becomes a *statement* (:mod:`edgeledger.oracle.crosschain`); members sign a
threshold share of it and send it to the statement's coordinator -- the member at
``sha256(statement) mod n``, so the work rotates deterministically -- which combines ``t``
shares into the group signature and submits the resulting transactions to the right chain
(:class:`ChainSubmit`). The group key, not the coordinator, is what the gateways trust.

A core may start without its key (a deployment whose relay group makes it by distributed key
generation on the FBC, :mod:`edgeledger.oracle.relay_keys`): until :meth:`RelayCore.install`
it keeps the chain events and the peers' shares it receives (bounded) and attests them once
keyed. Its transactions on every chain count nonces from ``first_nonce`` (a deployment
passes a clock-based one, so a restarted relay does not reuse its nonces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import Record, decode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.merkle import merkle_proof
from edgeledger.crypto.threshold import Share, combine, sign_share, verify_signature_share
from edgeledger.effects import Effect, Rejected, Send
from edgeledger.ledger.contracts import ContractCall
from edgeledger.ledger.transaction import make_transaction
from edgeledger.oracle.crosschain import (
    EXPIRED, GATEWAY, CrossChainMessage, XAck, XDeliver, ack_statement, file_statement, root_statement,
)
from edgeledger.oracle.records import OracleGroup, share_index

__all__ = ["RelayShare", "ChainSubmit", "RelayCore", "BACKLOG_LIMIT"]

BACKLOG_LIMIT = 1024  # chain events and peers' shares an unkeyed core keeps for when it is keyed


class RelayShare(Record, tag="xchain.share"):
    statement: bytes
    index: int
    signature_share: bytes


@dataclass(frozen=True, slots=True)
class ChainSubmit(Effect):
    """Submit ``tx`` to chain ``chain_id`` (a relay member is a client of several chains)."""

    chain_id: str
    tx: Any


@dataclass
class _Pending:
    kind: str  # file | root | ack
    context: dict[str, Any]
    shares: dict[int, bytes] = field(default_factory=dict)
    done: bool = False


class RelayCore:
    def __init__(self, node_id: str, key: PrivateKey, fbc: str, group: OracleGroup | None, share: Share | None,
                 first_nonce: int = 0) -> None:
        self.node_id, self.key, self.fbc = node_id, key, fbc
        self.group: OracleGroup = group if group is not None else OracleGroup(group_id="", members=[], commitments=[],
                                                                              threshold=0)
        self.share = share
        self.first_nonce = first_nonce
        self.nonces: dict[str, int] = {}
        self.batches: dict[tuple[str, int], list[bytes]] = {}  # (source chain, batch) -> encoded messages
        self.statements: dict[bytes, _Pending] = {}
        self._backlog: list[tuple[str, Any, Any]] = []  # ("events", (chain, height, events), now) | ("share", ...)

    @property
    def keyed(self) -> bool:
        return self.share is not None

    def install(self, group: OracleGroup, share: Share, now: float) -> list[Effect]:
        """Take the group and our (checked) share; attest what arrived while we had none."""
        self.group, self.share = group, share
        backlog, self._backlog = self._backlog, []
        effects: list[Effect] = []
        for kind, item, at in backlog:
            effects += self.on_block_events(*item, at) if kind == "events" else self.on_share(*item, at)
        return effects

    def _keep(self, kind: str, item: Any, now: float) -> list[Effect]:
        if len(self._backlog) >= BACKLOG_LIMIT:
            return [Rejected(self.node_id, f"xchain.{kind}", f"relay core not keyed yet and its backlog holds "
                                                              f"{BACKLOG_LIMIT} items; dropped")]
        self._backlog.append((kind, item, now))
        return []

    def coordinator(self, statement: bytes) -> str:
        return self.group.members[int.from_bytes(sha256(statement), "big") % len(self.group.members)]

    # -- inputs ------------------------------------------------------------------------------
    def on_block_events(self, chain_id: str, height: int, events: list[tuple[str, dict[str, Any]]],
                        now: float) -> list[Effect]:
        if self.share is None:
            return self._keep("events", (chain_id, height, events), now)
        effects: list[Effect] = []
        outgoing = [attrs["message"] for name, attrs in events if name == "outgoing"]
        if outgoing and chain_id != self.fbc:
            self.batches[(chain_id, height)] = outgoing
            digests = [sha256(m) for m in outgoing]
            effects += self._attest("file", file_statement(self.fbc, chain_id, height, digests),
                                    {"source": chain_id, "batch": height, "digests": digests})
        for name, attrs in events:
            if name == "filed" and chain_id == self.fbc:
                st = root_statement(self.fbc, attrs["source"], attrs["batch"], attrs["root"])
                effects += self._attest("root", st, {"source": attrs["source"], "batch": attrs["batch"],
                                                     "root": attrs["root"]})
            elif name in ("received", "expired") and chain_id != self.fbc:  # an expiry is acknowledged as such
                result = attrs["result"] if name == "received" else EXPIRED
                st = ack_statement(attrs["source"], attrs["msg_id"], result)
                effects += self._attest("ack", st, {"source": attrs["source"], "msg_id": attrs["msg_id"],
                                                    "result": result})
        return effects

    def on_share(self, sender: str, share: RelayShare, now: float) -> list[Effect]:
        if self.share is None:
            return self._keep("share", (sender, share), now)
        pending = self.statements.get(share.statement)
        index = share_index(self.group, sender)
        if index != share.index or not verify_signature_share(index, share.statement, share.signature_share,
                                                              self.group.commitments):
            return [Rejected(sender, "xchain.share", "signature share does not verify for this member")]
        if pending is None:  # the share outran our own view of the chain event: keep it
            pending = self.statements.setdefault(share.statement, _Pending("", {}))
        pending.shares[index] = share.signature_share
        return self._maybe_submit(share.statement)

    # -- steps -------------------------------------------------------------------------------
    def _attest(self, kind: str, statement: bytes, context: dict[str, Any]) -> list[Effect]:
        assert self.share is not None
        pending = self.statements.setdefault(statement, _Pending(kind, context))
        pending.kind, pending.context = kind, context
        mine = RelayShare(statement=statement, index=self.share.index,
                          signature_share=sign_share(self.share, statement))
        coordinator = self.coordinator(statement)
        if coordinator != self.node_id:
            return [Send(coordinator, mine)]
        pending.shares[mine.index] = mine.signature_share
        return self._maybe_submit(statement)

    def _maybe_submit(self, statement: bytes) -> list[Effect]:
        pending = self.statements[statement]
        if pending.done or not pending.kind or len(pending.shares) < self.group.threshold \
                or self.coordinator(statement) != self.node_id:
            return []
        pending.done = True
        signature = combine(dict(sorted(pending.shares.items())[: self.group.threshold]))
        c = pending.context
        if pending.kind == "file":
            return [self._call(self.fbc, "contract.call", ContractCall(
                contract=GATEWAY, method="file", args=[c["source"], c["batch"], c["digests"], signature]))]
        if pending.kind == "ack":
            return [self._call(c["source"], "xchain.ack", XAck(msg_id=c["msg_id"], result=c["result"],
                                                               signature=signature))]
        effects = [self._call(c["source"], "contract.call", ContractCall(
            contract=GATEWAY, method="anchor", args=[c["batch"], c["root"], signature]))]
        messages = self.batches.get((c["source"], c["batch"]), [])
        leaves = [sha256(m) for m in messages]
        for i, raw in enumerate(messages):
            msg = decode(raw, CrossChainMessage)
            effects.append(self._call(msg.dest_chain, "xchain.deliver", XDeliver(
                message=raw, batch=c["batch"], root=c["root"], proof=merkle_proof(leaves, i), signature=signature)))
        return effects

    def sign_for(self, chain_id: str, kind: str, payload: Any) -> Any:
        """A transaction of ours for ``chain_id`` (one nonce sequence per chain, shared with the
        key generation and key installation the relay does on the side)."""
        self.nonces[chain_id] = self.nonces.get(chain_id, self.first_nonce) + 1
        return make_transaction(self.key, self.node_id, self.nonces[chain_id], kind, payload)

    def _call(self, chain_id: str, kind: str, payload: Any) -> ChainSubmit:
        return ChainSubmit(chain_id, self.sign_for(chain_id, kind, payload))
