"""FBFL's architecture: edge servers train on their devices' raw data, and the consensus winner
(the PoW miner, the PBFT primary) aggregates each round into the block it proposes."""

import numpy as np
import pytest

from edgeledger.codec import decode
from edgeledger.crypto.keys import derive_key
from edgeledger.errors import SignatureError
from edgeledger.fl.round.edge_training import data_upload, read_data_upload
from edgeledger.fl.round.events import KIND_WINNER_CLOSE, KIND_WINNER_OPEN, RoundClose, RoundOpen
from edgeledger.fl.round.verify import verify_announcement
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.ledger.identity import Genesis, Identity, Membership
from edgeledger.ledger.state import LedgerState
from edgeledger.ledger.transaction import make_transaction
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import parse_scenario
from edgeledger.errors import DecodeError
from edgeledger.fl.datasets import load_dataset


def scenario(trainers="edge", aggregation="consensus_winner", protocol="pow", **fl):
    return parse_scenario({
        "seed": 3, "topology": {"edges": 4, "devices_per_edge": 2,
                                "validators": ["edge"] if protocol == "pow" else ["cloud", "edge"]},
        "consensus": {"protocol": protocol},
        "fl": {"rounds": 3, "clients_per_round": 4 if trainers == "edge" else 6, "trainers": trainers,
               "aggregation": aggregation, "local_epochs": 1, "aggregator": "fedavg", **fl},
        "output": {"plots": False}})


PROGRESS: list[dict] = []  # what the runner's progress callback heard during pow_run


@pytest.fixture(scope="module")
def pow_run():
    return run_scenario(scenario(), progress=PROGRESS.append)


def round_txs(run, kind):
    return [(b, tx) for b in run.network.nodes["cloud"].store.blocks() for tx in b.transactions if tx.kind == kind]


def test_devices_upload_raw_data_over_their_links_and_edges_train_every_round(pow_run):
    net, sim = pow_run.network, pow_run.sim
    s = pow_run.summary
    assert s["rounds_completed"] == 3 and s["final_accuracy"] > 0.6 and not s["rejections_by_kind"]
    train, _ = load_dataset("digits")
    sent = {d: sim.traffic[d].bytes_by_type["fl.data"] for d in net.population.ids}
    assert all(sent.values())  # every device sent its data once, over its own link
    per_sample = 4 * int(np.prod(train.x.shape[1:])) + 8  # float32 pixels and an int64 label
    assert sum(sent.values()) >= per_sample * len(train)  # the whole training set crossed the links
    for edge in net.infrastructure:
        if edge.startswith("edge-"):
            assert sim.traffic[edge].bytes_received >= sum(sim.traffic[d].bytes_by_type["fl.data"]
                                                           for d in net.population.ids
                                                           if net.edge_of[d] == edge)
    for _, tx in round_txs(pow_run, "fl.update"):
        assert tx.sender.startswith("edge-")  # the trainers are the edge servers
    opens = [decode(tx.payload, RoundOpen) for _, tx in round_txs(pow_run, KIND_WINNER_OPEN)]
    assert [o.participants for o in opens] == [[f"edge-{i}" for i in range(4)]] * 3


def test_the_block_winner_aggregates_and_its_block_carries_the_result(pow_run):
    closes = round_txs(pow_run, KIND_WINNER_CLOSE)
    assert len(closes) == 3
    for block, tx in closes:
        assert tx.sender == block.header.proposer  # the miner of that very block
        body = decode(tx.payload, RoundClose)
        assert len(body.contributors) == 4
    assert [b.header.proposer for b, _ in closes] == pow_run.network.aggregator.winners
    # the chain names each round's global model; the next round starts from it
    opens = [decode(tx.payload, RoundOpen) for _, tx in round_txs(pow_run, KIND_WINNER_OPEN)]
    assert [o.global_digest for o in opens[1:]] == [decode(tx.payload, RoundClose).global_digest
                                                     for _, tx in closes[:2]]


def test_pbft_primary_aggregates_and_the_result_matches_the_pow_run(pow_run):
    pbft = run_scenario(scenario(protocol="pbft"))
    assert pbft.summary["accuracy_per_round"] == pow_run.summary["accuracy_per_round"]  # same updates, same rule
    for block, tx in round_txs(pbft, KIND_WINNER_CLOSE):
        assert tx.sender == block.header.proposer == "cloud"  # the stable primary of view 0


def test_same_seed_same_chain_under_winner_aggregation(pow_run):
    again = run_scenario(scenario())
    assert again.summary["head_hash"] == pow_run.summary["head_hash"]


