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

A member's state survives a restart: the service keeps it with the node (``SaveState``, the
node's store, before any transaction it caused leaves) -- its secret polynomial's shares, the
shares it received, its complaints and steps, and the height it has read up to -- and a
restarted node hands it back (``resume``): the member replays the proxy's events of the
blocks it committed but had not read, then acts on each generation's current phase, so it
is not excluded for having been down. A member that never dealt deals on resume while the
dealing phase is open; a deal or an answer that did not commit is sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.dkg import combine_shares, share_from_bytes
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.sealing import SealedBox
from edgeledger.crypto.threshold import Share, deal, verify_share
from edgeledger.effects import Effect, Metric, Rejected, SaveState, SubmitTransaction
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

__all__ = ["DkgMember", "DkgFaults", "KeyGenService", "Tamper", "DkgSaved", "STATE_KEY"]

STATE_KEY = "oracle.dkg"  # the node keeps the member's state under this key (Service.state_key)
RESEND_BLOCKS = 3  # a deal or answer that has not committed after this many blocks of its phase is sent again

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
    deal_args: list[Any] = field(default_factory=list)  # [commitments, sealed shares]: to send again if lost
    waiting: int = 0  # blocks seen since our deal (or answer) went out without committing


class SavedGeneration(Record):
    members: list[str]
    threshold: int
    dealt: dict[str, Share]  # secret: our polynomial's shares
    received: dict[str, Share]  # secret: the checked shares dealers gave us
    complaints: list[str]
    sent: list[str]
    finish_seen: int
    done: bool
    deal_args: list[Any]


