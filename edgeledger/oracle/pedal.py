"""Pedal collaboration of one oracle node, as a sans-IO core (SewingChain, Algorithm 1).

Per request (seen as the proxy's ``requested`` event in a committed block):

1. every node proves ``VRF(sk, seed_T || T)`` once per term, with the term's chained seed the
   request carries, and sends the proof to all registered nodes; data requests start their
   source read at once (a ``Compute`` effect);
2. a node that holds a qualifying proof (``beta < threshold``) knows the master: the smallest
   qualifying output. When none qualifies once all proofs are in or the election timer
   fired, each node posts its proof on the chain's fallback board
   (:mod:`edgeledger.oracle.terms`) and the master is whoever the board decides -- the
   service reports it (:meth:`PedalCore.on_fallback`); nobody chooses which proofs count;
3. the master draws the request's work nodes with its VRF (:mod:`edgeledger.oracle.work`)
   and calls them (:class:`ObservationCall`, with its certificate and draw proof); a node
   the draw named works and sends it a signed :class:`Observation`; with ``ceil(2k/3)``
   observations the master proposes their aggregate to its signing group; members check the
   certificate, the draw, the observations and the aggregate, and return a threshold share;
4. with ``t`` valid shares the master combines them (Lagrange at 0) into the group's own
   signature and submits ``oracle.fulfill``.

Sealed requests (:mod:`edgeledger.oracle.privacy`): the work runs on the parameters opened
with this node's key, and the master seals the result to the requester (members check the
plaintext digest). Junk: a work node that finds the request malformed observes
:data:`~edgeledger.oracle.stake.JUNK`; with a quorum of those the result is the junk verdict
and the requester's stake is forfeited on chain.

A member follows any master whose certificate passes the proxy's own rule -- its qualifying
proof (:func:`certificate_error`), or the fallback board's decision -- even when its own view
differs or is not decided yet; calls and proposals that outrun the request or the board are
held (bounded) until they can be checked. The core never reads a clock or does I/O.

How observations become a result is :func:`aggregate_observations` by default (median for
data, agreement otherwise). ``aggregators`` may name another rule per request kind (the
computing oracle's Pedal model aggregation): a pure ``(request, values, threshold) -> result
or None`` that the master runs to propose and every member runs again to check the proposal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from edgeledger.codec import encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, combine, sign_share, verify_signature_share
from edgeledger.crypto.vrf import vrf_proof_to_hash
from edgeledger.effects import Broadcast, Compute, Effect, Metric, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.oracle.aggregation import aggregate_observations
from edgeledger.oracle.election import election_threshold, prove_term
from edgeledger.oracle.pedal_election import PedalElection
from edgeledger.oracle.pedal_state import FetchJob, PedalConfig, RequestState, hold
from edgeledger.oracle.privacy import open_params, seal_result, sealed_digest
from edgeledger.oracle.records import (
    ElectionProof, Fulfillment, Observation, ObservationCall, OracleFulfill, OracleGroup, OracleRequest, ResultProposal,
    ResultShare, result_message, share_index,
)
from edgeledger.oracle.stake import JUNK, is_junk
from edgeledger.oracle.work import prove_work, verified_work_nodes, work_nodes, work_threshold

__all__ = ["FetchJob", "PedalConfig", "PedalCore", "ResultAggregator"]

#: ``(request, encoded observations, threshold) -> encoded result, or None without agreement``
ResultAggregator = Callable[["OracleRequest", Sequence[bytes], int], "bytes | None"]


class PedalCore(PedalElection):
    """One oracle node's part in Pedal; every node runs the same code, masters included."""

    #: requests for which messages that outran the request (or the election) are held
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
        self.shares = dict(shares)  # group id -> this node's share
        self.nonce = nonce
        self.aggregators = dict(aggregators or {})  # request kind -> its aggregation rule
        self.threshold = election_threshold(config.alpha_milli, len(self.vrf_keys))
        self.seeds: dict[int, bytes] = {}  # term -> its seed (from the first request seen in it)
        self.proofs: dict[int, dict[str, ElectionProof]] = {}
        self.proved: set[int] = set()
        self.timed_out: set[int] = set()  # terms whose election timer fired: decide on each later proof
        self.posted: set[int] = set()  # terms whose proof this node posted on the fallback board
        self.fallbacks: dict[int, str] = {}  # term -> the master the chain's fallback board decided
        self.masters: dict[int, tuple[str, list[ElectionProof]]] = {}
        self.requests: dict[str, RequestState] = {}
        self.early: dict[str, dict[str, Observation]] = {}  # observations that arrived before their request
        self.early_calls: dict[str, dict[str, ObservationCall]] = {}  # calls held until they can be checked
        self.early_proposals: dict[str, dict[str, ResultProposal]] = {}  # proposals held likewise
        self.certified: dict[tuple[int, str], None] = {}  # (term, master) with a verified certificate
        self.fulfilled: list[str] = []

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(n for n in self.vrf_keys if n != self.node_id)

    def sign(self, kind: str, payload: Any) -> Transaction:
        """A transaction of this node with its next nonce (shared with the key generation)."""
        self.nonce += 1
        return make_transaction(self.key, self.node_id, self.nonce, kind, payload)

    def add_group(self, group: OracleGroup, share: Share | None) -> None:
        """A group the chain registered (after its key generation); ``share``: ours, if we are in it."""
        self.groups = sorted([g for g in self.groups if g.group_id != group.group_id] + [group],
                             key=lambda g: g.group_id)
        if share is not None:
            self.shares[group.group_id] = share

    # -- inputs ------------------------------------------------------------------------------
    def on_request(self, request: OracleRequest, now: float) -> list[Effect]:
        if request.request_id in self.requests:
            return []
        state = self.requests[request.request_id] = RequestState(request, started_at=now)
        state.work_request = self._opened(request)
        self.seeds.setdefault(request.term, request.seed or self.config.seed)
        effects: list[Effect] = []
        if request.kind == "data":  # cheap reads start at once, in parallel with the election
            effects += self._start_work(state)
        if request.term not in self.proved:
            self.proved.add(request.term)
            proof = prove_term(self.node_id, self.vrf_secret_key, self.seeds[request.term], request.term)
            effects += [Broadcast(self.peers, proof), SetTimer(f"oracle.elect:{request.term}",
                                                                self.config.election_timeout_s)]
            effects += self.on_election_proof(self.node_id, proof, now)
        else:
            effects += self._progress(state, now)
        return effects + self._replay(request.request_id, now)

    def on_fetched(self, request_id: str, value: bytes, now: float) -> list[Effect]:
        state = self.requests.get(request_id)
        if state is None or state.value is not None:
            return []
        state.value = value
        return self._progress(state, now)

    def on_observation(self, sender: str, obs: Observation, now: float) -> list[Effect]:
        state = self.requests.get(obs.request_id)
        if (state is None or state.master is None) and sender == obs.node_id and sender in self.vrf_keys:
            hold(self.early, obs.request_id, sender, obs, self.EARLY_REQUESTS)  # it outran our view: keep it
            return []
        if state is None or state.master != self.node_id or not state.workers:
            return []
        if sender != obs.node_id or sender not in state.workers or \
                not self.membership.verify(sender, obs.signing_bytes(), obs.signature):
            return [Rejected(sender, "oracle.observation", "not a signed observation of a drawn work node")]
        state.observations.setdefault(sender, obs)
        return self._propose(state, now)

    def on_call(self, sender: str, call: ObservationCall, now: float) -> list[Effect]:
        """A master asks for this node's observation: serve it when its certificate and draw are valid."""
        admitted = self._from_master(sender, call, "oracle.call", self.early_calls, signer=False)
        if isinstance(admitted, list):
            return admitted
        state, _, workers = admitted
        if self.node_id not in workers:
            return [Rejected(sender, "oracle.call", f"the master's draw did not name {self.node_id!r}")]
        if sender not in state.followed:
            state.followed.append(sender)  # at most one entry per registered node
        return self._progress_own(state, now)

    def on_proposal(self, sender: str, proposal: ResultProposal, now: float) -> list[Effect]:
        admitted = self._from_master(sender, proposal, "oracle.proposal", self.early_proposals, signer=True)
        if isinstance(admitted, list):
            return admitted
        state, group, workers = admitted
        need = work_threshold(len(workers))
        seen = {o.node_id for o in proposal.observations}
        valid = len(seen) == len(proposal.observations) >= need and all(
            o.node_id in workers and o.request_id == proposal.request_id and
            self.membership.verify(o.node_id, o.signing_bytes(), o.signature) for o in proposal.observations)
        expected = self._aggregate(state.request, [o.value for o in proposal.observations], need) if valid else None
        if expected is None or not self._is_result_of(state.request, expected, proposal.result):
            return [Rejected(sender, "oracle.proposal", "result is not the aggregate of signed observations of "
                                                        "the drawn work nodes")]
        if state.request.kind != "data" and state.request.kind not in self.aggregators and \
                state.value is not None and state.value != expected:
            return [Rejected(sender, "oracle.proposal", "result differs from this member's own recomputation")]
        return [Send(sender, self._share(group, state.request, proposal.result))]

    def on_share(self, sender: str, share: ResultShare, now: float) -> list[Effect]:
        state = self.requests.get(share.request_id)
        if state is None or state.proposal is None or state.submitted or state.group is None:
            return []
        group = state.group
        index = share_index(group, sender)
        message = result_message(self.membership.chain_id, self.config.proxy, share.request_id,
                                 state.proposal.result)
        if index != share.index or not verify_signature_share(index, message, share.signature_share,
                                                              group.commitments):
            return [Rejected(sender, "oracle.share", "signature share does not verify for this member")]
        state.shares[index] = share.signature_share
        return self._maybe_submit(state, now)

    # -- work --------------------------------------------------------------------------------
    def _opened(self, request: OracleRequest) -> OracleRequest | None:
        """The request the work runs on: a sealed one with its parameters opened (None: not for us)."""
        if not request.sealed:
            return request
        try:
            return _with_params(request, open_params(self.key, self.node_id, request.params))
        except EdgeLedgerError:
            return None

    def _start_work(self, state: RequestState) -> list[Effect]:
        if state.working:
            return []
        state.working = True
        if state.work_request is None:  # sealed, and not to us: we cannot tell it from junk
            state.value = JUNK
            return []
        return [Compute(f"fetch:{state.request.request_id}", FetchJob(self.node_id, state.work_request))]

    def _work_size(self, group: OracleGroup) -> int:
        return self.config.work_nodes or len(group.members)

    def _progress(self, state: RequestState, now: float) -> list[Effect]:
        picked = self.masters.get(state.request.term)
        if picked is None or state.master is not None:
            return self._progress_own(state, now)
        state.master, state.certificate = picked[0], picked[1]
        state.group = self._group_of(state.master)
        effects: list[Effect] = []
        if state.master == self.node_id and state.group is not None:
            request = state.request
            state.work_proof = prove_work(self.vrf_secret_key, self.seeds[request.term], request.term,
                                          request.request_id)
            state.workers = work_nodes(vrf_proof_to_hash(state.work_proof), list(self.vrf_keys),
                                       self._work_size(state.group))
            call = ObservationCall(request_id=request.request_id, master=self.node_id,
                                   group_id=state.group.group_id, election=state.certificate,
                                   work_proof=state.work_proof)
            others = tuple(w for w in state.workers if w != self.node_id)
            effects += [Broadcast(others, call)] if others else []
            if self.node_id in state.workers:
                state.followed.append(self.node_id)
        early = self.early.pop(state.request.request_id, {})
        replayed = [e for sender, obs in sorted(early.items()) for e in self.on_observation(sender, obs, now)]
        return effects + replayed + self._progress_own(state, now)

    def _progress_own(self, state: RequestState, now: float) -> list[Effect]:
        """This node's own part as a drawn work node: work, then a signed observation to each
        master that called it with a valid certificate and draw."""
        owed = [m for m in state.followed if m not in state.sent_to]
        if not owed:
            return []
        if not state.working:  # costly work (training) only once a master's draw named this node
            return self._start_work(state)
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

    def _group_of(self, master: str) -> OracleGroup | None:
        """A master's signing group: the first registered group (by id) that contains it."""
        return next((g for g in self.groups if master in g.members), None)

    def _from_master(self, sender: str, msg: ObservationCall | ResultProposal, kind: str,
                     early: dict[str, dict[str, Any]], signer: bool
                     ) -> tuple[RequestState, OracleGroup, list[str]] | list[Effect]:
        """The checks a master's call (``signer`` False) or proposal (True) passes before this node
        serves it: sent by the master it names, certified for the term, its work draw valid, and
        for a proposal, for that master's group (ours). Returns ``(state, group, work nodes)``, or
        the effects to return (a rejection; nothing when it is held until it can be checked)."""
        if sender != msg.master or sender not in self.vrf_keys:
            return [Rejected(sender, kind, "message not sent by the master it names")]
        state = self.requests.get(msg.request_id)
        if state is None:  # the request is not committed here yet: keep the message for when it is
            hold(early, msg.request_id, sender, msg, self.EARLY_REQUESTS)
            return []
        group = self._group_of(sender)
        if group is None or group.group_id != msg.group_id or (signer and self.node_id not in group.members):
            return [Rejected(sender, kind, "for a group that is not the master's or not this node's")]
        certified = self._certified(state.request.term, sender, msg.election)
        if certified is None:  # a fallback master our view of the chain has not seen decided: wait for it
            hold(early, msg.request_id, sender, msg, self.EARLY_REQUESTS)
            return []
        if not certified:
            return [Rejected(sender, kind, "sender is not an elected master: its election certificate is not "
                                           "valid for the term")]
        request = state.request
        workers = verified_work_nodes(msg.work_proof, self.vrf_keys[sender], self.seeds[request.term], request.term,
                                      request.request_id, list(self.vrf_keys), self._work_size(group))
        if workers is None:
            return [Rejected(sender, kind, "the master's work-node draw does not verify")]
        return state, group, workers

    def _replay(self, request_id: str, now: float) -> list[Effect]:
        calls = self.early_calls.pop(request_id, {})
        effects = [e for sender, call in sorted(calls.items()) for e in self.on_call(sender, call, now)]
        proposals = self.early_proposals.pop(request_id, {})
        return effects + [e for sender, p in sorted(proposals.items()) for e in self.on_proposal(sender, p, now)]

    # -- result ------------------------------------------------------------------------------
    def _propose(self, state: RequestState, now: float) -> list[Effect]:
        group = state.group
        need = work_threshold(len(state.workers))
        if state.proposal is not None or group is None or len(state.observations) < need:
            return []
        observations = [state.observations[n] for n in sorted(state.observations)]
        plain = self._aggregate(state.request, [o.value for o in observations], need)
        if plain is None:
            return [Metric("oracle.no_agreement", 1.0)]
        result = plain
        if state.request.sealed and not is_junk(plain):  # one-time key from our (deterministic) signature
            secret = self.key.sign(encode(("pedal-seal", state.request.request_id, sha256(plain))))
            result = seal_result(plain, self.membership.identities[state.request.requester].public_key, secret)
        state.proposal = ResultProposal(request_id=state.request.request_id, master=self.node_id,
                                        group_id=group.group_id, result=result, observations=observations,
                                        election=state.certificate, work_proof=state.work_proof)
        others = tuple(m for m in group.members if m != self.node_id)
        own = self._share(group, state.request, result)
        state.shares[own.index] = own.signature_share
        return [Broadcast(others, state.proposal)] + self._maybe_submit(state, now)

    def _is_result_of(self, request: OracleRequest, plain: bytes, result: bytes) -> bool:
        """``result`` is ``plain``, or, for a sealed request, a sealed box claiming its digest."""
        if request.sealed and not is_junk(plain):
            return sealed_digest(result) == sha256(plain)
        return result == plain

    def _aggregate(self, request: OracleRequest, values: list[bytes], threshold: int) -> bytes | None:
        if sum(1 for v in values if is_junk(v)) >= threshold:
            return JUNK  # the drawn work nodes agree: the request is junk
        values = [v for v in values if not is_junk(v)]
        rule = self.aggregators.get(request.kind)
        if rule is None:
            return aggregate_observations(request.kind, values, threshold)
        return rule(request, values, threshold)

    def _share(self, group: OracleGroup, request: OracleRequest, result: bytes) -> ResultShare:
        share = self.shares[group.group_id]
        message = result_message(self.membership.chain_id, self.config.proxy, request.request_id, result)
        return ResultShare(request_id=request.request_id, node_id=self.node_id, index=share.index,
                           signature_share=sign_share(share, message))

    def _maybe_submit(self, state: RequestState, now: float) -> list[Effect]:
        group = state.group
        if state.submitted or group is None or state.proposal is None or len(state.shares) < group.threshold:
            return []
        state.submitted = True
        chosen = dict(sorted(state.shares.items())[: group.threshold])
        fulfillment = Fulfillment(
            request_id=state.request.request_id, result=state.proposal.result, master=self.node_id,
            group_id=group.group_id, group_public_key=group.commitments[0],
            signature=combine(chosen, threshold=group.threshold), election=state.certificate,
            work_proof=state.work_proof)
        tx = self.sign("oracle.fulfill", OracleFulfill(proxy=self.config.proxy, fulfillment=fulfillment))
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


def _with_params(request: OracleRequest, params: bytes) -> OracleRequest:
    return msgspec.structs.replace(request, params=params)
