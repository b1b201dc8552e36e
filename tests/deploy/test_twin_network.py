"""The plant as real processes on 127.0.0.1 (``edgeledger twin up``): 4 validators, 3 edges (oracle
members and gateways), an observation node holding the storage layer and 3 device processes.

Readings reach the twins through the data oracle, the computing oracle trains the predictor, commands
reach the device processes over HTTP and come back as signed acknowledgements on chain, an intruder is
refused by the contract, and a batch rewritten in the store is found by the reader's audit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeledger.cli import main
from edgeledger.deploy.cluster import Cluster, stop_cluster
from tests.deploy.conftest import get, wait_for


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("twins"))
    try:
        # a fixed seed (the wear, the training histories) and a threshold under the default, so a maintenance
        # order opens within seconds whichever updates the Pedal master happened to aggregate first
        main(["twin", "up", "--dir", str(root), "--period", "0.5", "--seed", "7", "--risk-threshold", "0.4",
              "--detach"])
        yield Cluster.load(root)
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


def obs(cluster) -> str:
    return next(str(i["url"]) for i in cluster.processes.values() if i["role"] == "observer")


def twins(cluster) -> dict:
    code, body = get(f"{obs(cluster)}/v1/twins")
    return {t["id"]: t for e in body.get("edges", []) for t in e["twins"]} if code == 200 else {}


def test_machines_report_through_the_oracle_and_the_predictor_is_trained_on_chain(plant, capsys):
    wait_for(lambda: all((t["reading"] or {}).get("seq", 0) >= 3 for t in twins(plant).values()) and twins(plant),
             90, "three attested readings of every twin")
    wait_for(lambda: (get(f"{obs(plant)}/v1/twins")[1].get("model") or {}).get("round") == 3, 120,
             "three maintenance rounds on chain")
    wait_for(lambda: all(t["risk_milli"] >= 0 for t in twins(plant).values()), 30, "a risk on every twin")
    code, out, _ = cli(capsys, "twin", "list", "--dir", str(plant.root), "--json")
    listed = json.loads(out)
    assert code == 0 and listed["model"]["round"] == 3 and len([t for e in listed["edges"] for t in e["twins"]]) == 3
    import urllib.request

    with urllib.request.urlopen(f"{obs(plant)}/observe/twins", timeout=5) as resp:
        html = resp.read().decode()
    assert html.count("<article class=\"machine") == 3 and "/observe/twins/proof/" in html


def test_an_engineer_commands_a_device_process_and_its_signed_ack_is_on_chain(plant, capsys):
    code, out, err = cli(capsys, "twin", "command", "m2", "set_speed", "800", "--dir", str(plant.root))
    assert code == 0, err
    assert "acked" in out
    device = next(str(i["url"]) for n, i in plant.processes.items() if n == "dev-m2")
    assert get(f"{device}/v1/health")[1]["set_points"][0] == 800  # the actuator really applied it
    d = get(f"{obs(plant)}/v1/twins/m2")[1]
    acked = d["commands_log"][0]
    assert acked["status"] == "acked" and acked["attempts"][-1]["outcome"] == "acked"
    proof = get(f"{obs(plant)}/v1/twins/proofs/{acked['attempts'][-1]['tx']}")[1]
    assert proof["inclusion_verified"] and proof["certificate_verified"] and proof["payload"]["method"] == "ack"


def test_commands_to_a_lossy_and_a_slow_device_settle_within_the_retry_bound(plant, capsys):
    for twin in ("m0", "m1", "m0", "m1"):
        code, _, err = cli(capsys, "twin", "command", twin, "set_coolant", "1", "--dir", str(plant.root))
        assert code in (0, 1), err  # 1: the CLI gave up waiting; the status is checked below
    for twin in ("m0", "m1"):
        for c in get(f"{obs(plant)}/v1/twins/{twin}")[1]["commands_log"]:
            attempts = sorted(a["attempt"] for a in c["attempts"])
            # settled: applied (in time or late), refused by the device (a machine that has failed
            # refuses every command, with a signed ack), or failed after the retry bound
            assert c["status"] in ("acked", "acked-late", "refused", "failed") and max(attempts) <= 3
            assert attempts == list(range(1, len(attempts) + 1))


def test_the_contract_refuses_an_intruder_and_bad_input_is_one_line_exit_2(plant, capsys):
    code, _, err = cli(capsys, "twin", "command", "m1", "set_speed", "0", "--as", "intruder", "--dir", str(plant.root))
    assert code == 1 and err.startswith("CommandRefused:") and "'intruder' may not command twin 'm1'" in err
    for args, expected in ((["m7", "set_speed", "800"], "no such twin"), (["m1", "fly", "1"], "no such command"),
                           (["m1", "set_speed", "fast"], "not an integer"), (["m1", "set_speed", "9000"], "outside")):
        code, _, err = cli(capsys, "twin", "command", *args, "--dir", str(plant.root))
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_only_the_owner_closes_a_maintenance_order(plant, capsys):
    seen: dict[str, int] = {}

    def opened():
        for t in twins(plant).values():
            seen[t["id"]] = max(seen.get(t["id"], -1), t["risk_milli"])
        return get(f"{obs(plant)}/v1/twins/orders")[1].get("orders")

    try:
        wait_for(opened, 120, "a maintenance order")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the highest risk seen per twin (milli): {seen}") from None
    order = get(f"{obs(plant)}/v1/twins/orders")[1]["orders"][-1]
    owner = next(t["owner"] for t in twins(plant).values() if t["id"] == order["twin"])
    other = next(c for c in ("acme", "bolt", "cogs") if c != owner)
    code, _, err = cli(capsys, "twin", "close-order", str(order["id"]), "repaired", "--as", other, "--dir", str(plant.root))
    assert code == 1 and "only the owner company" in err
    code, out, err = cli(capsys, "twin", "close-order", str(order["id"]), "no-fault", "--as", owner, "--dir",
                         str(plant.root))
    assert code == 0 and f"order {order['id']} closed (no-fault)" in out, err
    closed = next(o for o in get(f"{obs(plant)}/v1/twins/orders")[1]["orders"] if o["id"] == order["id"])
    assert closed["status"] == "closed" and closed["outcome"] == "no-fault"


def test_the_storage_layer_keeps_every_attested_batch(plant):
    """Each reading request names its batch: the observation node holds no upload waiting for a name
    beyond those in flight (before the fix every batch waited, uploads were refused once 256 did and
    each was deleted when its window passed)."""
    import urllib.request

    wait_for(lambda: min(((t["reading"] or {}).get("seq", 0) for t in twins(plant).values()), default=0) >= 20, 90,
             "twenty readings of every twin")
    with urllib.request.urlopen(f"{obs(plant)}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    waiting = next(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("edgeledger_blob_uploads_waiting "))
    assert waiting <= 2 * len(twins(plant)), metrics  # at most a batch or two per twin between upload and commit
    assert 'outcome="too_many_unnamed"' not in metrics


def test_a_batch_rewritten_in_the_store_is_found_by_the_audit(plant, capsys):
    code, out, _ = cli(capsys, "twin", "audit", "m0", "--dir", str(plant.root))
    assert code == 0 and "0 problems" in out
    reading = get(f"{obs(plant)}/v1/twins/m0")[1]["readings"][-1]
    path = plant.root / "obs" / "blobs" / reading["digest"][:2] / reading["digest"]
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    code, out, _ = cli(capsys, "twin", "audit", "m0", "--dir", str(plant.root))
    assert code == 1 and f"seq {reading['seq']}: tampered" in out
