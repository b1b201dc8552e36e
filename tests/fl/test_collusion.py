"""The colluding adversary of an FL round: waits for the round's benign updates, crafts once."""

from __future__ import annotations

import numpy as np

from edgeledger.fl.attacks import Alie, Ipm
from edgeledger.fl.attacks.alie import alie_z_max
from edgeledger.fl.round.collusion import Coalition

START = np.zeros(3, np.float32)
PARTICIPANTS = ("d0", "d1", "d2", "d3", "d4")  # d3, d4 collude


def coalition(attack=None, patience_s: float = 5.0) -> Coalition:
    return Coalition(attack or Ipm(epsilon=1.0), {"d3", "d4"}, np.random.default_rng(0), patience_s=patience_s)


def test_the_crafted_update_waits_for_every_benign_participant_then_is_one_per_round() -> None:
    c = coalition()
    c.enlist(1, "d3", np.full(3, 9.0, np.float32), START, PARTICIPANTS, now=1.0)
    c.observe(1, "d0", np.array([1.0, 0.0, 0.0], np.float32))
    c.observe(1, "d1", np.array([3.0, 0.0, 0.0], np.float32))
    assert c.crafted(1, now=1.1) is None  # d2 has not trained yet
    c.observe(1, "d2", np.array([2.0, 3.0, 0.0], np.float32))
    first = c.crafted(1, now=1.2)
    assert np.allclose(first, [-2.0, -1.0, 0.0])  # -(mean of the three benign updates)
    c.enlist(1, "d4", np.full(3, 7.0, np.float32), START, PARTICIPANTS, now=1.3)
    c.observe(1, "d0", np.full(3, 100.0, np.float32))  # too late: the round's model is made
    assert c.crafted(1, now=1.3) is first  # the same object for every colluder
    view = c.rounds[1].view
    assert (view.n_clients, view.n_malicious, len(view.benign)) == (5, 2, 3)


def test_the_round_counts_are_the_participants_and_the_colluders_among_them() -> None:
    c = coalition(Alie())
    few = ("d0", "d1", "d3")  # d4 was not chosen this round
    c.enlist(2, "d3", np.ones(3, np.float32), START, few, now=0.0)
    for i, d in enumerate(("d0", "d1")):
        c.observe(2, d, np.full(3, float(i), np.float32))
    crafted = c.crafted(2, now=0.0)
    benign = np.array([[0.0] * 3, [1.0] * 3])
    assert (c.rounds[2].view.n_clients, c.rounds[2].view.n_malicious) == (3, 1)
    assert np.allclose(crafted, benign.mean(0) - alie_z_max(3, 1) * benign.std(0))


def test_benign_updates_seen_before_any_colluder_enlisted_count() -> None:
    c = coalition()
    c.observe(1, "d0", np.full(3, 2.0, np.float32))
    c.observe(1, "d1", np.full(3, 2.0, np.float32))
    c.observe(1, "d2", np.full(3, 2.0, np.float32))
    c.enlist(1, "d3", np.zeros(3, np.float32), START, PARTICIPANTS, now=0.0)
    assert np.allclose(c.crafted(1, now=0.0), -2.0)


def test_without_every_benign_update_the_coalition_crafts_after_its_patience() -> None:
    c = coalition(patience_s=2.0)
    c.enlist(1, "d3", np.full(3, 4.0, np.float32), START, PARTICIPANTS, now=10.0)
    c.enlist(1, "d4", np.full(3, 2.0, np.float32), START, PARTICIPANTS, now=10.5)
    assert c.crafted(1, now=11.9) is None
    assert np.allclose(c.crafted(1, now=12.0), -3.0)  # no benign update seen: the colluders' own mean
    c2 = coalition(patience_s=2.0)
    c2.enlist(1, "d3", np.full(3, 4.0, np.float32), START, PARTICIPANTS, now=0.0)
    c2.observe(1, "d0", np.full(3, 1.0, np.float32))
    assert np.allclose(c2.crafted(1, now=2.0), -1.0)  # what was seen of the benign ones wins


def test_members_are_never_observed_and_rounds_before_the_start_are_left_alone() -> None:
    c = Coalition(Ipm(), {"d3"}, np.random.default_rng(0), patience_s=1.0, start_round=3)
    assert not c.active(2) and c.active(3)
    c.observe(3, "d3", np.ones(3, np.float32))
    c.observe(2, "d0", np.ones(3, np.float32))
    assert c._seen == {}
