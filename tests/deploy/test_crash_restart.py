"""kill -9 a validator mid-run: the others keep committing; restarted, it catches up (state transfer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import SETTINGS, get, launch, shut, wait_for

KV_SETTINGS = [s for s in SETTINGS if not s.startswith("attacks")] + [
    "fl.enabled=false", "attacks=[]", "consensus.view_change_timeout_s=1.0"]


def _head(url: str) -> dict:
    status, body = get(f"{url}/v1/head", timeout=2)
    return body if status == 200 else {}


def _load(cluster, keys, start: int, count: int) -> None:
    from edgeledger.codec import encode
    from edgeledger.ledger.kv import KVSet
    from edgeledger.ledger.transaction import make_transaction
    from tests.deploy.conftest import send

    urls = [cluster.processes[v]["url"] for v in ("edge-0", "edge-1")]
    for i in range(start, start + count):
        tx = make_transaction(keys["device-0"], "device-0", i, "kv.set", KVSet(key=f"k{i}", value=b"v"))
        send(f"{urls[i % 2]}/v1/tx", encode(tx))


def test_killed_validator_restarts_and_catches_up(tmp_path):
    """Runs over HTTPS with a cluster CA (edgeledger up --tls), so TLS is exercised end to end too."""
    from edgeledger.crypto.keys import derive_key
    from edgeledger.deploy.tls import client_context
    from tests.deploy.conftest import TLS_CONTEXT

    cluster = launch(tmp_path, KV_SETTINGS, tls=True)
    TLS_CONTEXT[:] = [client_context(tmp_path / "nodes" / "tls")]
    assert cluster.center.startswith("https://")
    try:
        root = Path(str(cluster.processes["device-0"]["log"])).parent
        wait_for(lambda: all(_head(cluster.processes[v]["url"]) for v in ("edge-0", "edge-1", "edge-2", "edge-3")),
                 60, "validators to serve")
        keys = {"device-0": derive_key("ed25519", (root / "device-0" / "identity.seed").read_bytes())}
        _load(cluster, keys, 1, 20)
        e0 = cluster.processes["edge-0"]["url"]
        wait_for(lambda: _head(e0).get("height", 0) >= 1, 30, "first commits")
        victim = cluster.processes["edge-2"]
        os.kill(int(victim["pid"]), signal.SIGKILL)
        os.waitpid(int(victim["pid"]), 0)
        before = _head(e0)["height"]
        _load(cluster, keys, 21, 30)  # the other 3 validators (2f+1) keep committing
        wait_for(lambda: _head(e0).get("height", 0) > before, 30, "commits without the killed validator")
        # restart with the same data directory and address
        port = str(victim["url"]).rsplit(":", 1)[1]
        log = open(root / "edge-2.restart.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "edgeledger", "node", "--role", "edge", "--center",
                                 cluster.center, "--data-dir", str(root / "edge-2"), "--listen", f"127.0.0.1:{port}",
                                 "--config", str(tmp_path / "scenario.toml"), "--admin-token", cluster.token,
                                 "--tls-dir", str(tmp_path / "nodes" / "tls")],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        cluster.processes["edge-2"] = {**victim, "pid": proc.pid}
        _load(cluster, keys, 51, 10)

        def caught_up():
            mine, theirs = _head(victim["url"]), _head(e0)
            return mine and theirs and mine["height"] == theirs["height"] and mine["hash"] == theirs["hash"]

        wait_for(caught_up, 120, "the restarted validator to catch up")
        for h in range(1, _head(e0)["height"] + 1):
            assert get(f"{victim['url']}/v1/blocks/{h}")[1]["hash"] == get(f"{e0}/v1/blocks/{h}")[1]["hash"]
    finally:
        TLS_CONTEXT.clear()
        shut(cluster)
