"""Pedal collaboration of one oracle node, as a sans-IO core (SewingChain, Algorithm 1).

Per request (seen as the proxy's ``requested`` event in a committed block):

1. every node proves ``VRF(sk, seed || term)`` once per term and sends the proof to all
   registered nodes; data requests start their source read at once (a ``Compute``
   effect), costly work (training) starts only on members of the chosen group;
2. once all proofs of the term are in (or the election timer fires) every node runs the
   same deterministic rule (:func:`pick_master`); the master's group is the first
   registered group (by id) that contains it;
3. the master calls its group for observations (:class:`ObservationCall`) and members send
   it a signed :class:`Observation`; with ``t`` observations the master proposes their
   aggregate; members recompute it, check the observations' signatures and return a
   threshold share;
4. with ``t`` valid shares the master combines them (Lagrange at 0) into the group's own
   signature and submits ``oracle.fulfill``.

The master's call and proposal carry its election certificate (its own proof under the
threshold, or the fallback set), and a member follows any master whose certificate passes
:func:`certificate_error` -- the very check the proxy makes on chain -- even when its own view
of the election differs (it missed a proof and its timer fired first) or is not decided yet:
the chain accepts such a master, so members must not stall it. A call or proposal that
arrives before its request is seen here is held (bounded) until the request arrives.

The core never reads a clock or does I/O: ``now`` arrives with each input and everything
it wants done comes back as effects.

How observations become a result is :func:`aggregate_observations` by default (median for
data, agreement otherwise). ``aggregators`` may name another rule per request kind (the
computing oracle's Pedal model aggregation): a pure ``(request, values, threshold) -> result
or None`` that the master runs to propose and every member runs again to check the proposal.
For such kinds a member's own value is one input among others, not the expected result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, combine, sign_share, verify_signature_share
from edgeledger.effects import Broadcast, Compute, Effect, Metric, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import make_transaction
from edgeledger.oracle.aggregation import aggregate_observations
from edgeledger.oracle.election import certificate_error, election_threshold, pick_master, prove_term
from edgeledger.oracle.records import (
    ElectionProof, Fulfillment, Observation, ObservationCall, OracleFulfill, OracleGroup, OracleRequest, ResultProposal,
    ResultShare, result_message,
)

__all__ = ["FetchJob", "PedalConfig", "PedalCore", "ResultAggregator"]

#: ``(request, encoded observations, threshold) -> encoded result, or None without agreement``
ResultAggregator = Callable[["OracleRequest", Sequence[bytes], int], "bytes | None"]


@dataclass(frozen=True)
class PedalConfig:
    proxy: str
    seed: bytes
    alpha_milli: int = 1000
    election_timeout_s: float = 0.2


@dataclass(frozen=True)
class FetchJob:
    """Local work for a request: the service executes it (source read, training, ...)."""

    node_id: str
    request: OracleRequest


@dataclass
class _RequestState:
    request: OracleRequest
    value: bytes | None = None
    master: str | None = None  # this node's own view of the election
    certificate: list[ElectionProof] = field(default_factory=list)
    group: OracleGroup | None = None
    followed: list[str] = field(default_factory=list)  # other masters with a valid certificate that called us
    working: bool = False
    sent_to: set[str] = field(default_factory=set)  # masters this node sent its observation to
    observations: dict[str, Observation] = field(default_factory=dict)
    proposal: ResultProposal | None = None
    shares: dict[int, bytes] = field(default_factory=dict)
    submitted: bool = False
    started_at: float = 0.0


class PedalCore:
    """One oracle node's part in Pedal; every node runs the same code, masters included."""

    #: requests for which observations that outran the request (or the election) are held; the
    #: same bound holds for masters' calls and proposals that outran the request
    EARLY_REQUESTS = 64
    #: (term, master) pairs whose certificate was checked and found valid, kept to verify each once
    CERTIFIED = 256

    def __init__(self, node_id: str, key: PrivateKey, membership: Membership, config: PedalConfig,
                 vrf_secret_key: bytes, vrf_keys: dict[str, bytes], groups: list[OracleGroup],
                 shares: dict[str, Share], nonce: int = 0,
                 aggregators: Mapping[str, ResultAggregator] | None = None) -> None:
        self.node_id, self.key, self.membership, self.config = node_id, key, membership, config
        self.vrf_secret_key = vrf_secret_key
        self.vrf_keys = dict(sorted(vrf_keys.items()))  # registered node -> VRF public key
        self.groups = sorted(groups, key=lambda g: g.group_id)
        self.shares = shares  # group id -> this node's share
        self.nonce = nonce
        self.aggregators = dict(aggregators or {})  # request kind -> its aggregation rule
        self.threshold = election_threshold(config.alpha_milli, len(self.vrf_keys))
        self.proofs: dict[int, dict[str, ElectionProof]] = {}
        self.proved: set[int] = set()
        self.timed_out: set[int] = set()  # terms whose election timer fired: decide on each later proof
        self.masters: dict[int, tuple[str, list[ElectionProof]]] = {}
        self.requests: dict[str, _RequestState] = {}
        self.early: dict[str, dict[str, Observation]] = {}  # observations that arrived before their request
        self.early_calls: dict[str, dict[str, ObservationCall]] = {}  # calls that arrived before their request
        self.early_proposals: dict[str, dict[str, ResultProposal]] = {}  # proposals before their request
        self.certified: dict[tuple[int, str], None] = {}  # (term, master) with a verified certificate
        self.fulfilled: list[str] = []

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(n for n in self.vrf_keys if n != self.node_id)

    # -- inputs ------------------------------------------------------------------------------
    def on_request(self, request: OracleRequest, now: float) -> list[Effect]:
        if request.request_id in self.requests:
            return []
        state = self.requests[request.request_id] = _RequestState(request, started_at=now)
        effects: list[Effect] = []
        if request.kind == "data":  # cheap reads start at once, in parallel with the election
            state.working = True
            effects.append(Compute(f"fetch:{request.request_id}", FetchJob(self.node_id, request)))
        if request.term not in self.proved:
            self.proved.add(request.term)
            proof = prove_term(self.node_id, self.vrf_secret_key, self.config.seed, request.term)
            effects += [Broadcast(self.peers, proof), SetTimer(f"oracle.elect:{request.term}",
                                                                self.config.election_timeout_s)]
            effects += self.on_election_proof(self.node_id, proof, now)
        else:
            effects += self._progress(self.requests[request.request_id], now)
        calls = self.early_calls.pop(request.request_id, {})
        effects += [e for sender, call in sorted(calls.items()) for e in self.on_call(sender, call, now)]
        proposals = self.early_proposals.pop(request.request_id, {})
        effects += [e for sender, p in sorted(proposals.items()) for e in self.on_proposal(sender, p, now)]
        return effects

    def on_election_proof(self, sender: str, proof: ElectionProof, now: float) -> list[Effect]:
        if sender != proof.node_id or sender not in self.vrf_keys:
            return [Rejected(sender, "oracle.vrf", f"proof for {proof.node_id!r} from unregistered or other sender")]
        self.proofs.setdefault(proof.term, {})[sender] = proof
        if len(self.proofs[proof.term]) == len(self.vrf_keys) or proof.term in self.timed_out:
            return self._decide(proof.term, now)  # after the timer: as soon as the proofs in allow it
        return []

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name.startswith("oracle.elect:"):
            term = int(name.split(":", 1)[1])
            self.timed_out.add(term)
            return self._decide(term, now)
        return []

    def on_fetched(self, request_id: str, value: bytes, now: float) -> list[Effect]:
        state = self.requests.get(request_id)
        if state is None or state.value is not None:
            return []
        state.value = value
        return self._progress(state, now)

    def on_observation(self, sender: str, obs: Observation, now: float) -> list[Effect]:
        state = self.requests.get(obs.request_id)
        if (state is None or state.master is None) and sender == obs.node_id and sender in self.vrf_keys:
            # it outran this node's view of the request or of the election: keep it for later, bounded
            # (the oldest request's are dropped first: late observations of settled requests age out)
            if obs.request_id not in self.early and len(self.early) >= self.EARLY_REQUESTS:
                del self.early[next(iter(self.early))]
            self.early.setdefault(obs.request_id, {}).setdefault(sender, obs)
            return []
        if state is None or state.master != self.node_id or state.group is None:
            return []
        if sender != obs.node_id or sender not in state.group.members or \
                not self.membership.verify(sender, obs.signing_bytes(), obs.signature):
            return [Rejected(sender, "oracle.observation", "not a signed observation of a group member")]
        state.observations.setdefault(sender, obs)
        return self._propose(state, now)

    def on_call(self, sender: str, call: ObservationCall, now: float) -> list[Effect]:
        """A master asks for this node's observation: follow it when its certificate is valid."""
        admitted = self._from_master(sender, call, "oracle.call", self.early_calls)
        if isinstance(admitted, list):
            return admitted
        state, _ = admitted
        if sender != state.master and sender not in state.followed:
            state.followed.append(sender)  # at most one entry per registered node
        return self._progress_own(state, now)

    def on_proposal(self, sender: str, proposal: ResultProposal, now: float) -> list[Effect]:
        admitted = self._from_master(sender, proposal, "oracle.proposal", self.early_proposals)
        if isinstance(admitted, list):
            return admitted
        state, group = admitted
        seen = {o.node_id for o in proposal.observations}
        valid = len(seen) == len(proposal.observations) and all(
            o.node_id in group.members and o.request_id == proposal.request_id and
            self.membership.verify(o.node_id, o.signing_bytes(), o.signature) for o in proposal.observations)
        expected = self._aggregate(state.request, [o.value for o in proposal.observations],
                                   group.threshold) if valid else None
        if expected is None or expected != proposal.result:
            return [Rejected(sender, "oracle.proposal", "result is not the aggregate of its signed observations")]
        if state.request.kind != "data" and state.request.kind not in self.aggregators and \
                state.value is not None and state.value != proposal.result:
            return [Rejected(sender, "oracle.proposal", "result differs from this member's own recomputation")]
        return [Send(sender, self._share(group, state.request, proposal.result))]

    def on_share(self, sender: str, share: ResultShare, now: float) -> list[Effect]:
        state = self.requests.get(share.request_id)
        if state is None or state.proposal is None or state.submitted or state.group is None:
            return []
        group = state.group
        index = group.members.index(sender) + 1 if sender in group.members else -1
        message = result_message(self.membership.chain_id, self.config.proxy, share.request_id,
                                 state.proposal.result)
        if index != share.index or not verify_signature_share(index, message, share.signature_share,
                                                              group.commitments):
            return [Rejected(sender, "oracle.share", "signature share does not verify for this member")]
        state.shares[index] = share.signature_share
        return self._maybe_submit(state, now)

    # -- steps -------------------------------------------------------------------------------
    def _decide(self, term: int, now: float) -> list[Effect]:
        if term in self.masters:
            return []
        picked = pick_master(list(self.proofs.get(term, {}).values()), self.threshold, len(self.vrf_keys),
                             self.vrf_keys, self.config.seed)
        if picked is None:
            return []
        self.masters[term] = picked
        effects: list[Effect] = []
        for state in self.requests.values():
            if state.request.term == term and state.master is None:
                effects += self._progress(state, now)
        return effects

    def _progress(self, state: _RequestState, now: float) -> list[Effect]:
        picked = self.masters.get(state.request.term)
        if picked is None:  # undecided here: serve the masters with a valid certificate that called
            return self._progress_own(state, now)
        if state.master is None:
            state.master, state.certificate = picked[0], picked[1]
            state.group = self._group_of(state.master)
            calls: list[Effect] = []
            if state.master == self.node_id and state.group is not None:
                others = tuple(m for m in state.group.members if m != self.node_id)
                call = ObservationCall(request_id=state.request.request_id, master=self.node_id,
                                       group_id=state.group.group_id, election=state.certificate)
                calls = [Broadcast(others, call)] if others else []
            early = self.early.pop(state.request.request_id, {})
            replayed = [e for sender, obs in sorted(early.items()) for e in self.on_observation(sender, obs, now)]
            return calls + replayed + self._progress_own(state, now)
        return self._progress_own(state, now)

    def _progress_own(self, state: _RequestState, now: float) -> list[Effect]:
        """This node's own part once a master is known: work, then a signed observation to every
        master it follows (the one it elected itself, if it is in that group, and any other
        master with a valid certificate that called it)."""
        owed = [m for m in self._masters_of(state) if m not in state.sent_to]
        if not owed:
            return []
        if not state.working:  # costly work (training) only once this node is in a working group
            state.working = True
            return [Compute(f"fetch:{state.request.request_id}", FetchJob(self.node_id, state.request))]
        if state.value is None:
            return []
        obs = Observation(request_id=state.request.request_id, node_id=self.node_id, value=state.value,
                          signature=b"")
        obs = Observation(request_id=obs.request_id, node_id=obs.node_id, value=obs.value,
                          signature=self.key.sign(obs.signing_bytes()))
        effects: list[Effect] = []
        for master in owed:
            state.sent_to.add(master)
            effects += self.on_observation(self.node_id, obs, now) if master == self.node_id else [Send(master, obs)]
        return effects

    def _masters_of(self, state: _RequestState) -> list[str]:
        own = [state.master] if state.master is not None and state.group is not None and \
            self.node_id in state.group.members else []
        return own + [m for m in state.followed if m not in own]

    def _group_of(self, master: str) -> OracleGroup | None:
        """A master's working group: the first registered group (by id) that contains it."""
        return next((g for g in self.groups if master in g.members), None)

    def _from_master(self, sender: str, msg: ObservationCall | ResultProposal, kind: str,
                     early: dict[str, dict[str, Any]]) -> tuple[_RequestState, OracleGroup] | list[Effect]:
        """The checks a master's call or proposal passes before a member serves it: sent by the
        master it names, for that master's group (ours), under a valid election certificate.
        Returns ``(request state, group)``, or the effects to return (a rejection, or nothing
        when the request is not committed here yet and the message is held for it)."""
        if sender != msg.master or sender not in self.vrf_keys:
            return [Rejected(sender, kind, "message not sent by the master it names")]
        state = self.requests.get(msg.request_id)
        if state is None:  # the request is not committed here yet: keep the message for when it is
            _hold(early, msg.request_id, sender, msg, self.EARLY_REQUESTS)
            return []
        group = self._group_of(sender)
        if group is None or group.group_id != msg.group_id or self.node_id not in group.members:
            return [Rejected(sender, kind, "for a group that is not the master's or not this node's")]
        if not self._certified(state.request.term, sender, msg.election):
            return [Rejected(sender, kind, "sender is not an elected master: its election certificate is not "
                                           "valid for the term")]
        return state, group

    def _certified(self, term: int, master: str, election: list[ElectionProof]) -> bool:
        """Whether ``election`` proves ``master`` elected for ``term`` by the proxy's own rule."""
        if (term, master) in self.certified:
            return True
        picked = self.masters.get(term)
        if picked is None or picked[0] != master:  # not this node's own (already verified) choice
            try:
                error = certificate_error(master, election, term, len(self.vrf_keys), self.threshold,
                                          self.config.seed, self.vrf_keys.get)
            except Exception:  # noqa: BLE001 -- malformed input fails the check, never the node
                return False
            if error is not None:
                return False
        if len(self.certified) >= self.CERTIFIED:
            del self.certified[next(iter(self.certified))]
        self.certified[(term, master)] = None
        return True

    def _propose(self, state: _RequestState, now: float) -> list[Effect]:
        group = state.group
        if state.proposal is not None or group is None or len(state.observations) < group.threshold:
            return []
        observations = [state.observations[n] for n in sorted(state.observations)]
        result = self._aggregate(state.request, [o.value for o in observations], group.threshold)
        if result is None:
            return [Metric("oracle.no_agreement", 1.0)]
        state.proposal = ResultProposal(request_id=state.request.request_id, master=self.node_id,
                                        group_id=group.group_id, result=result, observations=observations,
                                        election=state.certificate)
        others = tuple(m for m in group.members if m != self.node_id)
        own = self._share(group, state.request, result)
        state.shares[own.index] = own.signature_share
        return [Broadcast(others, state.proposal)] + self._maybe_submit(state, now)

    def _aggregate(self, request: OracleRequest, values: list[bytes], threshold: int) -> bytes | None:
        rule = self.aggregators.get(request.kind)
        if rule is None:
            return aggregate_observations(request.kind, values, threshold)
        return rule(request, values, threshold)

    def _share(self, group: OracleGroup, request: OracleRequest, result: bytes) -> ResultShare:
        share = self.shares[group.group_id]
        message = result_message(self.membership.chain_id, self.config.proxy, request.request_id, result)
        return ResultShare(request_id=request.request_id, node_id=self.node_id, index=share.index,
                           signature_share=sign_share(share, message))

    def _maybe_submit(self, state: _RequestState, now: float) -> list[Effect]:
        group = state.group
        if state.submitted or group is None or state.proposal is None or len(state.shares) < group.threshold:
            return []
        state.submitted = True
        chosen = dict(sorted(state.shares.items())[: group.threshold])
        fulfillment = Fulfillment(
            request_id=state.request.request_id, result=state.proposal.result, master=self.node_id,
            group_id=group.group_id, group_public_key=group.commitments[0],
            signature=combine(chosen, threshold=group.threshold), election=state.certificate)
        self.nonce += 1
        tx = make_transaction(self.key, self.node_id, self.nonce, "oracle.fulfill",
                              OracleFulfill(proxy=self.config.proxy, fulfillment=fulfillment))
        self.fulfilled.append(state.request.request_id)
        return [SubmitTransaction(tx), Metric("oracle.aggregate_s", now - state.started_at)]

    def forget(self, request_id: str) -> None:
        """Drop a request's state once the chain has settled it (fulfilled or expired)."""
        self.requests.pop(request_id, None)
        self.early.pop(request_id, None)
        self.early_calls.pop(request_id, None)
        self.early_proposals.pop(request_id, None)

    def describe(self) -> dict[str, Any]:
        return {"node": self.node_id, "pending": sorted(self.requests), "masters": {t: m for t, (m, _) in
                                                                                       self.masters.items()}}


def _hold(buffer: dict[str, dict[str, Any]], request_id: str, sender: str, message: Any, cap: int) -> None:
    """Keep one message per sender for a request not seen yet; at most ``cap`` requests, the
    oldest request's dropped first (late messages of settled requests age out)."""
    if request_id not in buffer and len(buffer) >= cap:
        del buffer[next(iter(buffer))]
    buffer.setdefault(request_id, {}).setdefault(sender, message)
