"""PoW under a withholding adversary: Eyal & Sirer's selfish mining ("Majority Is Not Enough:
Bitcoin Mining Is Vulnerable", FC 2014, Algorithm 1), its theory, and a simulated network to
measure it in.

- :class:`SelfishMiner` runs the honest miner's code but keeps the blocks it finds private and
  publishes them by Algorithm 1: on finding a block at a tie (state 0') it publishes and wins; when
  the honest miners find a block it adopts their chain if it had no lead, publishes its last
  block for a race at lead 1, publishes everything at lead 2 (overriding the honest block), and
  publishes one block to stay ahead at a longer lead.
- :func:`selfish_theory` gives the paper's state probabilities (its section 4.2) and, from them,
  the pool's share of the main chain and the rate of orphaned blocks; :func:`theory_reorgs`
  runs the paper's state machine itself to count the reorganisations honest nodes see and their
  depths (the number of honest blocks a publication overrides).
- :func:`run_selfish_network` puts one selfish miner with hash share alpha among honest miners
  on a small discrete-event network of its own (fixed link latency, encoded messages;
  first-seen tie-break, so gamma ~ 0) and measures the same
  figures; honest miners finalise ``confirmations`` deep and never revert a final block, so a
  publication deeper than that is refused (counted) and honest final chains must still agree.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Union

from edgeledger.codec import decode, encode
from edgeledger.consensus.base import CommitBlock
from edgeledger.consensus.pow import POW_MESSAGES, PowBlock, PowConfig, PowMiner
from edgeledger.consensus.pow.core import FOUND_TIMER
from edgeledger.consensus.pow.difficulty import block_work, target_for_zero_bits
from edgeledger.consensus.pow.state import Reorg, TreeNode
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Broadcast, CancelTimer, Effect, Metric, Send, SetTimer
from edgeledger.ledger.identity import Genesis, Identity, Membership

__all__ = ["SelfishMiner", "SelfishTheory", "selfish_theory", "ModelRun", "theory_reorgs", "SelfishRun",
           "run_selfish_network"]

PowWire = Union[tuple(POW_MESSAGES)]  # type: ignore[valid-type]


class SelfishMiner(PowMiner):
    """A PoW miner that withholds its blocks and publishes them by Eyal & Sirer's Algorithm 1."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.private: list[PowBlock] = []  # found, not yet published, in height order
        self.public_height = 0  # the longest chain anyone has published (ours included)
        self.branch_len = 0  # our blocks on our branch since it left the public chain
        self.published = 0

    @property
    def lead(self) -> int:
        return self.tree.tip.height - self.public_height

    def timer(self, name: str, now: float) -> list[Effect]:
        if name != FOUND_TIMER:
            return super().timer(name, now)
        lead_before = self.lead
        block = self._seal(self._build_template(now), nonce=0)
        effects = [e for e in self._on_block(self.node_id, block, now) if not isinstance(e, Broadcast)]
        self.private.append(block)
        self.branch_len += 1
        if lead_before == 0 and self.branch_len == 2:  # we were racing at a tie (state 0') and won it
            effects += self._publish(len(self.private))
            self.branch_len = 0
        if not any(e.__class__.__name__ == "SetTimer" for e in effects):
            effects.append(self._schedule_found())
        return effects

    def receive(self, sender: str, message: Any, now: float) -> list[Effect]:
        lead_before = self.lead
        effects = super().receive(sender, message, now)
        if isinstance(message, PowBlock) and message.header.height > self.public_height:
            self.public_height = message.header.height
            effects += self._react(lead_before)
        return effects

    def _react(self, lead_before: int) -> list[Effect]:
        """The honest miners extended the public chain; ``lead_before`` was our lead before it."""
        if lead_before <= 0:  # they are ahead (or won a race): adopt their chain
            self.private.clear()
            self.branch_len = 0
            return []
        if lead_before == 2:  # one block ahead of them after theirs: publish everything, they lose theirs
            effects = self._publish(len(self.private))
            self.branch_len = 0
            return effects
        # lead 1: publish our block at their height and race; lead > 2: publish up to their height, stay ahead
        return self._publish(sum(1 for b in self.private if b.header.height <= self.public_height))

    def _publish(self, count: int) -> list[Effect]:
        out, self.private = self.private[:count], self.private[count:]
        if out:
            self.public_height = max(self.public_height, out[-1].header.height)
            self.published += len(out)
        return [Broadcast(self.peers, b) for b in out]


