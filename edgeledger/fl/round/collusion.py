"""The colluding adversary of an FL round (sans-IO): one crafted update per round.

ALIE (Baruch et al., NeurIPS 2019) and IPM (Xie et al., UAI 2019) assume one adversary that
controls m of the n clients of a round and knows the benign clients' updates of that round
(the *omniscient* threat model). A :class:`Coalition` is that adversary:

- every benign device that trained in a round shows it its model (:meth:`observe`) -- the
  omniscient view; in the simulator this is a zero-latency side channel, modelled, not sent;
- every colluding device that trained puts its honest model aside (:meth:`enlist`) and asks,
  on a short timer, for the round's crafted model (:meth:`crafted`);
- once every benign participant of the round has been seen -- or ``patience_s`` after the
  first colluder enlisted, when some benign device never trains (a refused download) -- the
  coalition asks its :class:`~edgeledger.fl.attacks.base.ColludingAttack` for *one* model
  from a :class:`~edgeledger.fl.attacks.base.RoundView` with the round's real n (participants)
  and m (colluders among them), and every colluder of the round uploads it, signed with its
  own key, as its update.

No clock, no I/O: ``now`` comes in, the crafted rounds are cached, and the generator is
seeded from the scenario. The coalition lives in one process, so colluding attacks run in
the simulator; node processes refuse them (use ``alie_local`` / ``ipm_local`` there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeledger.fl.attacks.base import ColludingAttack, RoundView

__all__ = ["Coalition", "COLLUSION_TIMER"]

#: timer prefix of a colluding device waiting for its round's crafted update
COLLUSION_TIMER = "fl.collude:"


@dataclass
class _RoundState:
    participants: tuple[str, ...]
    global_params: np.ndarray  # (d,)
    first_enlisted: float
    benign: dict[str, np.ndarray] = field(default_factory=dict)  # device -> its uploaded model
    own: dict[str, np.ndarray] = field(default_factory=dict)  # colluder -> its honest model
    crafted: np.ndarray | None = None
    view: RoundView | None = None


class Coalition:
    """The adversary behind ``members``: sees benign updates, crafts one model per round."""

    def __init__(self, attack: ColludingAttack, members: set[str] | frozenset[str], rng: np.random.Generator,
                 patience_s: float, start_round: int = 1, poll_s: float = 0.01) -> None:
        self.attack, self.members, self.rng = attack, frozenset(members), rng
        self.patience_s, self.start_round, self.poll_s = patience_s, start_round, poll_s
        self.rounds: dict[int, _RoundState] = {}
        self._seen: dict[int, dict[str, np.ndarray]] = {}  # benign updates of rounds no colluder enlisted in yet

    def active(self, round_number: int) -> bool:
        return round_number >= self.start_round

    def observe(self, round_number: int, device: str, params: np.ndarray) -> None:
        """A benign device's update of ``round_number`` (the omniscient adversary sees it)."""
        if device in self.members or not self.active(round_number):
            return
        state = self.rounds.get(round_number)
        seen = state.benign if state is not None else self._seen.setdefault(round_number, {})
        if state is None or state.crafted is None:
            seen[device] = np.asarray(params, dtype=np.float32)

    def enlist(self, round_number: int, device: str, honest: np.ndarray, global_params: np.ndarray,
               participants: tuple[str, ...], now: float) -> None:
        """Colluder ``device`` trained honestly in ``round_number`` and now waits for the crafted model."""
        state = self.rounds.get(round_number)
        if state is None:
            state = self.rounds[round_number] = _RoundState(tuple(participants), np.asarray(global_params), now,
                                                            benign=self._seen.pop(round_number, {}))
            for old in [r for r in self.rounds if r < round_number - 2]:  # keep a few rounds, not all
                del self.rounds[old]
            for old in [r for r in self._seen if r < round_number]:
                del self._seen[old]
        state.own[device] = np.asarray(honest, dtype=np.float32)

    def crafted(self, round_number: int, now: float) -> np.ndarray | None:
        """The round's crafted model once it can be made (every benign participant seen, or out of
        patience); None while the coalition still waits."""
        state = self.rounds.get(round_number)
        if state is None:
            return None
        if state.crafted is None:
            benign_participants = [p for p in state.participants if p not in self.members]
            everyone = all(p in state.benign for p in benign_participants)
            if not everyone and now - state.first_enlisted < self.patience_s:
                return None
            state.view = self._view(round_number, state)
            state.crafted = np.asarray(self.attack.craft(state.view, self.rng), dtype=np.float32)
        return state.crafted

    def _view(self, round_number: int, state: _RoundState) -> RoundView:
        d = state.global_params.shape[0]
        benign = [state.benign[p] for p in sorted(state.benign) if p in state.participants]
        own = [state.own[p] for p in sorted(state.own)]
        return RoundView(round=round_number, global_params=state.global_params,
                         benign=np.stack(benign) if benign else np.zeros((0, d), np.float32),
                         own=np.stack(own) if own else np.zeros((0, d), np.float32),
                         n_clients=len(state.participants),
                         n_malicious=sum(1 for p in state.participants if p in self.members))
