"""Scripted Byzantine strategies: what one faulty replica with good timing can do.

A Byzantine node runs the honest core (so its messages are plausible) and its strategy
rewrites what the core sends, adds messages it crafts with the node's own key from what it
observed, delays, drops or replays. Nothing here can forge another replica's signature.
Each strategy is one attack from the PBFT literature (Castro & Liskov's fault model) or a
timing adversary; the campaign combines each with loss, duplication, reordering,
partitions, crashes and state transfer.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

from edgeledger.consensus.pbft.events import (Commit, NewView, Prepare, PreparedCertificate, PrePrepare,
                                              ViewChange)
from edgeledger.consensus.pbft.viewchange import reproposals
from edgeledger.codec import encode
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.errors import ConfigError

World = Any  # the :class:`~edgeledger.consensus.testing.world.World` that runs these (it imports this module)

__all__ = ["Strategy", "STRATEGIES", "make_strategy", "LEGACY_BEHAVIOURS"]

Out = list[tuple[str, Any, float]]  # (destination node, record or raw bytes, extra delay s)


class Strategy:
    """Honest by default; subclasses rewrite :meth:`outgoing` or act on :meth:`wake`."""

    name = "honest"

    def __init__(self, world: World, node: str) -> None:
        self.world, self.node = world, node
        self.key = world.keys[node]
        self.chain_id = world.membership.chain_id
        self.rng = random.Random(f"{world.scenario.net_seed}/{node}/{self.name}")
        self.observed: list[Any] = []

    # -- hooks -------------------------------------------------------------------------------
    def start(self) -> None:
        """The run starts (schedule wake-ups here)."""

    def observe(self, sender: str, message: Any) -> None:
        """A message reached one of this node's instances."""
        if len(self.observed) < 2048:
            self.observed.append(message)

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        return [(dst, message, 0.0) for dst in to]

    def wake(self) -> None:
        """A wake-up set with :meth:`wake_in` fired."""

    # -- tools -------------------------------------------------------------------------------
    @property
    def replica(self) -> Any:
        return self.world.replicas[self.node]

    def sign(self, record: Any) -> Any:
        return msgspec.structs.replace(record, signature=self.key.sign(record.signing_bytes(self.chain_id)))

    def inject(self, dst: str, payload: Any, delay_s: float = 0.0) -> None:
        """Send a crafted message now (not in answer to anything its core sends)."""
        data = payload if isinstance(payload, bytes) else encode(payload)
        view = getattr(payload, "view", self.replica.view)
        self.world.transmit(self.node, dst, data, view, delay_s)

    def others(self) -> list[str]:
        return [v for v in self.world.nodes if v != self.node]

    def wake_in(self, delay_s: float) -> None:
        self.world.at(self.world.now + delay_s, "wake", self.node)

    def halves(self, to: list[str]) -> tuple[set[str], set[str]]:
        shuffled = list(to)
        self.rng.shuffle(shuffled)
        cut = max(1, len(shuffled) // 2)
        return set(shuffled[:cut]), set(shuffled[cut:])

    def other_block(self, block: Block) -> Block:
        """A different, well-formed block at the same height on the same parent."""
        txs = block.transactions[:-1] if block.transactions and self.rng.random() < 0.5 else block.transactions
        header = msgspec.structs.replace(block.header, timestamp_ms=block.header.timestamp_ms + 1 + self.rng.randrange(9),
                                         tx_root=transactions_root(txs), tx_count=len(txs))
        return msgspec.structs.replace(block, header=header, transactions=txs)


class Silent(Strategy):
    name = "silent"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        return []


class Equivocate(Strategy):
    """Equivocating primary: a different block (or NEW-VIEW) for half of the replicas."""

    name = "equivocate"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, PrePrepare) and message.replica == self.node:
            other = self.sign(msgspec.structs.replace(message, block=self.other_block(message.block)))
            half, _ = self.halves(to)
            return [(dst, other if dst in half else message, 0.0) for dst in to]
        if isinstance(message, NewView) and message.replica == self.node:
            other = self.other_new_view(message)
            half, _ = self.halves(to)
            return [(dst, other if dst in half else message, 0.0) for dst in to]
        return super().outgoing(instance, message, to)

    def other_new_view(self, nv: NewView) -> NewView:
        """Its own VIEW-CHANGE swapped for one hiding its certificates; the O set recomputed."""
        subset = [self.sign(msgspec.structs.replace(vc, prepared=[], checkpoint_height=0, checkpoint_proof=[],
                                                    checkpoint_digest=self.world.genesis))
                  if vc.replica == nv.replica else vc for vc in nv.view_changes]
        return self.new_view_from(nv.view, subset)

    def new_view_from(self, view: int, vcs: list[ViewChange]) -> NewView:
        certs = reproposals(vcs)[2]
        pres = [self.sign(PrePrepare(view=view, height=c.pre_prepare.height, block=c.pre_prepare.block,
                                     replica=self.node)) for c in certs]
        nv: NewView = self.sign(NewView(view=view, view_changes=vcs, pre_prepares=pres, replica=self.node))
        return nv


