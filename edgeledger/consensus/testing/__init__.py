"""A Byzantine test engine for the consensus cores (part of the package, not of the tests).

- :mod:`.world`: a deterministic simulated network of PBFT replicas (Twins, scripted Byzantine
  strategies, loss, duplication, reordering, partitions, crashes with durable logs);
- :mod:`.invariants`: agreement, validity, no double vote, votes only in the replica's view and
  window, durable before sent, bounded logs, no crash, liveness after stabilisation;
- scenario families, each scenario named by an id that replays it exactly:
  :mod:`.twins` (``twins:<n>:<rounds>:<index>``, ``twins-random:<n>:<seed>``),
  :mod:`.scripted` (``strategy:<name>:<seed>``, ``mixed:<seed>``),
  :mod:`.random_schedules` (``random:<size>:<seed>``);
- :mod:`.campaign`: many scenarios, a progress bar, a corpus of failures that CI replays;
- :mod:`.mutants`: deliberate bugs that prove the campaign finds what it should.

    >>> from edgeledger.consensus.testing import run_scenario
    >>> run_scenario("twins:4:2:1234").ok
    True
"""

from __future__ import annotations

from edgeledger.consensus.testing import random_schedules, scripted, twins  # noqa: F401  (register families)
from edgeledger.consensus.testing.scenario import FAMILIES, Scenario, scenario_from_id
from edgeledger.consensus.testing.strategies import STRATEGIES
from edgeledger.consensus.testing.world import Outcome, World

__all__ = ["Scenario", "Outcome", "World", "run_scenario", "scenario_from_id", "FAMILIES", "STRATEGIES"]


def run_scenario(scenario: str | Scenario, trace: bool = False, durable_votes: bool = True) -> Outcome:
    """Run one scenario (an id or a :class:`Scenario`) and return what happened."""
    s = scenario_from_id(scenario) if isinstance(scenario, str) else scenario
    return World(s, trace=trace, durable_votes=durable_votes).run()