# -- theory ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SelfishTheory:
    alpha: float
    gamma: float
    pool_share: float  # the pool's fraction of main-chain blocks (its relative revenue R_pool)
    main_chain_rate: float  # main-chain blocks per block found
    orphan_rate: float  # 1 - main_chain_rate: blocks found that end off the main chain


def selfish_theory(alpha: float, gamma: float = 0.0) -> SelfishTheory:
    """Eyal & Sirer (2014) section 4.2: state probabilities and revenue rates of selfish mining."""
    a, g = alpha, gamma
    p0 = (a - 2 * a * a) / (a * (2 * a**3 - 4 * a * a + 1))
    p0x = (1 - a) * (a - 2 * a * a) / (1 - 4 * a * a + 2 * a**3)  # state 0': a tie between branches
    p1 = (a - 2 * a * a) / (2 * a**3 - 4 * a * a + 1)
    p2 = (a / (1 - a)) * p1
    p_more = sum((a / (1 - a)) ** (k - 1) * p1 for k in range(3, 400))  # P[lead > 2]
    r_others = p0x * g * (1 - a) + 2 * p0x * (1 - g) * (1 - a) + p0 * (1 - a)
    r_pool = 2 * p0x * a + p0x * g * (1 - a) + 2 * p2 * (1 - a) + p_more * (1 - a)
    main = r_pool + r_others
    return SelfishTheory(alpha, gamma, r_pool / main, main, 1 - main)


@dataclass
class ModelRun:
    """What the paper's abstract model gives over a number of found blocks."""

    depths: list[int]  # honest blocks overridden by each pool publication the honest miners adopted
    refused: int  # overrides the honest miners refused: deeper than their confirmation depth
    pool_main: int
    main: int

    @property
    def pool_share(self) -> float:
        return self.pool_main / self.main if self.main else 0.0


def theory_reorgs(alpha: float, blocks: int, rng: random.Random, confirmations: int | None = None) -> ModelRun:
    """Run the paper's state machine (gamma = 0) for ``blocks`` found blocks, counting main-chain
    blocks and every reorganisation the honest miners see (its depth: the honest blocks a pool
    publication overrides). With ``confirmations``, honest miners refuse an override that would
    revert a block that deep (it is final); the pool's fork is then orphaned instead."""
    lead, tie, honest_fork, pool_fork = 0, False, 0, 0
    out = ModelRun([], 0, 0, 0)
    for _ in range(blocks):
        if rng.random() < alpha:  # the pool finds a block
            if tie:  # it wins the race: the honest block at the tie is overridden
                out.depths.append(1)
                out.pool_main += 2
                out.main += 2
                tie, lead, pool_fork = False, 0, 0
            else:
                lead += 1
                pool_fork += 1
            continue
        if tie:  # gamma = 0: the honest miners extend their own branch; the pool's block is orphaned
            out.main += 2
            tie, lead, pool_fork = False, 0, 0
        elif lead == 0:
            out.main += 1
        elif lead == 1:  # publish and race
            tie, lead, honest_fork = True, 0, 0
        elif lead == 2:  # publish all: every honest block of this fork is overridden
            depth = honest_fork + 1
            if confirmations is not None and depth >= confirmations:
                out.refused += 1
                out.main += depth
            else:
                out.depths.append(depth)
                out.pool_main += pool_fork
                out.main += pool_fork
            lead, honest_fork, pool_fork = 0, 0, 0
        else:
            lead -= 1
            honest_fork += 1
    return out


# -- a measured network ------------------------------------------------------------------------
@dataclass
class _MinerHost:
    core: PowMiner
    final: list[Any] = field(default_factory=list)
    reorgs: list[int] = field(default_factory=list)
    refused: set[bytes] = field(default_factory=set)  # fork points of heavier branches refused (final below)

    @property
    def node_id(self) -> str:
        return self.core.node_id

    def _keep(self, effects: list[Effect]) -> list[Effect]:
        for e in effects:
            if isinstance(e, CommitBlock):
                self.final.append(e.block)
            elif isinstance(e, Metric) and e.name == "pow.reorg_depth":
                self.reorgs.append(int(e.value))
        return effects

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return self._keep(self.core.receive(sender, message, now))

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self._keep(self.core.timer(name, now))

    def watch_refusals(self) -> None:
        tree = self.core.tree
        insert = tree.insert

        def counted(node: TreeNode) -> Reorg | None:
            heavier = node.work > tree.tip.work
            result = insert(node)
            if heavier and result is None:
                self.refused.add(tree.fork_point(node).hash)
            return result

        tree.insert = counted  # type: ignore[method-assign]


