"""Pedal's data oracle as real processes on 127.0.0.1 (issue 7, "in deployment").

4 PBFT validators, one group of 4 oracle nodes (t = 3; o0 reads through a lying gateway, o3
through a source 1 s late) whose key the members generate on chain, a requester and an
observation node, each its own OS process talking HTTP. A request filed on chain gets a
threshold-signed callback the proxy verified, its value an honest reading (the median cannot
be moved by the liar), a fulfillment replayed by its master is refused by the proxy, and the
observation node answers queries about all of it.
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pytest

from edgeledger.codec import decode, encode
from edgeledger.crypto.bls import bls_verify
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger.contracts import StateEntry
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.oracle.aggregation import lower_median
from edgeledger.oracle.records import OracleFulfill, result_message
from edgeledger.cli import main
from edgeledger.deploy.cluster import Cluster, spawn, stop_cluster
from edgeledger.deploy.oracle_cluster import (
    file_oracle_request, oracle_requests, oracle_status, query_observer, wait_callbacks,
)
from edgeledger.deploy.oracle_plan import PROXY, build_source
from tests.deploy.conftest import get, send, wait_for

@pytest.fixture(scope="module")
def network(tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("oracle"))
    try:  # the user's way in: `edgeledger oracle up --detach` (returns once the setup is on chain)
        main(["oracle", "up", "--dir", str(root), "--validators", "4", "--group-size", "4", "--lying", "1",
              "--slow", "1", "--slow-delay", "1.0", "--detach"])
        cluster = Cluster.load(root)
        yield cluster
    finally:
        if (root / "cluster.json").exists():
            cluster = Cluster.load(root)
            stop_cluster(cluster)
            for label, info in cluster.processes.items():  # keep the logs visible when a test failed
                log = Path(str(info["log"]))
                if log.exists() and "Traceback" in log.read_text():
                    print(f"--- {label} log ---\n{log.read_text()[-3000:]}")


def cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def _plan(cluster):
    from edgeledger.deploy.oracle_plan import PLAN_FILE, load_plan

    return load_plan(cluster.root / PLAN_FILE)


def _fulfillments(url: str) -> dict[str, tuple[Transaction, dict]]:
    """request id -> (the accepted oracle.fulfill transaction, its JSON view with the receipt) on
    ``url``'s chain; a second master's duplicate, refused as "not pending", is not the fulfillment."""
    out = {}
    height = get(f"{url}/v1/head")[1]["height"]
    for h in range(1, height + 1):
        for entry in get(f"{url}/v1/blocks/{h}")[1]["transactions"]:
            if entry["kind"] == "oracle.fulfill" and entry["receipt"]["ok"]:
                tx = decode(bytes.fromhex(entry["encoded"]), Transaction)
                out[decode(tx.payload, OracleFulfill).fulfillment.request_id] = (tx, entry)
    return out


def test_request_gets_a_threshold_signed_callback_with_an_honest_median(network):
    plan = _plan(network)
    tx_ids = [file_oracle_request(network, "boiler") for _ in range(2)]
    done = wait_callbacks(network, tx_ids, timeout=30)
    v1 = network.processes["v1"]["url"]
    group = query_observer(network, "/v1/query/oracle/groups/g0")  # made on chain: nobody dealt it
    members, key = group["members"], bytes.fromhex(group["key"])
    assert members == plan.groups[0].members and group["threshold"] == 3 and plan.groups[0].commitments == []
    assert group["key_generation"]["status"] == "done" and group["key_generation"]["excluded"] == []
    for r in done:
        rid, value = r["request_id"], r["value_milli"]
        readings = {o: build_source(plan.sources[o], plan.sensor_seed).read("boiler", o, rid, r["sensor_timestamp_ms"])
                    .value_milli for o in members}
        honest = [readings[o] for o in members if plan.sources[o].kind != "lying"]
        liar = next(readings[o] for o in members if plan.sources[o].kind == "lying")
        assert value in honest and min(honest) <= value <= max(honest), (value, readings)
        # exactly Pedal's aggregate: the lower median of t = 3 of the group's 4 signed readings
        assert value in {lower_median(list(s)) for s in combinations(readings.values(), 3)}
        assert abs(value - liar) > 50_000  # the lying gateway reports ~3x + 100 units: it did not get through
        assert 0 < r["latency_s"] < 20
        # the callback came with the proxy's checks passed: the request left the queue, is marked done
        assert get(f"{v1}/v1/state/cs/{PROXY}/pending/{rid}")[0] == 404
        assert r["fulfilled_at_height"] >= 1
    def all_fulfilled():
        f = _fulfillments(v1)
        return f if all(r["request_id"] in f for r in done) else None

    found = wait_for(all_fulfilled, 10, "the fulfillments on v1's chain")
    for r in done:
        tx, entry = found[r["request_id"]]
        f = decode(tx.payload, OracleFulfill).fulfillment
        assert entry["receipt"]["ok"], entry["receipt"]
        assert f.group_public_key == key and f.master == tx.sender and f.master in members
        message = result_message(plan.chain_id, PROXY, f.request_id, f.result)
        assert bls_verify(f.group_public_key, message, f.signature)  # one group signature: >= t shares combined
        assert not bls_verify(f.group_public_key, message + b"x", f.signature)
        assert decode(f.result, int) == r["value_milli"]


def test_a_replayed_fulfillment_is_refused_by_the_proxy(network):
    tx_id = file_oracle_request(network, "turbine")
    (r,) = wait_callbacks(network, [tx_id], timeout=30)
    v0 = network.processes["v0"]["url"]
    original, _ = wait_for(lambda: _fulfillments(v0).get(r["request_id"]), 10, "the fulfillment on v0's chain")
    # the same signed transaction again: refused at the door (its nonce is used)
    status, body = send(f"{v0}/v1/tx", encode(original))
    assert status == 409 and "already used" in body["error"], (status, body)
    # the master re-signs the same fulfillment with a fresh nonce: it reaches the proxy, which refuses it
    master_key = derive_key("ed25519", (network.root / original.sender / "identity.seed").read_bytes())
    replay = make_transaction(master_key, original.sender, original.nonce + 10**6, original.kind,
                              decode(original.payload, OracleFulfill))
    status, body = send(f"{v0}/v1/tx", encode(replay))
    assert status == 202, body
    found = wait_for(lambda: (x := get(f"{v0}/v1/tx/{replay.tx_id.hex()}"))[0] == 200 and x[1], 15,
                     "the replayed fulfillment to be ordered")
    assert found["receipt"]["ok"] is False
    assert "replay refused" in found["receipt"]["reason"], found["receipt"]
    # the application was called back once per request, never for the replay
    status, entry = get(f"{v0}/v1/state/cs/feed/count")
    assert status == 200
    delivered = decode(decode(bytes.fromhex(entry["value_hex"]), StateEntry).value, int)
    assert delivered == len([q for q in oracle_requests(network) if q["called_back_at"] is not None])


def test_the_cli_files_a_request_and_shows_the_network(network, capsys):
    code, out, err = cli(capsys, "oracle", "request", "--dir", str(network.root), "--sensor", "press", "--wait", "30")
    assert code == 0, err
    assert re.search(r"oracle#\d+ +│ +\d+\.\d{3} +│ +\d+\.\d{3} +│ +\d+", out), out  # id, value, latency, height
    code, out, err = cli(capsys, "oracle", "status", "--dir", str(network.root))
    assert code == 0, err
    for member in ("v0", "v3", "o0", "o3", "requester"):
        assert member in out
    assert "True" in out and "down" not in out
    # every process serves the live dashboard too: the oracle node's shows the whole network
    status, overview = get(f"{network.processes['o1']['url']}/observe/api/overview")
    assert status == 200 and overview["node"] == "o1" and overview["height"] >= 4
    assert {n["id"]: n["role"] for n in overview["nodes"]}["requester"] == "device"
    assert overview["leader"] == "v0"


def test_the_cli_refuses_bad_input_with_one_line_and_exit_2(tmp_path, capsys):
    code, out, err = cli(capsys, "oracle", "up", "--dir", str(tmp_path / "x"), "--group-size", "3", "--lying", "2",
                         "--slow", "2")
    assert code == 2 and err.strip() == "ConfigError: lying (2) + slow (2) sources exceed the group size 3", err
    assert not (tmp_path / "x" / "cluster.json").exists()
    code, out, err = cli(capsys, "oracle", "request", "--dir", str(tmp_path / "none"))
    assert code == 2 and err.startswith("ConfigError: no running cluster"), err


def test_the_requester_refuses_bad_requests_with_json_errors(network):
    url = f"{network.processes['requester']['url']}/v1/oracle/requests"
    headers = {"Content-Type": "application/json"}
    before = len(oracle_requests(network))
    for body in (b"not json", b'["boiler"]', b'{"sensor": "", "ttl_blocks": 5}', b'{"sensor": "x", "ttl_blocks": 0}',
                 b'{"sensor": "x", "ttl_blocks": true}', b'{"sensor": 7}'):
        status, reply = send(url, body, headers=headers)
        assert status == 400 and "error" in reply, (body, status, reply)
    assert len(oracle_requests(network)) == before  # nothing was filed
    status, health = get(f"{network.processes['requester']['url']}/v1/health")
    assert status == 200


def test_a_restarted_oracle_node_learns_the_term_from_the_chain(network):
    (first,) = wait_callbacks(network, [file_oracle_request(network)], timeout=30)
    status = oracle_status(network)
    master = next(n for n, s in status.items() if first["request_id"] in s.get("fulfilled_as_master", []))
    term = next(iter(status[master]["masters"]))
    victim = next(o for o in ("o1", "o2", "o0") if o != master)
    info = network.processes[victim]
    auth = {"Authorization": f"Bearer {network.token}"}
    assert send(f"{info['url']}/v1/admin/shutdown", b"", headers=auth)[0] == 202
    wait_for(lambda: get(f"{info['url']}/v1/health", timeout=1)[0] == 0, 15, f"{victim} to stop")
    # t = 3 of the 3 members left (the slow one included): requests are still served while it is down
    wait_callbacks(network, [file_oracle_request(network)], timeout=30)
    port = str(info["url"]).rsplit(":", 1)[1]
    p = spawn(["oracle", "node", "--id", victim, "--plan", str(network.root / "oracle-plan.json"), "--center",
                network.center, "--data-dir", str(network.root / victim), "--listen", f"127.0.0.1:{port}",
                "--admin-token", network.token], network.root / f"{victim}.log")
    network.processes[victim]["pid"] = p.pid
    network.save()  # so that the fixture stops the new process too
    wait_for(lambda: get(f"{info['url']}/v1/oracle/status", timeout=1)[1].get("ready"), 30, f"{victim} to resume")
    (after,) = wait_callbacks(network, [file_oracle_request(network)], timeout=30)
    # resumed from SQLite, caught up, and took the term's master from the accepted certificates on chain
    resumed = wait_for(lambda: (s := get(f"{info['url']}/v1/oracle/status")[1]).get("masters", {}).get(term) and s,
                       15, f"{victim} to learn the master of term {term}")
    assert resumed["masters"][term] == master
    assert resumed["height"] >= after["fulfilled_at_height"]


def test_the_observation_node_answers_queries_about_requests_terms_and_groups(network):
    (r,) = wait_callbacks(network, [file_oracle_request(network, "mixer")], timeout=30)
    overview = query_observer(network, "/v1/query/oracle")
    assert overview["oracle_nodes"] == ["o0", "o1", "o2", "o3"] and overview["chain_time_ms"] > 0
    row = query_observer(network, "/v1/query/oracle/requests/" + r["request_id"].replace("#", "%23"))
    assert row["status"] == "fulfilled" and row["source"] == "mixer" and row["master"] in row["workers"] + ["o0"]
    assert sorted(row["workers"]) == ["o0", "o1", "o2", "o3"]  # k = the group's size, of 4 registered nodes
    term = query_observer(network, f"/v1/query/oracle/terms/{row['term']}")
    assert term["seed"] == row["seed"] and term["master_output"] is not None
    listed = query_observer(network, "/v1/query/oracle/requests?status=fulfilled&limit=2")["requests"]
    assert 1 <= len(listed) <= 2 and all(x["status"] == "fulfilled" for x in listed)
    url = next(str(i["url"]) for i in network.processes.values() if i["role"] == "observer")
    assert get(f"{url}/v1/query/oracle/requests/oracle%23999")[0] == 404
    assert get(f"{url}/v1/query/oracle/terms/x")[0] == 400
    assert get(f"{url}/v1/query/oracle/requests?limit=0")[0] == 400
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as exc:  # observation nodes answer queries, sealers do not
        urllib.request.urlopen(f"{network.processes['v0']['url']}/v1/query/oracle", timeout=5)
    assert exc.value.code == 404
