"""A node: ledger + consensus + the services of its role (cloud, edge, device, center).

The node is the one place that executes committed blocks: its consensus core emits
``CommitBlock``; the node checks the certificate, appends the block durably to its store
*before* anything else sees it, applies it to the state machine and then tells its
services. Everything else passes through as effects for the driver (simulator or HTTP).
Bad input from a peer becomes a ``Rejected`` effect and changes nothing.

Validator changes: the node knows nothing of the policy that changes the validator set (the
consortium's membership votes live in ``market``). An application registers
``validator_schedule`` (committed state -> ``[(effective_height, validators)]``); after each
committed block the node reads it, updates its own :class:`Membership` and tells its
consensus core, so later blocks and votes are checked against the set in force at their
height. Each node needs its own ``Membership`` object then (the schedule follows its chain).

Identities admitted after genesis (open membership) work the same way: an application
registers ``identity_hook`` (committed state -> the admitted identities); after each
committed block the node admits the new ones into its ``Membership``, so their signatures
count from the next block on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union

from edgeledger.codec import decode, encode
from edgeledger.consensus.base import CommitBlock, Consensus, Forget, Persist
from edgeledger.consensus.pbft.events import ForwardRequest, PrePrepare
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import (Compute, Deferred, Effect, Metric, ProposalReady, Rejected, SaveState, Send,
                                SetTimer, SubmitTransaction)
from edgeledger.errors import ChainValidationError, EdgeLedgerError
from edgeledger.ledger.blobs import BlobStore, MemoryBlobStore
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Identity, Membership
from edgeledger.ledger.state import LedgerState
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import Transaction, signature_valid
from edgeledger.ledger.validation import CERTIFICATE_FINALITY, Finality, validate_block
from edgeledger.node.gossip import MAX_WAITING_COPIES, BlockGossip, CommittedBlock, FetchCommitted
from edgeledger.node.center import CENTER_MESSAGES, AddressBook, PeerList, Register, make_registration
from edgeledger.node.service import Service

__all__ = ["Node", "CommittedBlock", "wire_decoder", "ValidatorSchedule", "IdentityHook"]

#: committed state -> the validator changes it schedules, ``[(effective_height, validators)]``
ValidatorSchedule = Callable[[LedgerState], list[tuple[int, list[str]]]]
#: committed state -> the identities admitted after genesis
IdentityHook = Callable[[LedgerState], list[Identity]]




def wire_decoder(types: tuple[type, ...]) -> Callable[[bytes], Any]:
    """A decoder for the tagged union of ``types`` (the codec caches one per union)."""
    union = Union[tuple(sorted(set(types), key=lambda t: t.__qualname__))]  # type: ignore[valid-type]
    return lambda data: decode(data, union)


@dataclass
class Node:
    node_id: str
    role: str
    key: PrivateKey
    membership: Membership
    store: ChainStore
    blobs: BlobStore = field(default_factory=MemoryBlobStore)
    consensus: Consensus | None = None
    validator: str | None = None  # where a non-validator forwards transactions
    observers: tuple[str, ...] = ()  # non-voting nodes this validator pushes committed blocks to
    light: Any = None  # a LightClient: this node keeps verified headers only (no bodies, no state)
    gossip_fanout: int = 0  # 0: validators push committed blocks to every follower; k: epidemic gossip
    followers: tuple[str, ...] = ()  # every observer and light client (the gossip overlay)
    finality: Finality = CERTIFICATE_FINALITY  # what proves a block final (PBFT certificate, PoW seal)
    center: str | None = None
    address: str = ""
    services: list[Service] = field(default_factory=list)
    address_book: AddressBook | None = None
    compute_time: Callable[[Any, Any], float] = lambda job, result: 0.0
    defer_compute: bool = False  # real-time drivers run Compute jobs off their event loop
    group_commit: bool = False  # one store transaction per input (or per driver batch); listeners hear after it
    state: LedgerState = field(init=False)
    peers: dict[str, Any] = field(default_factory=dict)
    commit_listeners: list[Callable[[Block, list[Any]], None]] = field(default_factory=list)  # dashboards, APIs
    validator_schedule: ValidatorSchedule | None = None  # the application's validator-change policy
    identity_hook: IdentityHook | None = None  # the application's admitted identities (open membership)
    _pending: dict[str, tuple[Service, Any, Any]] = field(default_factory=dict)
    _future_blocks: dict[int, list[Block]] = field(default_factory=dict)  # height -> distinct copies
    _computes: int = 0
    _decoder: Callable[[bytes], Any] | None = None  # of the message types of the consensus and services
    _grouping: bool = False
    _announce: list[tuple[Block, list[Any]]] = field(default_factory=list)  # commits listeners hear after the group
    _held: list[tuple[Future[None] | None, list[tuple[Block, list[Any]]]]] = field(default_factory=list)  # ... its commit

    def __post_init__(self) -> None:
        self.gossip = BlockGossip(self.node_id, self.followers or self.observers, tuple(self.membership.validators),
                                  self.gossip_fanout)
        # a store on disk keeps the state too (bounded memory, no replay on restart); in memory, a dict
        self.state = LedgerState(self.membership, self.store.open_state() if self.store.persistent else None)
        self._replay_stored_blocks()
        history = min(self.finality.history_blocks, self.store.height)
        for block in self.store.iter_blocks(self.store.height - history + 1) if history else ():
            self.finality.observe(block)  # what a history-dependent proof (PoW's retarget) needs of the past
        self._follow_identities()
        self._follow_schedule()
        durable = self.store.consensus_log()
        if self.consensus is not None:
            self.consensus.use_ledger(self.store)  # older blocks and committed tx ids: read from the store
            height, depth = self.store.height, self.consensus.resume_depth
            if height or durable:
                start = 1 if depth is None else max(1, height - depth + 1)
                self.consensus.resume(self.store.blocks(start, height), durable)
            self.consensus.prepare_proposal = self._prepare_proposal

    def _replay_stored_blocks(self) -> None:
        """Bring the state up to the stored chain: blocks above the state's height are applied in
        height order, streamed (receipts a store lacks are filled in)."""
        for block in self.store.iter_blocks(self.state.height + 1):
            receipts = self.state.apply_block(block)
            if None in self.store.receipts(block):
                self.store.put_receipts(block, receipts)
            if self.state.durable is not None and block.height % 256 == 0:
                self.store.put_state(block.height)
        if self.state.durable is not None and self.state.durable.pending:
            self.store.put_state(self.state.height)

    def add_service(self, service: Service) -> None:
        self.services.append(service)
        self._decoder = None

    def service(self, kind: type) -> Any:
        """The first service of type ``kind`` (or None)."""
        return next((s for s in self.services if isinstance(s, kind)), None)

    # -- driver interface --------------------------------------------------------------------
    def decode_message(self, data: bytes) -> Any:
        """Decode any message this node accepts (center, consensus and service messages)."""
        return self.decoder()(data)

    def decoder(self) -> Callable[[bytes], Any]:
        """The decoder of :meth:`decode_message`, built once (a node's message types are fixed once
        its services are added); nodes with the same consensus and services accept the same union."""
        if self._decoder is None:
            types = CENTER_MESSAGES + (CommittedBlock, FetchCommitted)
            types += (self.consensus.message_types if self.consensus else ()) + (ForwardRequest,)
            for s in self.services:
                types += s.message_types
            self._decoder = wire_decoder(types)
        return self._decoder

    @contextmanager
    def durable_group(self) -> Iterator[None]:
        """With ``group_commit``: everything stored inside (blocks, receipts, consensus votes) is one
        store transaction, made durable when the outermost group ends, and only then are the commit
        listeners told. A driver opens a group around a batch of inputs and carries out none of
        their effects before it ends (group commit: one fsync instead of one per write, and still
        nothing is announced before it is durable). Without ``group_commit`` it does nothing.

        With a store whose writes commit on a writer thread (always grouped), the group's end hands
        the transaction to that thread and returns at once: the driver waits on
        :meth:`pending_commit` before it carries out the effects and calls :meth:`announce_durable`,
        which tells the listeners then."""
        if not (self.group_commit or self.store.threaded) or self._grouping:
            yield
            return
        self._grouping = True
        try:
            with self.store.group():
                yield
        finally:
            self._grouping = False
            announce, self._announce = self._announce, []
            if self.store.threaded:
                if announce:
                    self._held.append((self.store.last_commit(), announce))
            else:
                self._tell(announce)

    def _tell(self, announce: list[tuple[Block, list[Any]]]) -> None:
        for block, receipts in announce:
            for listener in self.commit_listeners:
                listener(block, receipts)

    def pending_commit(self) -> Future[None] | None:
        """What a driver waits on before it carries out the effects of the inputs handled so far:
        the store's last commit on its writer thread (None with a store that commits in place)."""
        return self.store.last_commit() if self.store.threaded else None

    def announce_durable(self) -> None:
        """Tell the commit listeners of every block whose store transaction is durable (a driver
        calls this, on its event loop, once :meth:`pending_commit` resolved)."""
        while self._held and (commit := self._held[0][0]) is not None and commit.done() \
                and commit.exception() is None:
            self._tell(self._held.pop(0)[1])

    # -- signature checks a real-time driver runs off its event loop (issue 22) -------------------
    def pending_signatures(self, messages: list[Any]) -> list[Transaction]:
        """The transactions inside ``messages`` (relayed requests, proposals) this node has not verified."""
        verified = self.membership.verified
        out: list[Transaction] = []
        for m in messages:
            if isinstance(m, ForwardRequest):
                out.append(m.tx)
            elif isinstance(m, PrePrepare):
                out.extend(m.block.transactions)
        return [tx for tx in out if tx.tx_id not in verified]

    def check_signatures(self, txs: list[Transaction]) -> list[bytes]:
        """The ids of ``txs`` whose signature checks out. Reads the identity table only, so a driver
        may call it on a worker thread; :meth:`record_verified` then records the result."""
        return [tx.tx_id for tx in txs if signature_valid(tx, self.membership)]

    def record_verified(self, tx_ids: list[bytes]) -> None:
        for tx_id in tx_ids:
            self.membership.verified.add(tx_id)

    def start(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if self.center is not None and self.role != "center":
            effects.append(Send(self.center, make_registration(self.key, self.node_id, self.role, self.address)))
        if self.consensus is not None:
            effects += self.consensus.start(now)
        for s in self.services:
            saved = self.store.get_meta(f"service/{s.state_key}") if s.state_key else None
            effects += self._own(s, s.start(now) if saved is None else s.resume(saved, self.store, now))
        return self._resolve(effects, now)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        try:
            return self._resolve(self._dispatch(sender, message, now), now)
        except EdgeLedgerError as exc:  # bad input never takes a node down
            return [Rejected(sender, type(message).__name__, str(exc))]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name in self._pending:
            service, job, result = self._pending.pop(name)
            return self._resolve(self._own(service, service.on_computed(job, result, now)), now)
        if self.consensus is not None and name.startswith(self.consensus.timer_prefix):
            return self._resolve(self.consensus.timer(name, now), now)
        for s in self.services:
            if s.timer_prefix and name.startswith(s.timer_prefix):
                return self._resolve(self._own(s, s.on_timer(name, now)), now)
        return []

    def on_undeliverable(self, to: str, message: Any, now: float) -> list[Effect]:
        """A real-network driver could not deliver ``message``: services may reroute it."""
        effects: list[Any] = []
        for s in self.services:
            effects += self._own(s, s.on_undeliverable(to, message, now))
        return self._resolve(effects, now)

    # -- routing -----------------------------------------------------------------------------
    def _dispatch(self, sender: str, message: Any, now: float) -> list[Effect]:
        if self.consensus is not None and isinstance(message, self.consensus.message_types):
            return self.consensus.receive(sender, message, now)
        for s in self.services:
            if isinstance(message, s.message_types):
                return self._own(s, s.on_message(sender, message, now))
        if isinstance(message, CommittedBlock) and self.consensus is None:
            return self._follow(sender, message, now)
        if isinstance(message, CommittedBlock) and hasattr(self.consensus, "follow"):  # a standby/revoked sealer
            return self.consensus.follow(sender, message.block, now)  # type: ignore[union-attr]
        if isinstance(message, FetchCommitted):
            block = self.store.block(message.height)
            return [Send(sender, CommittedBlock(block=block))] if block is not None else []
        if isinstance(message, ForwardRequest) and self.consensus is not None:  # a core without its own relay
            return self.consensus.submit(message.tx, now)
        if isinstance(message, ForwardRequest) and self.validator is not None:
            return [Send(self.validator, message)]
        if isinstance(message, Register) and self.address_book is not None:
            return self.address_book.on_register(sender, message, now)
        if isinstance(message, PeerList):
            if sender == self.center:
                self.peers = {p.node_id: p for p in message.peers}
            return []
        return [Rejected(sender, type(message).__name__, f"{self.role} {self.node_id} does not accept it")]

    def _own(self, service: Service, effects: list[Effect]) -> list[Effect]:
        """Tag a service's Compute effects with the service that must execute them."""
        return [(service, e) if isinstance(e, Compute) else e for e in effects]  # type: ignore[misc]

    def _resolve(self, effects: list[Any], now: float) -> list[Effect]:
        """Handle node-internal effects (commits, durable consensus state, submissions, compute);
        pass the rest on. Everything stored here is durable before the driver sends anything."""
        with self.durable_group():
            return self._resolve_in_group(effects, now)

    def _resolve_in_group(self, effects: list[Any], now: float) -> list[Effect]:
        out: list[Effect] = []
        queue = list(effects)
        durable: list[tuple[str, int, bytes]] = []
        while queue:
            effect = queue.pop(0)
            if isinstance(effect, Persist):
                durable.append((effect.key, effect.height, encode(effect.record)))
                continue
            if durable:  # one transaction for a run of Persists, written before any later effect
                self.store.put_consensus(durable)
                durable = []
            if isinstance(effect, Forget):
                self.store.forget_consensus(effect.through_height)
            elif isinstance(effect, SaveState):  # durable before any later effect leaves
                self.store.put_meta(f"service/{effect.key}", encode(effect.record))
            elif isinstance(effect, tuple):  # (service, Compute)
                out.append(self._defer(*effect) if self.defer_compute else self._compute(*effect))
            elif isinstance(effect, CommitBlock):
                queue[0:0] = self._commit(effect.block, now)
            elif isinstance(effect, ProposalReady):
                if self.consensus is not None:
                    queue[0:0] = self.consensus.proposal_ready(now)
            elif isinstance(effect, SubmitTransaction):
                if self.consensus is not None:
                    queue[0:0] = self.consensus.submit(effect.tx, now)
                elif self.validator is not None:
                    out.append(Send(self.validator, ForwardRequest(tx=effect.tx)))
            else:
                out.append(effect)
        self.store.put_consensus(durable)
        return out

    def _compute(self, service: Service, effect: Compute) -> Effect:
        result = service.execute(effect.job)
        self._computes += 1
        name = f"compute:{effect.name}:{self._computes}"
        self._pending[name] = (service, effect.job, result)
        return SetTimer(name, self.compute_time(effect.job, result))

    def _defer(self, service: Service, effect: Compute) -> Effect:
        def done(result: Any, now: float) -> list[Effect]:
            return self._resolve(self._own(service, service.on_computed(effect.job, result, now)), now)

        return Deferred(run=lambda: service.execute(effect.job), done=done)

    def _prepare_proposal(self, height: int, chosen: list[Any], pending: list[Any], now: float) -> list[Any]:
        """The services' own transactions for a block our consensus proposes (PrepareProposal)."""
        extra: list[Any] = []
        for s in self.services:
            extra += s.prepare_proposal(height, chosen, pending, now)
        return extra

    def submit(self, tx: Any, now: float) -> list[Effect]:
        """A transaction from a local client (the API): into consensus or to our validator."""
        return self._resolve([SubmitTransaction(tx)], now)

    def _follow(self, sender: str, message: CommittedBlock, now: float) -> list[Any]:
        """Observers and light clients: verify, keep, pass the block on (gossip), repair gaps."""
        if not (self.membership.ever_validator(sender) or sender in self.gossip.followers):
            return [Rejected(sender, "chain.block", "committed blocks come from validators or fellow followers")]
        new, effects = self.gossip.first_sight(sender, message.block)
        if not new:
            return []
        if self.light is not None:
            effects += self.light.on_message(sender, message, now)
            have = self.light.height
        else:
            effects += self._observe(sender, message.block, now)
            have = self.store.height
        return effects + self.gossip.repair(have, message.block.height)

    def _observe(self, sender: str, block: Block, now: float) -> list[Any]:
        """An observer follows the chain: verify each block (it proves itself), apply in height order."""
        if block.height <= self.store.height or block.height > self.store.height + 1024:
            return []
        waiting = self._future_blocks.setdefault(block.height, [])
        if len(waiting) < MAX_WAITING_COPIES and block not in waiting:  # a forged copy must not hide the real one
            waiting.append(block)
        effects: list[Any] = []
        while (copies := self._future_blocks.pop(self.store.height + 1, None)) is not None:
            head = self.store.head()
            prev = head.hash if head else self.membership.genesis_hash
            for nxt in copies:
                try:
                    validate_block(nxt, prev, nxt.height, self.membership, self.finality, head)
                except ChainValidationError as exc:
                    effects.append(Rejected(sender, "chain.block", str(exc)))
                    continue
                effects += self._commit(nxt, now)
                break
            else:  # no copy chains on: wait for another (gossip repair fetches from a validator)
                break
        return effects

    def _follow_identities(self) -> int:
        """Admit the identities committed state added since the last block; returns how many."""
        if self.identity_hook is None:
            return 0
        return sum(self.membership.admit(identity) for identity in self.identity_hook(self.state)
                   if identity.node_id not in self.membership.identities)

    def _follow_schedule(self) -> bool:
        """Read the application's validator schedule from committed state; True when it changed.

        Whenever the set voting on the next height differs from the one gossip knows, gossip
        takes it, and sealers voted out become push targets: they no longer hear consensus, so
        they follow the chain like any other follower."""
        changed = False
        if self.validator_schedule is not None:
            changed = self.membership.set_schedule(self.validator_schedule(self.state))
        current = self.membership.validators_at(self.store.height + 1)
        if current != self.gossip.validators:
            self.gossip.validators = current
            retired = {v for _, vs in self.membership.schedule for v in vs} - set(current)
            self.gossip.followers += tuple(sorted(retired - set(self.gossip.followers) - {self.node_id}))
        return changed

    def _commit(self, block: Block, now: float) -> list[Any]:
        if block.height != self.store.height + 1:
            raise ChainValidationError(f"{self.node_id}: commit of height {block.height} after {self.store.height}")
        self.finality.verify(block, self.store.head() if self.finality is not CERTIFICATE_FINALITY else None,
                             self.membership)
        receipts = self.state.apply_block(block)  # in memory; nobody has been told yet
        self.store.append(block, receipts)  # block and receipts durable before anyone is told
        self.finality.observe(block)
        self.membership.verified.forget(tx.tx_id for tx in block.transactions)  # bounded by what is in flight
        if self._grouping:  # told once the group is durable
            self._announce.append((block, receipts))
        else:
            for listener in self.commit_listeners:
                listener(block, receipts)
        effects: list[Any] = [Metric("chain.height", float(block.height)),
                              Metric("chain.block_txs", float(len(block.transactions)))]
        effects += [Rejected(self.node_id, "transaction", r.reason) for r in receipts if not r.ok]
        if self._follow_identities():
            effects.append(Metric("membership.identities", float(len(self.membership.identities))))
        if self._follow_schedule() and self.consensus is not None:
            effects += self.consensus.validators_changed(block.height, now)
        if self.consensus is not None:  # voters of the next height run consensus: no push to them
            effects += self.gossip.publish(block, frozenset(self.membership.validators_at(block.height + 1)))
        for s in self.services:
            effects += self._own(s, s.on_block(block, receipts, now))
        return effects
