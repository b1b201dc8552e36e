"""Robust aggregators and data attacks wired through a scenario, at reduced size."""

import tomllib
from importlib import resources

import numpy as np
import pytest
import torch

from edgeledger.errors import ConfigError
from edgeledger.fl.round import derive_seed
from edgeledger.scenario.assembly import build_network
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario

torch.set_num_threads(1)  # tiny models on a shared 2-core box (see tests/fl/conftest.py)


def demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, ["fl.rounds=3", *sets]))


def test_krum_learns_despite_two_sign_flipping_devices():
    result = run_scenario(demo('fl.aggregator="krum"', "fl.aggregator_params={f=2}"))
    acc = result.summary["accuracy_per_round"]
    assert result.summary["rounds_completed"] == 3 and result.summary["updates_rejected"] == 0
    assert acc[-1] > 0.75 and acc[-1] > acc[0]


def test_label_flipping_and_backdoor_devices_train_on_poisoned_data_and_the_cloud_reports_asr():
    attacks = ('attacks=[{kind="label_flip", nodes=["device-0", "device-5"]}, '
               '{kind="backdoor", nodes=["device-9"], params={target=0, fraction=0.5}}]')
    result = run_scenario(demo('fl.aggregator="fedavg"', "fl.aggregator_params={}", attacks))
    net = result.network
    clean = build_network(demo("attacks=[]")).learners
    assert (net.learners["device-0"].train_data.y == 9 - clean["device-0"].train_data.y).all()
    assert (net.learners["device-1"].train_data.y == clean["device-1"].train_data.y).all()
    assert net.device_cores["device-0"].attack is None  # a data attack, not a model attack
    assert result.summary["final_accuracy"] > 0.75
    history = net.aggregator.history
    assert all(0.0 <= h["backdoor_asr"] <= 1.0 for h in history)


def test_data_attack_poisoning_is_seeded_by_the_scenario():
    sets = 'attacks=[{kind="data_poisoning", nodes=["device-2"], params={mode="labels"}}]'
    first, again = build_network(demo(sets)), build_network(demo(sets))
    a, b = first.learners["device-2"].train_data, again.learners["device-2"].train_data
    assert (a.y == b.y).all()


def test_unknown_attack_kind_lists_data_attacks_too():
    with pytest.raises(ConfigError, match="label_flip"):
        build_network(demo('attacks=[{kind="label_flop", nodes=["device-0"]}]'))


def test_random_select_gets_a_seed_derived_from_the_scenario():
    net = build_network(demo('fl.aggregator="random_select"', "fl.aggregator_params={}"))
    assert net.aggregator.aggregator.seed == derive_seed(7, "aggregator")


def test_pedal_keeps_learning_when_a_quarter_upload_random_parameters():
    free_riders = 'attacks=[{kind="free_riding", fraction=0.25, params={mode="random"}}]'
    pedal = run_scenario(demo('fl.aggregator="pedal"', "fl.aggregator_params={}", free_riders))
    fedavg = run_scenario(demo('fl.aggregator="fedavg"', "fl.aggregator_params={}", free_riders))
    assert pedal.summary["final_accuracy"] > fedavg.summary["final_accuracy"] + 0.03
    assert pedal.summary["final_accuracy"] > 0.8


def test_proof_of_learning_refuses_a_claim_that_does_not_reproduce():
    from edgeledger.fl.learner import LocalResult
    from edgeledger.scenario import runner

    def forge(net):
        learner = net.learners["device-0"]
        honest = learner.train

        def lying_train(*args):
            result = honest(*args)
            return LocalResult(result.params, result.weight, result.loss, claimed_loss=0.0)  # "perfect" model

        learner.train = lying_train

    run = runner.run_scenario(demo('fl.aggregator="proof_of_learning"', "fl.aggregator_params={}", "attacks=[]"),
                              instrument=forge)
    claims = [r for r in run.rejections if r[3] == "fl.claim"]
    assert claims and all(r[2] == "device-0" and "claimed loss 0.000000" in r[4] for r in claims)
    assert run.summary["rounds_completed"] == 3 and run.summary["final_accuracy"] > 0.7


def test_alie_colluders_upload_one_crafted_model_per_round_from_that_rounds_benign_updates():
    """ALIE as published: the round's benign models, coordinate-wise mean and std, the round's n and m."""
    from edgeledger.codec import decode
    from edgeledger.fl.attacks.alie import alie_z_max
    from edgeledger.fl.params import params_from_bytes
    from edgeledger.fl.round import RoundOpen, UpdateRecord

    colluders = ["device-1", "device-3", "device-8"]
    result = run_scenario(demo("fl.rounds=3", "fl.clients_per_round=8",
                               f'attacks=[{{kind="alie", nodes={colluders}}}]'.replace("'", '"')))
    net = result.network
    assert result.summary["rounds_completed"] == 3
    blobs = net.nodes["cloud"].blobs
    opened, uploads = {}, {}
    for block in net.nodes["cloud"].store.blocks():
        for tx in block.transactions:
            if tx.kind == "fl.round_open":
                body = decode(tx.payload, RoundOpen)
                opened[body.round] = body.participants
            elif tx.kind == "fl.update":
                rec = decode(tx.payload, UpdateRecord)
                uploads.setdefault(rec.round, {})[tx.sender] = params_from_bytes(blobs.get(rec.update_digest))
    counts = []
    for rnd, participants in sorted(opened.items()):
        mine = [d for d in participants if d in colluders]
        benign = np.stack([uploads[rnd][d] for d in sorted(participants) if d not in colluders]).astype(np.float64)
        n, m = len(participants), len(mine)
        counts.append((n, m))
        expected = benign.mean(0) - alie_z_max(n, m) * benign.std(0)
        for d in mine:
            assert np.allclose(uploads[rnd][d], expected, atol=1e-5), (rnd, d)
        if mine:
            view = net.coalitions[0].rounds[rnd].view
            assert (view.n_clients, view.n_malicious) == (n, m)
        else:  # no colluder chosen: nothing crafted, nobody waits
            assert rnd not in net.coalitions[0].rounds
    assert all(n == 8 for n, _ in counts) and len({m for _, m in counts}) > 1, counts  # m is each round's own


def test_colluding_attacks_are_refused_where_there_is_no_coalition():
    from edgeledger.scenario.assembly import FLData, attach_fl_services, plan_topology

    scenario = demo('attacks=[{kind="ipm", nodes=["device-3"]}]')
    net = build_network(scenario)
    plan = plan_topology(scenario)
    with pytest.raises(ConfigError, match="ipm_local"):  # a node process has no coalition
        attach_fl_services(net.nodes["device-3"], plan, FLData(scenario, plan.devices))
