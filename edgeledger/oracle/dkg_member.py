"""One oracle node's part in the distributed key generation (:mod:`edgeledger.oracle.dkg`), sans-IO.

The member reads the proxy's events and the key generation's state from each committed
block and answers with transactions: it deals when a group it belongs to opens (a random
polynomial, shares sealed to each member's identity key), checks the share each dealer
sealed to it against that dealer's commitments, posts its verdict, reveals a share when
accused, and closes the generation. When the chain registers the group it adds up the
qualified dealers' shares into its own share of the group key, checks it against the
group's commitments (Feldman) and hands group and share to Pedal (``on_group``).
:class:`DkgFaults` (tests) makes a member faulty: a dealer that sends wrong shares, stays silent
when accused, or accuses honest dealers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeledger.crypto.dkg import combine_shares, share_from_bytes
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.sealing import SealedBox
from edgeledger.crypto.threshold import Share, deal, verify_share
from edgeledger.effects import Effect, Metric, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.clock import chain_time_ms
from edgeledger.ledger.contracts import ContractCall, logs_at
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import Transaction
from edgeledger.node.service import Service
from edgeledger.oracle.dkg import dkg_phase, dkg_session
from edgeledger.oracle.proxy import oracle_group
from edgeledger.oracle.records import OracleGroup

__all__ = ["DkgMember", "DkgFaults", "KeyGenService", "Tamper"]

#: (recipient, its true share) -> the share a faulty dealer sends instead
Tamper = Callable[[str, Share], Share]


@dataclass(frozen=True)
class DkgFaults:
    """How a faulty member misbehaves (tests and fault-injection runs only)."""

    tamper: Tamper | None = None  # the share it sends (and reveals) instead of the true one
    answer_complaints: bool = True  # False: it never reveals a share when accused
    accuse: tuple[str, ...] = ()  # dealers it complains about whatever they sent


@dataclass
class _Generation:
    members: list[str]
    threshold: int
    dealt: dict[str, Share] = field(default_factory=dict)  # what we dealt: recipient -> its true share
    received: dict[str, Share] = field(default_factory=dict)  # dealer -> the (checked) share it gave us
    complaints: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)  # our steps submitted: deal, verdict, answer:<m>, finish
    finish_seen: int = 0  # blocks that showed the generation ready to close
    done: bool = False


class DkgMember:
    """The member's side of every group key generation it takes part in."""

    def __init__(self, node_id: str, key: PrivateKey, membership: Membership, proxy: str, rng: Any,
                 sign: Callable[[str, Any], Transaction], faults: DkgFaults = DkgFaults()) -> None:
        self.node_id, self.key, self.membership, self.proxy, self.rng = node_id, key, membership, proxy, rng
        self.sign, self.faults = sign, faults
        self.tamper, self.answer_complaints = faults.tamper, faults.answer_complaints
        self.generations: dict[str, _Generation] = {}
        self.shares: dict[str, Share] = {}  # group id -> our share of the group key, once registered

    def _call(self, method: str, *args: Any) -> Effect:
        return SubmitTransaction(self.sign("contract.call", ContractCall(contract=self.proxy, method=method,
                                                                         args=list(args))))

    def _index(self, gen: _Generation, member: str) -> int:
        return gen.members.index(member) + 1

    # -- events ------------------------------------------------------------------------------
    def on_event(self, name: str, a: dict[str, Any]) -> list[Effect]:
        if name == "dkg_opened" and self.node_id in a["members"] and a["group_id"] not in self.generations:
            gen = self.generations[a["group_id"]] = _Generation(list(a["members"]), a["threshold"])
            return self._deal(a["group_id"], gen)
        gen = self.generations.get(a.get("group_id", ""))
        if gen is None or gen.done:
            return []
        if name == "dkg_dealt" and a["dealer"] != self.node_id:
            share = self._open(gen, a["shares"].get(self.node_id, b""))
            if share is not None and verify_share(share.index, share, a["commitments"]):
                gen.received[a["dealer"]] = share
            else:
                gen.complaints.add(a["dealer"])
        elif name == "dkg_answered" and a["complainer"] == self.node_id and a["valid"]:
            gen.received[a["dealer"]] = Share(index=self._index(gen, self.node_id), value=a["share"])
        return []

    def _deal(self, group_id: str, gen: _Generation) -> list[Effect]:
        shares, commitments = deal(self.rng, gen.threshold, len(gen.members))
        sealed: dict[str, bytes] = {}
        for member, share in zip(gen.members, shares):
            gen.dealt[member] = share
            if member == self.node_id:
                gen.received[member] = share
                continue
            sent = self.tamper(member, share) if self.tamper else share
            ephemeral = self.rng.getrandbits(256).to_bytes(32, "big")  # SystemRandom in deployment, seeded in sims
            sealed[member] = SealedBox().seal(self.membership.identities[member].public_key, sent.value, ephemeral)
        gen.sent.add("deal")
        return [self._call("dkg_deal", group_id, commitments, sealed)]

    def _open(self, gen: _Generation, sealed: bytes) -> Share | None:
        try:
            value = SealedBox().open(self.key, sealed)
        except EdgeLedgerError:
            return None
        return share_from_bytes(self._index(gen, self.node_id), value)

    # -- the generation's state, after each block ----------------------------------------------
    def on_state(self, group_id: str, session: dict[str, Any], now_ms: int) -> list[Effect]:
        """Act on the phase ``session`` is in at chain time ``now_ms``."""
        gen = self.generations.get(group_id)
        if gen is None or gen.done or session["status"] != "open":
            return []
        phase = dkg_phase(session, now_ms)
        if phase == "verdicts" and "verdict" not in gen.sent:
            gen.sent.add("verdict")
            accused = (gen.complaints | set(self.faults.accuse)) & set(session["dealt"]) - {self.node_id}
            return [self._call("dkg_verdict", group_id, sorted(accused))]
        if phase == "answers" and self.answer_complaints:
            effects = []
            for member, accused in sorted(session["verdicts"].items()):
                if self.node_id in accused and f"answer:{member}" not in gen.sent:
                    gen.sent.add(f"answer:{member}")
                    sent = gen.dealt[member] if self.tamper is None else self.tamper(member, gen.dealt[member])
                    effects.append(self._call("dkg_answer", group_id, member, sent.value))
            return effects
        if phase == "finish" and "finish" not in gen.sent:
            closer = next((m for m in gen.members if m in session["dealt"]), gen.members[0])
            gen.finish_seen += 1
            if self.node_id == closer or gen.finish_seen > 2:  # the first dealer closes; others if it does not
                gen.sent.add("finish")
                return [self._call("dkg_finish", group_id)]
        return []

    def on_group(self, group: OracleGroup) -> tuple[Share | None, list[Effect]]:
        """The chain registered ``group``: our share of its key (None if we are not in it), checked."""
        gen = self.generations.get(group.group_id)
        if gen is None or gen.done:
            return None, []
        gen.done = True
        if self.node_id not in group.members:
            return None, [Metric("oracle.dkg_excluded", 1.0)]
        index = self._index(gen, self.node_id)
        missing = [d for d in group.members if d not in gen.received]
        if missing:
            return None, [Metric("oracle.dkg_missing_share", float(len(missing)))]
        share = combine_shares(index, [gen.received[d] for d in group.members])
        if not verify_share(index, share, group.commitments):
            return None, [Metric("oracle.dkg_bad_share", 1.0)]
        self.shares[group.group_id] = share
        return share, [Metric("oracle.dkg_done", 1.0)]