class ConflictingVotes(Strategy):
    name = "conflicting-votes"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, (Prepare, Commit)):
            other = self.sign(msgspec.structs.replace(message, digest=self.rng.randbytes(32)))
            half, _ = self.halves(to)
            return [(dst, other if dst in half else message, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class Replay(Strategy):
    """Replays old messages of any replica, of older views too, to random replicas."""

    name = "replay"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        out = super().outgoing(instance, message, to)
        seen = self.world.seen
        if seen:
            out += [(self.rng.choice(self.world.nodes), self.rng.choice(seen), self.rng.uniform(0, 1.0))
                    for _ in range(2)]
        return out


class Garbage(Strategy):
    name = "garbage"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        out = super().outgoing(instance, message, to)
        junk = bytearray(encode(message))
        for _ in range(self.rng.randint(1, 4)):
            junk[self.rng.randrange(len(junk))] = self.rng.randrange(256)
        nodes = self.world.nodes
        return out + [(self.rng.choice(nodes), bytes(junk), 0.0),
                      (self.rng.choice(nodes), self.rng.randbytes(self.rng.randint(0, 64)), 0.0)]


class WithholdCertificates(Strategy):
    """VIEW-CHANGEs that withhold every prepared certificate and claim only the genesis checkpoint."""

    name = "withhold-certificates"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, ViewChange) and message.replica == self.node:
            liar = self.sign(msgspec.structs.replace(message, prepared=[], checkpoint_height=0, checkpoint_proof=[],
                                                     checkpoint_digest=self.world.genesis))
            return [(dst, liar, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class ForgedCertificate(Strategy):
    """VIEW-CHANGEs carrying a forged prepared certificate: a block of its own making at the next
    (or last committed) height, 'prepared' in the highest view by signatures it cannot make."""

    name = "forged-certificate"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, ViewChange) and message.replica == self.node and message.new_view > 0:
            forged = self.sign(msgspec.structs.replace(message, prepared=self.forge(message)))
            return [(dst, forged, 0.0) for dst in to]
        return super().outgoing(instance, message, to)

    def forge(self, vc: ViewChange) -> list[PreparedCertificate]:
        replica = self.replica
        height = max(vc.checkpoint_height + 1, replica.committed_height + self.rng.choice((0, 1)))
        parent = replica.chain.get(height - 1)
        prev = parent.hash if parent is not None else (self.world.genesis if height == 1 else None)
        kept = [c for c in vc.prepared if c.pre_prepare.height != height]
        if prev is None:
            return kept
        txs: list[Any] = []  # an empty block: nothing in it can be refused as already committed
        header = BlockHeader(chain_id=self.chain_id, height=height, prev_hash=prev, tx_root=transactions_root(txs),
                             tx_count=0, proposer=replica.primary_of(vc.new_view - 1, height),
                             timestamp_ms=int(self.world.now * 1000) + 7)
        block = Block(header=header, transactions=txs)
        view = vc.new_view - 1
        primary = replica.primary_of(view, height)
        pre = PrePrepare(view=view, height=height, block=block, replica=primary)
        pre = self.sign(pre) if primary == self.node else msgspec.structs.replace(pre, signature=self.rng.randbytes(64))
        prepares = [Prepare(view=view, height=height, digest=block.hash, replica=v, signature=self.rng.randbytes(64))
                    for v in self.world.nodes if v != primary]
        prepares = [self.sign(p) if p.replica == self.node else p for p in prepares]
        cert = PreparedCertificate(pre_prepare=pre, prepares=prepares)
        return sorted(kept + [cert], key=lambda c: c.pre_prepare.height)


class Usurper(Strategy):
    """A backup that pre-prepares as if it were the primary (naming the primary as proposer): as soon
    as its own core commits a height it proposes the next one, ahead of the primary's batch timer,
    and when the primary proposes it sends a rival block for the same (view, height) to half of the
    replicas; it PREPAREs both."""

    name = "usurper"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        out = super().outgoing(instance, message, to)
        replica = self.replica
        if isinstance(message, Commit) and message.replica == self.node and replica.mempool:
            height = message.height + 1
            primary = replica.primary_of(message.view, height)
            if primary != self.node:
                txs = list(replica.mempool.values())[:2]
                header = BlockHeader(chain_id=self.chain_id, height=height, prev_hash=message.digest,
                                     tx_root=transactions_root(txs), tx_count=len(txs), proposer=primary,
                                     timestamp_ms=int(self.world.now * 1000) + 1)
                self.rival(PrePrepare(view=message.view, height=height, block=Block(header=header, transactions=txs),
                                      replica=self.node), [v for v in self.others() if v != primary])
        return out

    def observe(self, sender: str, message: Any) -> None:
        super().observe(sender, message)
        if isinstance(message, PrePrepare) and message.replica != self.node and self.rng.random() < 0.7:
            rival = PrePrepare(view=message.view, height=message.height, block=self.other_block(message.block),
                               replica=self.node)
            half, _ = self.halves([v for v in self.others() if v != message.replica])
            self.rival(rival, sorted(half), message)

    def rival(self, pre: PrePrepare, targets: list[str], real: PrePrepare | None = None) -> None:
        signed = self.sign(pre)
        for dst in targets:
            self.inject(dst, signed)
            self.inject(dst, self.sign(Prepare(view=pre.view, height=pre.height, digest=pre.block.hash,
                                               replica=self.node)), 0.001)
        if real is not None:
            vote = self.sign(Prepare(view=real.view, height=real.height, digest=real.block.hash, replica=self.node))
            for dst in self.others():
                if dst not in targets:
                    self.inject(dst, vote, 0.001)


class BadProposal(Strategy):
    """A primary whose proposals break the chain's rules in one way each: a block on the wrong
    parent (a sibling of the last one), at the wrong height in its header, or naming another
    proposer; sent to everyone, or to half while the other half gets the honest block."""

    name = "bad-proposal"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, PrePrepare) and message.replica == self.node:
            block, kind = message.block, self.rng.choice(("parent", "parent", "height", "proposer"))
            header = block.header
            if kind == "parent":
                grand = self.replica.chain.get(block.height - 2)
                prev = grand.hash if grand is not None and self.rng.random() < 0.5 else self.rng.randbytes(32)
                header = msgspec.structs.replace(header, prev_hash=prev)
            elif kind == "height":
                header = msgspec.structs.replace(header, height=header.height + 1)
            else:
                header = msgspec.structs.replace(header, proposer=self.rng.choice(self.others()))
            bad = self.sign(msgspec.structs.replace(message, block=msgspec.structs.replace(block, header=header)))
            half, _ = self.halves(to)
            everyone = self.rng.random() < 0.5
            return [(dst, bad if everyone or dst in half else message, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class ForgedNewView(Strategy):
    """As the new primary: a NEW-VIEW whose re-proposals ignore the certificates in its V (an empty
    block of its own at the first height above the checkpoint), signed correctly."""

    name = "forged-new-view"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, NewView) and message.replica == self.node:
            min_s, digest, _ = reproposals(message.view_changes)
            parent = self.replica.chain.get(min_s)
            prev = parent.hash if parent is not None else (self.world.genesis if min_s == 0 else digest)
            header = BlockHeader(chain_id=self.chain_id, height=min_s + 1, prev_hash=prev,
                                 tx_root=transactions_root([]), tx_count=0, proposer=self.node,
                                 timestamp_ms=int(self.world.now * 1000) + 3)
            pre = self.sign(PrePrepare(view=message.view, height=min_s + 1,
                                       block=Block(header=header, transactions=[]), replica=self.node))
            forged = self.sign(msgspec.structs.replace(message, pre_prepares=[pre]))
            return [(dst, forged, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class StaleViewChange(Strategy):
    """VIEW-CHANGEs that report the oldest prepared certificates it ever held (valid, but stale)."""

    name = "stale-view-change"

    def __init__(self, world: World, node: str) -> None:
        super().__init__(world, node)
        self.oldest: dict[int, PreparedCertificate] = {}

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        for h, cert in self.replica.prepared.items():
            self.oldest.setdefault(h, cert)
        if isinstance(message, ViewChange) and message.replica == self.node:
            stale = [self.oldest.get(c.pre_prepare.height, c) for c in message.prepared]
            liar = self.sign(msgspec.structs.replace(message, prepared=stale))
            return [(dst, liar, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class OmitCertificates(Strategy):
    """As the new primary: build NEW-VIEW from the 2f+1 VIEW-CHANGEs that carry the fewest (and
    oldest) prepared certificates, omitting honest certificates wherever the quorum allows."""

    name = "omit-certificates"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, NewView) and message.replica == self.node:
            vcs = list(self.world.replicas[instance].view_changes.get(message.view, {}).values()) or \
                message.view_changes
            quorum = self.world.membership.quorum_at(self.world.replicas[instance].epoch)
            own = [vc for vc in vcs if vc.replica == self.node]
            rest = sorted((vc for vc in vcs if vc.replica != self.node),
                          key=lambda vc: (len(vc.prepared), max((c.pre_prepare.view for c in vc.prepared), default=-1),
                                          vc.checkpoint_height, vc.replica))
            chosen = sorted(own + rest[:max(0, quorum - len(own))], key=lambda vc: vc.replica)
            nv = Equivocate.new_view_from(self, message.view, chosen)  # type: ignore[arg-type]
            return [(dst, nv, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class EarlyNewView(Strategy):
    """NEW-VIEW goes out at once; its own VIEW-CHANGEs (which the NEW-VIEW cites) arrive late."""

    name = "early-new-view"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, ViewChange):
            return [(dst, message, self.rng.uniform(0.5, 2.5)) for dst in to]
        return super().outgoing(instance, message, to)


class SelectiveDelay(Strategy):
    """A timing adversary: per message kind a policy drawn at start — on time, late, to a subset
    only (the rest much later), or dropped — applied per destination."""

    name = "selective-delay"
    KINDS = ("PrePrepare", "Prepare", "Commit", "ViewChange", "NewView", "Checkpoint", "BlockBatch", "FetchBlocks",
             "ForwardRequest")

    def start(self) -> None:
        self.policy = {k: self.rng.choice(("on-time", "late", "subset", "subset", "drop")) for k in self.KINDS}

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        policy = self.policy.get(type(message).__name__, "on-time")
        if policy == "drop":
            return []
        if policy == "late":
            return [(dst, message, self.rng.uniform(0.2, 1.5)) for dst in to]
        if policy == "subset":
            half, _ = self.halves(to)
            return [(dst, message, 0.0 if dst in half else self.rng.uniform(0.8, 3.0)) for dst in to]
        return super().outgoing(instance, message, to)


class Amnesia(Strategy):
    """Crashes and restarts with no memory (no blocks, no durable log), again and again: it
    re-votes from scratch in views it already voted in."""

    name = "amnesia"

    def start(self) -> None:
        self.wake_in(self.rng.uniform(0.2, 1.5))

    def wake(self) -> None:
        world = self.world
        if world.faults_on:
            world.crash(self.node)
            world.restart(self.node, forget=True)
            self.wake_in(self.rng.uniform(0.3, 2.0))


class FutureFlood(Strategy):
    """Signs votes and proposals for views and heights far ahead (a log-growth attack)."""

    name = "future-flood"

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        out = super().outgoing(instance, message, to)
        replica = self.replica
        for _ in range(3):
            height = replica.committed_height + self.rng.randint(1, 400)
            view = replica.view + self.rng.choice((0, 0, 1, 7, 50))
            digest = self.rng.randbytes(32)
            vote = self.sign(Prepare(view=view, height=height, digest=digest, replica=self.node)) \
                if self.rng.random() < 0.5 else self.sign(Commit(view=view, height=height, digest=digest,
                                                                 replica=self.node))
            out.append((self.rng.choice(to), vote, 0.0) if to else (self.node, vote, 0.0))
        return out


class HarvestCertificates(Strategy):
    """Assembles every prepared certificate it can from the signed PRE-PREPAREs and PREPAREs it has
    seen (any view, any sender) plus its own signatures, and puts in its VIEW-CHANGEs (and, as
    new primary, its NEW-VIEW) the highest-view certificate per height, preferring a digest the
    honest replicas did not prepare. Stray honest votes become conflicting certificates here."""

    name = "harvest-certificates"

    def __init__(self, world: World, node: str) -> None:
        super().__init__(world, node)
        self.blocks: dict[bytes, Block] = {}
        self.pre_prepares: dict[tuple[int, int, bytes], PrePrepare] = {}
        self.prepares: dict[tuple[int, int, bytes], dict[str, Prepare]] = {}

    def observe(self, sender: str, message: Any) -> None:
        for pre in self._pre_prepares_in(message):
            self.blocks.setdefault(pre.block.hash, pre.block)
            self.pre_prepares.setdefault((pre.view, pre.height, pre.block.hash), pre)
        for p in self._prepares_in(message):
            self.prepares.setdefault((p.view, p.height, p.digest), {}).setdefault(p.replica, p)

    @staticmethod
    def _pre_prepares_in(message: Any) -> list[PrePrepare]:
        if isinstance(message, PrePrepare):
            return [message]
        if isinstance(message, NewView):
            return list(message.pre_prepares) + [c.pre_prepare for vc in message.view_changes for c in vc.prepared]
        if isinstance(message, ViewChange):
            return [c.pre_prepare for c in message.prepared]
        return []

    @staticmethod
    def _prepares_in(message: Any) -> list[Prepare]:
        if isinstance(message, Prepare):
            return [message]
        if isinstance(message, ViewChange):
            return [p for c in message.prepared for p in c.prepares]
        if isinstance(message, NewView):
            return [p for vc in message.view_changes for c in vc.prepared for p in c.prepares]
        return []

    def certificates(self, below_view: int, above_height: int) -> dict[int, PreparedCertificate]:
        replica = self.replica
        honest = {h: c.pre_prepare.block.hash for h, c in replica.prepared.items()}
        best: dict[int, tuple[tuple[int, int], PreparedCertificate]] = {}
        for (view, height, digest), votes in self.prepares.items():
            if view >= below_view or height <= above_height or digest not in self.blocks:
                continue
            pre = self.pre_prepares.get((view, height, digest))
            if pre is None and replica.proposer_ok(view, height, self.node):
                pre = self.sign(PrePrepare(view=view, height=height, block=self.blocks[digest], replica=self.node))
            if pre is None:
                continue
            signers = {r: p for r, p in votes.items() if r != pre.replica}
            if self.node != pre.replica:
                signers[self.node] = self.sign(Prepare(view=view, height=height, digest=digest, replica=self.node))
            if len(signers) < 2 * self.world.membership.f_at(height):
                continue
            cert = PreparedCertificate(pre_prepare=pre, prepares=[signers[r] for r in sorted(signers)])
            rank = (view, int(honest.get(height) != digest))
            if height not in best or rank > best[height][0]:
                best[height] = (rank, cert)
        return {h: c for h, (_, c) in best.items()}

    def rewrite(self, vc: ViewChange) -> ViewChange:
        harvested = self.certificates(vc.new_view, vc.checkpoint_height)
        mine = {c.pre_prepare.height: c for c in vc.prepared}
        for h, cert in harvested.items():
            if h not in mine or cert.pre_prepare.view >= mine[h].pre_prepare.view:
                mine[h] = cert
        signed: ViewChange = self.sign(msgspec.structs.replace(vc, prepared=[mine[h] for h in sorted(mine)]))
        return signed

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        if isinstance(message, ViewChange) and message.replica == self.node:
            return [(dst, self.rewrite(message), 0.0) for dst in to]
        if isinstance(message, NewView) and message.replica == self.node:
            vcs = [self.rewrite(vc) if vc.replica == self.node else vc for vc in message.view_changes]
            nv = Equivocate.new_view_from(self, message.view, vcs)  # type: ignore[arg-type]
            return [(dst, nv, 0.0) for dst in to]
        return super().outgoing(instance, message, to)


class LockBreaker(Strategy):
    """Every trick at once where it applies: equivocate as primary (prepared-but-not-committed
    blocks), report the stalest certificates in VIEW-CHANGEs, and as new primary build NEW-VIEW from
    the VIEW-CHANGEs that omit the most certificates."""

    name = "lock-breaker"

    def __init__(self, world: World, node: str) -> None:
        super().__init__(world, node)
        self.equivocate, self.stale, self.omit = (cls(world, node) for cls in (Equivocate, StaleViewChange,
                                                                              OmitCertificates))
        for part in (self.equivocate, self.stale, self.omit):
            part.rng = self.rng

    def outgoing(self, instance: str, message: Any, to: list[str]) -> Out:
        stale = self.stale.outgoing(instance, message, to)  # also remembers the oldest certificates
        if isinstance(message, PrePrepare):
            return self.equivocate.outgoing(instance, message, to)
        if isinstance(message, NewView):
            return self.omit.outgoing(instance, message, to)
        return stale


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    Usurper, BadProposal, ForgedNewView, LockBreaker, HarvestCertificates, Silent, Equivocate, ConflictingVotes, Replay, Garbage, WithholdCertificates, ForgedCertificate,
    StaleViewChange, OmitCertificates, EarlyNewView, SelectiveDelay, Amnesia, FutureFlood)}

#: the behaviours of the first fault campaign, kept under their old names for its seeds
LEGACY_BEHAVIOURS = ("silent", "equivocate", "conflicting-votes", "replay", "garbage", "lying-view-change")
_ALIASES = {"lying-view-change": "withhold-certificates"}


def make_strategy(name: str, world: World, node: str) -> Strategy:
    cls = STRATEGIES.get(_ALIASES.get(name, name))
    if cls is None:
        raise ConfigError(f"unknown Byzantine strategy {name!r}; expected one of {sorted(STRATEGIES)}")
    return cls(world, node)