class DkgSaved(Record):
    """A member's key-generation state as the node keeps it (secret material: the store is private)."""

    height: int  # the last block whose events the member has read
    generations: dict[str, SavedGeneration]
    shares: dict[str, Share]


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
            shares = a.get("shares")
            share = self._open(gen, shares.get(self.node_id, b"") if isinstance(shares, dict) else b"")
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
        gen.deal_args = [commitments, sealed]
        return [self._call("dkg_deal", group_id, commitments, sealed)]

    def _open(self, gen: _Generation, sealed: Any) -> Share | None:
        if not isinstance(sealed, bytes):  # a malformed deal: a complaint, never a crash
            return None
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
        if phase == "dealing" and self.node_id not in session["dealt"]:
            if "deal" not in gen.sent:  # the opening reached us while we could not act on it (a restart)
                return self._deal(group_id, gen)
            gen.waiting += 1
            if gen.waiting > RESEND_BLOCKS and gen.deal_args:
                gen.waiting = 0
                return [self._call("dkg_deal", group_id, *gen.deal_args)]
            return []
        if phase == "verdicts" and "verdict" not in gen.sent:
            gen.sent.add("verdict")
            accused = (gen.complaints | set(self.faults.accuse)) & set(session["dealt"]) - {self.node_id}
            return [self._call("dkg_verdict", group_id, sorted(accused))]
        if phase == "answers" and self.answer_complaints:
            due = [m for m, accused in sorted(session["verdicts"].items())
                   if self.node_id in accused and m in gen.dealt and f"{self.node_id}/{m}" not in session["answers"]]
            if any(f"answer:{m}" in gen.sent for m in due):  # an answer that did not commit is sent again
                gen.waiting += 1
            again = gen.waiting > RESEND_BLOCKS
            if again:
                gen.waiting = 0
            effects = []
            for member in due:
                if f"answer:{member}" not in gen.sent or again:
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

    # -- durable state ---------------------------------------------------------------------------
    def snapshot(self, height: int) -> DkgSaved:
        """Everything a restarted member needs to go on (secret: keep it private)."""
        return DkgSaved(height=height, shares=dict(self.shares), generations={
            gid: SavedGeneration(members=g.members, threshold=g.threshold, dealt=dict(g.dealt),
                                 received=dict(g.received), complaints=sorted(g.complaints), sent=sorted(g.sent),
                                 finish_seen=g.finish_seen, done=g.done, deal_args=list(g.deal_args))
            for gid, g in sorted(self.generations.items())})

    def restore(self, saved: DkgSaved) -> None:
        """Take back a :meth:`snapshot` (a restarted node)."""
        self.shares = dict(saved.shares)
        self.generations = {
            gid: _Generation(list(g.members), g.threshold, dict(g.dealt), dict(g.received), set(g.complaints),
                             set(g.sent), g.finish_seen, g.done, list(g.deal_args))
            for gid, g in saved.generations.items()}

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
    """The node adapter: proxy events and key-generation state to the member, groups to Pedal.

    It keeps the member's state with the node (:data:`STATE_KEY`) whenever the member changed
    it, before the transactions that change caused leave, and every ``checkpoint_blocks``
    blocks (so a restart replays few blocks)."""

    state_key = STATE_KEY

    def __init__(self, member: DkgMember, state_view: Callable[[], Any],
                 on_group: Callable[[OracleGroup, Share | None], None],
                 chain_height: Callable[[], int] = lambda: 0, checkpoint_blocks: int = 1000) -> None:
        self.member, self.state_view, self.on_group = member, state_view, on_group
        self.chain_height, self.checkpoint_blocks = chain_height, checkpoint_blocks
        self.height = 0  # the last block whose events the member has read
        self._saved: tuple[int, bytes] = (-1, b"")  # (height, encoded generations) last kept

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def start(self, now: float) -> list[Effect]:
        """A first start: keep the height from which a restart must replay."""
        self.height = self.chain_height()
        return self._save(force=True)

    def resume(self, saved: bytes, ledger: Any, now: float) -> list[Effect]:
        """A restart: take the member's state back, read the blocks committed since it was kept, act."""
        try:
            state = decode(saved, DkgSaved)
        except Exception as exc:  # a damaged record must not keep the node down: start afresh, say so
            return [Rejected(self.member.node_id, "oracle.dkg_state", f"saved key-generation state unreadable: {exc}"),
                    *self.start(now)]
        self.member.restore(state)
        self.height = state.height
        view = self.state_view()
        effects: list[Effect] = []
        for height in range(state.height + 1, int(getattr(ledger, "height", 0) or self.chain_height()) + 1):
            effects += self._read(view, height, replay=True)
        effects += self._act(view)
        return self._save(force=True) + effects

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        view = self.state_view()
        effects = self._read(view, block.height)
        effects += self._act(view)
        return self._save() + effects  # durable before the transactions it caused leave

    def _save(self, force: bool = False) -> list[Effect]:
        snapshot = self.member.snapshot(self.height)
        body = encode(snapshot.generations) + encode(snapshot.shares)
        last_height, last_body = self._saved
        if not force and body == last_body and self.height - last_height < self.checkpoint_blocks:
            return []
        self._saved = (self.height, body)
        return [SaveState(STATE_KEY, snapshot)]

    def _read(self, view: Any, height: int, replay: bool = False) -> list[Effect]:
        """The proxy's events of block ``height``: the member's, and the groups they finish.
        Replayed (``replay``), an opening whose dealing phase is over deals nothing."""
        member = self.member
        effects: list[Effect] = []
        finished = []
        for log in logs_at(view, height):
            for ev in log.events:
                if ev.contract != member.proxy:
                    continue
                try:
                    more = member.on_event(ev.name, ev.attributes)
                    if replay and ev.name == "dkg_opened" and more:
                        session = dkg_session(view, member.proxy, ev.attributes["group_id"])
                        if session is None or dkg_phase(session, chain_time_ms(view)) != "dealing":
                            more = []  # too late to deal: the generation goes on (or went) without us
                    effects += more
                except Exception as exc:  # a malformed event: counted, never the node's end
                    effects.append(Rejected(member.node_id, f"oracle.{ev.name}", f"{type(exc).__name__}: {exc}"))
                if ev.name in ("group", "dkg_failed"):
                    finished.append(ev.attributes["group_id"])
        self.height = max(self.height, height)
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

    def _act(self, view: Any) -> list[Effect]:
        """Act on the current phase of each generation still open."""
        member = self.member
        effects: list[Effect] = []
        now_ms = chain_time_ms(view)
        for group_id, gen in sorted(member.generations.items()):
            session = dkg_session(view, member.proxy, group_id)
            if session is not None and not gen.done:
                effects += member.on_state(group_id, session, now_ms)
        return effects