def _run(hosts: dict[str, _MinerHost], until: float, latency_s: float) -> None:
    """Deliver encoded messages after ``latency_s`` and fire timers, in time order, until ``until``."""
    heap: list[tuple[float, int, str, str, Any]] = []
    timers: dict[tuple[str, str], int] = {}
    seq = 0

    def apply(node: str, effects: list[Effect], now: float) -> None:
        nonlocal seq
        for e in effects:
            seq += 1
            if isinstance(e, (Send, Broadcast)):
                data = encode(e.message)
                for dst in ([e.to] if isinstance(e, Send) else e.to):
                    seq += 1
                    heapq.heappush(heap, (now + latency_s, seq, "msg", dst, (node, data)))
            elif isinstance(e, SetTimer):
                timers[(node, e.name)] = seq
                heapq.heappush(heap, (now + e.delay_s, seq, "timer", node, (e.name, seq)))
            elif isinstance(e, CancelTimer):
                timers.pop((node, e.name), None)

    for name, host in hosts.items():
        apply(name, host.core.start(0.0), 0.0)
    while heap and heap[0][0] <= until:
        now, _, kind, node, payload = heapq.heappop(heap)
        host = hosts[node]
        if kind == "msg":
            sender, data = payload
            wire: Any = decode(data, PowWire)
            apply(node, host.on_message(sender, wire, now), now)
        elif timers.get((node, payload[0])) == payload[1]:
            del timers[(node, payload[0])]
            apply(node, host.on_timer(payload[0], now), now)


@dataclass
class SelfishRun:
    alpha: float
    blocks_found: int
    main_chain: int
    pool_main: int
    honest_reorgs: list[int]  # depths seen by one honest miner
    refused_deep: int  # pool publications one honest miner refused (they would revert its final blocks)
    final_agree: bool  # every honest miner finalised the same prefix
    max_final: int

    @property
    def pool_share(self) -> float:
        return self.pool_main / self.main_chain if self.main_chain else 0.0

    @property
    def orphan_rate(self) -> float:
        return 1 - self.main_chain / self.blocks_found if self.blocks_found else 0.0


def run_selfish_network(alpha: float = 1 / 3, honest: int = 4, blocks: int = 2000, seed: int = 0,
                        confirmations: int = 6, interval_s: float = 10.0, latency_s: float = 0.05) -> SelfishRun:
    """One selfish miner with hash share ``alpha`` and ``honest`` honest miners, until about
    ``blocks`` blocks were found (difficulty fixed, as in the paper's model)."""
    names = ["pool"] + [f"m{i}" for i in range(honest)]
    keys = {n: derive_key("ed25519", n.encode()) for n in names}
    ids = [Identity(node_id=n, role="edge", scheme="ed25519", public_key=keys[n].public_key) for n in names]
    membership = Membership(Genesis(chain_id="pow-selfish", identities=ids, validators=names))
    zero_bits = 12
    work = block_work(target_for_zero_bits(zero_bits))
    total_rate = work / interval_s  # hashes per second of the whole network
    master = random.Random(seed)
    hosts: dict[str, _MinerHost] = {}
    for n in names:
        share = alpha if n == "pool" else (1 - alpha) / honest
        cfg = PowConfig(mining="modelled", initial_zero_bits=zero_bits, retarget_interval=10**9,
                        target_block_interval_s=interval_s, hash_rate=total_rate * share,
                        confirmations=10**9 if n == "pool" else confirmations, max_orphans=4096)
        cls = SelfishMiner if n == "pool" else PowMiner
        core = cls(n, keys[n], membership, membership.genesis_hash, cfg, rng=random.Random(master.getrandbits(64)))
        hosts[n] = _MinerHost(core)
        if n != "pool":
            hosts[n].watch_refusals()
    _run(hosts, blocks * interval_s, latency_s)
    observer = hosts["m0"].core
    chain = observer.tree.best_chain[1:]
    miners = [observer.tree.nodes[h].block.header.miner for h in chain]  # type: ignore[union-attr]
    found = sum(len([n for n in h.core.tree.nodes.values() if n.block is not None
                     and n.block.header.miner == name]) for name, h in hosts.items())
    finals = [[b.hash for b in h.final] for n, h in hosts.items() if n != "pool"]
    shortest = min(finals, key=len)
    agree = all(f[:len(shortest)] == shortest for f in finals)
    return SelfishRun(alpha=alpha, blocks_found=found, main_chain=len(chain), pool_main=miners.count("pool"),
                      honest_reorgs=hosts["m0"].reorgs, refused_deep=len(hosts["m0"].refused),
                      final_agree=agree, max_final=len(shortest))
