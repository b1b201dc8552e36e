"""The election half of a Pedal node (:class:`~edgeledger.oracle.pedal.PedalCore` inherits it).

Per term (Algorithm 1, lines 1-8): a node that holds a qualifying VRF proof knows the master,
the smallest qualifying output; when none qualifies once all proofs are in or the election
timer fired, it posts its own proof on the proxy's fallback board and waits for the chain to
decide (:meth:`on_fallback`). A master's certificate is checked by the proxy's own rule: its
qualifying proof (:func:`certificate_error`), or -- empty -- the board's decision; ``None``
from :meth:`_certified` means "not decided in this node's view yet: hold the message".
"""

from __future__ import annotations

from typing import Any

from edgeledger.effects import Effect, Metric, Rejected, SubmitTransaction
from edgeledger.ledger.contracts import ContractCall
from edgeledger.oracle.election import certificate_error, pick_master
from edgeledger.oracle.records import ElectionProof

__all__ = ["PedalElection"]


class PedalElection:
    """State it uses (set by the core): ``node_id``, ``config``, ``vrf_keys``, ``threshold``, ``seeds``,
    ``proofs``, ``timed_out``, ``posted``, ``fallbacks``, ``masters``, ``requests``, ``certified``,
    the held ``early_calls`` / ``early_proposals``; and the core's ``sign``, ``_progress`` and ``_replay``."""

    node_id: str
    config: Any
    vrf_keys: dict[str, bytes]
    threshold: int
    seeds: dict[int, bytes]
    proofs: dict[int, dict[str, ElectionProof]]
    timed_out: set[int]
    posted: set[int]
    fallbacks: dict[int, str]
    masters: dict[int, tuple[str, list[ElectionProof]]]
    requests: dict[str, Any]
    certified: dict[tuple[int, str], None]
    early_calls: dict[str, dict[str, Any]]
    early_proposals: dict[str, dict[str, Any]]
    CERTIFIED: int
    sign: Any  # the core's transaction signer (its nonces)
    _progress: Any  # the core's step for one request once its master is known
    _replay: Any  # the core's replay of held calls and proposals

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

    def on_fallback(self, term: int, master: str, now: float) -> list[Effect]:
        """The chain's fallback board decided ``term``'s master (the service reads it from each block)."""
        if term in self.fallbacks:
            return []
        self.fallbacks[term] = master
        effects = self._elected(term, (master, []), now) if term not in self.masters else []
        for request_id in [r for r in list(self.early_calls) + list(self.early_proposals)
                           if r in self.requests and self.requests[r].request.term == term]:
            effects += self._replay(request_id, now)
        return effects

    def _decide(self, term: int, now: float) -> list[Effect]:
        if term in self.masters or term not in self.seeds:
            return []
        picked = pick_master(list(self.proofs.get(term, {}).values()), self.threshold, len(self.vrf_keys),
                             self.vrf_keys, self.seeds[term])
        if picked is not None:
            return self._elected(term, picked, now)
        own = self.proofs.get(term, {}).get(self.node_id)
        everyone = len(self.proofs.get(term, {})) == len(self.vrf_keys)
        if own is None or term in self.posted or not (everyone or term in self.timed_out):
            return []
        self.posted.add(term)  # nobody qualified: the chain's fallback board decides, from every posted proof
        call = ContractCall(contract=self.config.proxy, method="election_proof", args=[term, own.proof])
        return [SubmitTransaction(self.sign("contract.call", call)), Metric("oracle.fallback", 1.0)]

    def _elected(self, term: int, picked: tuple[str, list[ElectionProof]], now: float) -> list[Effect]:
        self.masters[term] = picked
        effects: list[Effect] = []
        for state in self.requests.values():
            if state.request.term == term and state.master is None:
                effects += self._progress(state, now)
        return effects

    def _certified(self, term: int, master: str, election: list[ElectionProof]) -> bool | None:
        """Whether ``election`` proves ``master`` elected for ``term`` by the proxy's own rule; None
        while a fallback master's board has not decided in this node's view of the chain."""
        if not election:
            return None if term not in self.fallbacks else self.fallbacks[term] == master
        if (term, master) in self.certified:
            return True
        picked = self.masters.get(term)
        if picked is None or picked[0] != master or not picked[1]:  # not our own (verified) choice
            seed = self.seeds.get(term)
            try:
                error = certificate_error(master, election, term, len(self.vrf_keys), self.threshold,
                                          seed if seed is not None else b"", self.vrf_keys.get)
            except Exception:  # noqa: BLE001 -- malformed input fails the check, never the node
                return False
            if error is not None or seed is None:
                return False
        if len(self.certified) >= self.CERTIFIED:
            del self.certified[next(iter(self.certified))]
        self.certified[(term, master)] = None
        return True