class KeyGenService(Service):
    """The node adapter: proxy events and key-generation state to the member, groups to Pedal."""

    def __init__(self, member: DkgMember, state_view: Callable[[], Any],
                 on_group: Callable[[OracleGroup, Share | None], None]) -> None:
        self.member, self.state_view, self.on_group = member, state_view, on_group

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        view, member = self.state_view(), self.member
        effects: list[Effect] = []
        finished = []
        for log in logs_at(view, block.height):
            for ev in log.events:
                if ev.contract != member.proxy:
                    continue
                effects += member.on_event(ev.name, ev.attributes)
                if ev.name in ("group", "dkg_failed"):
                    finished.append(ev.attributes["group_id"])
        now_ms = chain_time_ms(view)
        for group_id, gen in sorted(member.generations.items()):
            session = dkg_session(view, member.proxy, group_id)
            if session is not None and not gen.done:
                effects += member.on_state(group_id, session, now_ms)
        for group_id in finished:  # every oracle node learns every group: a master's may not be its own
            group = oracle_group(view, member.proxy, group_id)
            if group is None:  # the generation failed: fewer than t qualified dealers
                if group_id in member.generations:
                    member.generations[group_id].done = True
                effects.append(Metric("oracle.dkg_failed", 1.0))
                continue
            share, more = member.on_group(group)
            effects += more
            self.on_group(group, share)
        return effects
