"""The Byzantine test engine: its scenario space, that it has teeth, and a CI-sized campaign
plus every scenario that once failed (tests/consensus/corpus.txt)."""

import subprocess
import sys
from pathlib import Path

import pytest

from edgeledger.consensus.pbft.events import PrePrepare
from edgeledger.consensus.testing import STRATEGIES, World, run_scenario, scenario_from_id
from edgeledger.consensus.testing.campaign import PLANS, read_corpus, run_campaign, scenario_ids
from edgeledger.consensus.testing.mutants import MUTANTS, apply, package_root
from edgeledger.consensus.testing.twins import set_partitions, twins_space_size
from edgeledger.errors import ConfigError
from tests.conftest import run_cli

CORPUS = Path(__file__).with_name("corpus.txt")


def test_twins_partitions_are_every_split_into_at_most_two_groups_once():
    parts = set_partitions(("a", "b", "c", "d", "e"), 2)
    assert len(parts) == 16 and len(set(parts)) == 16  # S(5,1) + S(5,2) = 1 + 15
    assert all(sorted(x for g in p for x in g) == ["a", "b", "c", "d", "e"] for p in parts)
    assert len(set_partitions(tuple("abcdefghi"), 2)) == 256


def test_twins_space_is_enumerated_by_index_and_replays_exactly():
    assert twins_space_size(4, 2) == 4 * (4 * 16) ** 2 == 16384
    a, b = scenario_from_id("twins:4:2:777"), scenario_from_id("twins:4:2:777")
    assert a == b and len(a.twins) == 1 and len(a.round_partitions) == 2
    assert {scenario_from_id(f"twins:4:2:{i}").twins for i in range(4)} == {("v0",), ("v1",), ("v2",), ("v3",)}
    assert run_scenario("twins:4:2:777").violations == run_scenario("twins:4:2:777").violations


def test_twins_make_an_honest_node_equivocate():
    """Twin instances of one node, in different partitions, sign different blocks at one (view, height)."""
    proposals = {}
    for i in range(64):
        world = World(scenario_from_id(f"twins-random:4:{i}"))
        twin = world.scenario.twins[0]
        sent = []
        original = world.send

        def send(instance, to, message, sent=sent, original=original, twin=twin):
            if isinstance(message, PrePrepare) and message.replica == twin:
                sent.append((message.view, message.height, message.block.hash))
            original(instance, to, message)

        world.send = send
        assert world.run().ok
        for view, height, digest in sent:
            proposals.setdefault((i, view, height), set()).add(digest)
    assert any(len(d) > 1 for d in proposals.values())


def test_scenario_ids_that_are_wrong_say_what_is_expected():
    with pytest.raises(ConfigError, match="expected one of"):
        scenario_from_id("tweens:4:2:1")
    with pytest.raises(ConfigError, match="twins:<n>:<rounds>:<index>"):
        scenario_from_id("twins:4:2:99999999")
    with pytest.raises(ConfigError, match="strategy:<name>:<seed>"):
        scenario_from_id("strategy:nonsense:1")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_each_scripted_strategy_leaves_honest_replicas_safe(name):
    for seed in range(3):
        outcome = run_scenario(f"strategy:{name}:{seed}")
        assert outcome.ok, f"{outcome.violations}\nreplay: edgeledger consensus replay strategy:{name}:{seed}"


@pytest.mark.parametrize("scenario_id", read_corpus(CORPUS))
def test_pbft_replays_every_scenario_that_once_failed(scenario_id):
    outcome = run_scenario(scenario_id)
    assert outcome.ok, f"{outcome.violations}\nreplay: edgeledger consensus replay {scenario_id}"


def test_pbft_survives_a_ci_sized_byzantine_campaign():
    ids = scenario_ids(PLANS["ci"])
    report = run_campaign(ids, workers=1, progress=False)
    assert report.failures == []
    assert report.figures()["twins_scenarios"] >= 200 and report.figures()["schedules"] >= 150
    assert report.simulated_s > len(ids)  # the scenarios did run simulated time


def test_every_mutant_still_matches_the_source():
    for mutant in MUTANTS:
        for path, old, _ in mutant.edits:
            assert (package_root() / path).read_text().count(old) == 1, mutant.name
    assert len(MUTANTS) >= 10


def test_campaign_kills_the_reported_bug_reintroduced(tmp_path):
    """Put issue 16's bug back (a buffered proposal PREPAREd in a later view): the campaign must fail."""
    mutant = next(m for m in MUTANTS if m.name == "prepare-signed-with-current-view")
    root = apply(mutant, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "edgeledger.consensus.testing.campaign", "--quick", "--stop-on-first",
                           "--no-progress"], cwd=tmp_path, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '"violations": 1' in proc.stdout


def test_cli_replays_a_scenario_by_id_and_explains_a_bad_id_in_one_line(capsys):
    code, out, _ = run_cli(capsys, "consensus", "replay", "twins:4:2:1234", "--trace", "--last", "5")
    assert code == 0 and "twins=" in out and "no violations" in out
    assert any("->" in line or "commits height" in line for line in out.splitlines())  # the trace's last lines
    code, _, err = run_cli(capsys, "consensus", "replay", "twins:4:2")
    assert code == 2 and err.count("\n") == 1 and "twins:<n>:<rounds>:<index>" in err
    code, _, err = run_cli(capsys, "consensus", "campaign", "--plan", "huge")
    assert code == 2 and "expected one of" in err