def test_device_trainers_with_winner_aggregation_relay_through_edges():
    run = run_scenario(scenario(trainers="device", protocol="pbft"))
    assert run.summary["rounds_completed"] == 3 and not run.summary["rejections_by_kind"]
    senders = {tx.sender for _, tx in round_txs(run, "fl.update")}
    assert senders and all(s.startswith("device-") for s in senders)


def _chain(validators=("v0", "v1"), others=("cloud", "e0")):
    keys = {n: derive_key("ed25519", n.encode()) for n in (*validators, *others)}
    roles = {"v0": "edge", "v1": "edge", "cloud": "cloud", "e0": "edge"}
    genesis = Genesis(chain_id="c", validators=list(validators), identities=[
        Identity(node_id=n, role=roles[n], scheme="ed25519", public_key=k.public_key) for n, k in keys.items()])
    return keys, Membership(genesis)


def _block(height, proposer, txs):
    header = BlockHeader(chain_id="c", height=height, prev_hash=b"\0" * 32, tx_root=transactions_root(txs),
                         tx_count=len(txs), proposer=proposer, timestamp_ms=0)
    return Block(header=header, transactions=txs)


def test_chain_rules_accept_winner_rounds_only_from_the_block_proposer_and_one_mode_per_chain():
    keys, membership = _chain()
    state = LedgerState(membership)
    body = RoundOpen(round=1, global_digest=b"d" * 32, global_size=1, participants=["e0"])
    by_v1 = make_transaction(keys["v1"], "v1", 2, KIND_WINNER_OPEN, body)
    (receipt,) = state.apply_block(_block(1, "v0", [by_v1]))
    assert not receipt.ok and "only the proposer" in receipt.reason  # v1 did not win block 1
    by_cloud = make_transaction(keys["cloud"], "cloud", 1, KIND_WINNER_OPEN, body)
    (receipt,) = state.apply_block(_block(2, "cloud", [by_cloud]))
    assert not receipt.ok  # the cloud proposed nothing: it is no validator here
    (receipt,) = state.apply_block(_block(3, "v1", [by_v1]))
    assert receipt.ok and state.kv["fl/mode"] == b"winner"
    close = make_transaction(keys["cloud"], "cloud", 2, "fl.round_close",
                             RoundClose(round=1, global_digest=b"e" * 32, contributors=[], rejected=0, accuracy_bp=0))
    (receipt,) = state.apply_block(_block(4, "v0", [close]))
    assert not receipt.ok and "consensus winner" in receipt.reason  # the chain runs one mode


def test_a_device_refuses_a_winner_open_not_sent_by_the_block_proposer():
    from edgeledger.crypto.merkle import merkle_proof
    from edgeledger.codec import encode
    from edgeledger.fl.round.events import ModelAnnouncement
    from edgeledger.ledger.validation import Finality

    keys, membership = _chain()
    model = b"model"
    from edgeledger.crypto.hashing import sha256

    tx = make_transaction(keys["v1"], "v1", 2, KIND_WINNER_OPEN,
                          RoundOpen(round=1, global_digest=sha256(model), global_size=5, participants=["e0"]))

    class Trusting(Finality):  # finality is checked elsewhere; this test is about who sent the open
        def verify(self, *args, **kwargs):
            return None

    for proposer, ok in (("v1", True), ("v0", False)):
        block = _block(1, proposer, [tx])
        msg = ModelAnnouncement(header=block.header, certificate=None, open_tx=tx,
                                proof=merkle_proof([encode(tx)], 0), model=model)
        if ok:
            assert verify_announcement(msg, membership, finality=Trusting()).round == 1
        else:
            with pytest.raises(SignatureError, match="block winner"):
                verify_announcement(msg, membership, finality=Trusting())


def test_data_uploads_round_trip_and_malformed_ones_are_refused():
    from edgeledger.fl.datasets import Dataset

    data = Dataset(x=np.arange(2 * 4, dtype=np.float32).reshape(2, 1, 2, 2), y=np.array([0, 2]), n_classes=3, name="t")
    msg = data_upload(data)
    back = read_data_upload(msg, (1, 2, 2), 3, "t")
    assert np.array_equal(back.x, data.x) and np.array_equal(back.y, data.y)
    with pytest.raises(DecodeError, match="expected"):
        read_data_upload(msg, (1, 3, 3), 3, "t")
    bad = type(msg)(shape=msg.shape, n_classes=3, x=msg.x[:-4], y=msg.y)
    with pytest.raises(DecodeError, match="whole samples"):
        read_data_upload(bad, (1, 2, 2), 3, "t")
    wrong = type(msg)(shape=msg.shape, n_classes=3, x=msg.x, y=np.array([0, 7], dtype=np.int64).tobytes())
    with pytest.raises(DecodeError, match="labels"):
        read_data_upload(wrong, (1, 2, 2), 3, "t")


