"""The ``ray`` executor joining an existing cluster (``address`` / ``RAY_ADDRESS``).

The cluster is a real one-node Ray head (``ray start --head --block``, token
authentication on) started by the fixture in its own session and stopped at the end; a
driver process connects to it (``RAY_ADDRESS`` or the ``address`` option), trains, and on
close only disconnects: the cluster keeps running for the next driver.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A 2-CPU Ray head in its own process group; yields (address, its process)."""
    assert not ray.is_initialized()
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={_free_port()}", "--num-cpus=2",
           "--include-dashboard=false", "--disable-usage-stats", "--block"]
    # A token-authenticated cluster, as Ray sets up by default, with a token of its own.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    head = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=os.environ | auth)
    lines: list[str] = []
    found = threading.Event()

    def drain() -> None:  # keep reading so the head never blocks on a full pipe
        for line in head.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "--address=" in line:
                found.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + 180
        while not found.wait(0.5) and head.poll() is None and time.monotonic() < deadline:
            pass
        match = next((m for line in lines if (m := re.search(r"--address='([^']+)'", line))), None)
        assert match, "ray head failed:\n" + "".join(lines[-30:])
        yield match.group(1), head, auth
    finally:
        family = [head.pid, *(p.pid for p in psutil.Process(head.pid).children(recursive=True))] \
            if head.poll() is None else [head.pid]
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        deadline = time.monotonic() + 30
        while (left := [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            os.killpg(head.pid, signal.SIGKILL)
        assert left == [], "Ray head processes outlived their SIGTERM"


# A user's driver process: RAY_ADDRESS (and Ray's token settings) come from its environment,
# which Ray reads when it is imported, so the driver is a fresh process.
DRIVER = """
import json, os, sys
import numpy as np, ray, torch
from edgeledger.fl.datasets import load_dataset
from edgeledger.fl.executors import ModelSpec, TrainSpec, build_executor
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params

torch.set_num_threads(1)
train, _ = load_dataset("digits")
spec = ModelSpec("mlp", train.input_shape, train.n_classes)
start = get_flat_params(build_model("mlp", train.input_shape, train.n_classes, seed=3))
jobs = [TrainSpec(start, train.subset(np.arange(30 * i, 30 * i + 30)), epochs=2, batch_size=8, lr=0.1, seed=i)
        for i in range(4)]
with build_executor("sequential", spec) as sequential:
    want = sequential.train_many(jobs)
out = {}
executor = build_executor("ray", spec, workers=0, address=sys.argv[1])  # "": $RAY_ADDRESS
got = executor.train_many(jobs)
out["workers"] = len(executor._actors)
out["cluster_cpus"] = ray.cluster_resources().get("CPU")
out["started_ray"] = executor.started_ray
out["actor_pids"] = executor.worker_pids()
executor.close()
out["initialized_after_close"] = ray.is_initialized()
out["equal"] = all(np.array_equal(g.params, w.params) and g.mean_loss == w.mean_loss for g, w in zip(got, want))
out["driver_pid"] = os.getpid()
print("RESULT " + json.dumps(out))
"""


def _drive(env: dict[str, str], address: str = "") -> dict:
    run = subprocess.run([sys.executable, "-c", DRIVER, address], env=os.environ | env, capture_output=True, check=False,
                         text=True, timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_executor_joins_an_existing_cluster_and_leaves_it_running(ray_head) -> None:
    address, head, auth = ray_head
    cluster = {p.pid for p in psutil.Process(head.pid).children(recursive=True)}
    by_env = _drive(auth | {"RAY_ADDRESS": address})
    by_option = _drive(auth, address)
    for out in (by_env, by_option):
        assert out["equal"]  # the cluster's workers give sequential's parameters bit for bit
        assert out["workers"] == 2 and out["cluster_cpus"] == 2  # workers=0: one per cluster CPU
        assert out["started_ray"] and not out["initialized_after_close"]  # it connected, then disconnected
        assert out["driver_pid"] not in out["actor_pids"]
    assert head.poll() is None  # the cluster outlives the executors that used it
    assert {p.pid for p in psutil.Process(head.pid).children(recursive=True)} >= cluster