def test_model_attacks_target_the_trainers_and_data_attacks_the_devices():
    from edgeledger.scenario.topology import plan_topology

    sc = parse_scenario({"topology": {"edges": 4, "devices_per_edge": 2},
                         "fl": {"trainers": "edge", "clients_per_round": 4},
                         "attacks": [{"kind": "sign_flip", "fraction": 0.5},
                                     {"kind": "backdoor", "fraction": 0.25}]})
    plan = plan_topology(sc)
    flips = [n for n, k in plan.malicious.items() if k == "sign_flip"]
    backdoors = [n for n, k in plan.malicious.items() if k == "backdoor"]
    assert len(flips) == 2 and all(n.startswith("edge-") for n in flips)  # half of the 4 trainers
    assert len(backdoors) == 2 and all(n.startswith("device-") for n in backdoors)  # a quarter of the 8 devices


def test_every_reader_of_a_run_finds_the_winners_round_scores(pow_run, tmp_path):
    """Under winner aggregation the cloud reports no round: progress, the Python API's rounds,
    the dashboard over a results folder and an experiment's merge read each round's closer."""
    import edgeledger as el
    from edgeledger.fl.round.reporting import round_closers
    from edgeledger.scenario.results import write_results
    from edgeledger.web.observe_pages import render_index
    from edgeledger.web.observe_sources import RunSource

    accuracy = pow_run.summary["accuracy_per_round"]
    assert [(p["round"], p["accuracy"]) for p in PROGRESS] == list(enumerate(accuracy, 1))
    write_results(pow_run, tmp_path / "run")
    back = el.load_results(tmp_path / "run")
    closers = round_closers(zip(back.metrics.node, back.metrics["round"], back.metrics.metric))
    assert list(closers.values()) == pow_run.network.aggregator.winners and "cloud" not in closers.values()
    assert list(back.rounds.index) == [1, 2, 3] and list(back.rounds["accuracy"]) == accuracy
    assert "train_loss" not in back.rounds  # the winner also trains: that is not the round's figure
    assert list(back.rounds["updates_accepted"]) == [4.0, 4.0, 4.0]
    source = RunSource(tmp_path / "run")
    assert source.accuracy == list(enumerate(accuracy, 1))
    assert [r["accuracy"] for r in source.series()["rounds"]] == accuracy
    blocks = source.blocks(5)  # PoW blocks have no commit certificate: the dashboard lists them all the same
    assert len(blocks) == 5 and {b["signers"] for b in blocks} == {0}
    overview = source.overview()  # a PoW chain has no leader: the card shows the newest block's miner
    assert overview["protocol"] == "pow" and overview["leader"] == source.blocks(1)[0]["proposer"]
    page = render_index(source)
    assert "last miner<b id=leader>" in page and "PBFT view" not in page


def test_merge_reads_an_interrupted_experiment_run_on_fbfls_architecture(tmp_path):
    from edgeledger.scenario.experiment_run import merge_runs, run_experiment
    from edgeledger.scenario.experiments import find_experiment

    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "base.toml").write_text(
        'name = "w"\nseed = 3\n[topology]\nedges = 4\ndevices_per_edge = 1\nvalidators = ["edge"]\n'
        '[consensus]\nprotocol = "pow"\n[fl]\nrounds = 2\nclients_per_round = 4\nlocal_epochs = 1\n'
        'trainers = "edge"\naggregation = "consensus_winner"\n')
    (tmp_path / "set" / "w.toml").write_text(
        '[experiment]\nname = "w"\nbase = "base.toml"\n[[experiment.axes]]\nname = "rule"\n'
        'values = [{ label = "fedavg", set = [\'fl.aggregator="fedavg"\'] }]\n')
    exp = find_experiment("w", tmp_path)
    done = run_experiment(exp, tmp_path / "out")
    (tmp_path / "out" / "summary.json").unlink()  # cut off before the summary: merge reads metrics.csv
    merged = merge_runs([tmp_path / "out"], tmp_path / "merged", tmp_path)
    assert merged.settings[0].accuracy == done.settings[0].accuracy and len(done.settings[0].accuracy) == 2
