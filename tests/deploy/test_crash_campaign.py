"""SIGKILL campaign with real processes: validators die at random moments during commits.

A 4-validator chain-only cluster carries a steady kv.set load while a seeded loop kills a
random validator with SIGKILL, checks its data directory as the crash left it (every stored
block validates; every block the node reported before it died is there with the same hash:
no acknowledged block lost), restarts it on the same directory and port, and goes on once it
serves again. At the end every validator converges to the same head. ``EDGELEDGER_CRASH_KILLS``
sets the number of kills (CI: 50) and ``EDGELEDGER_CRASH_SEED`` the seed; the figures are printed.

On a loaded 2-core box a cold ``edgeledger node`` start spends seconds importing, so a restart
is served by a small pool of warm standby processes: each has already imported the package and
waits for its command line; it then runs exactly ``edgeledger node ...`` (``cli.main``) on the
victim's data directory and port, and a fresh standby warms up in the background.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.deploy.conftest import get, launch, send, shut, wait_for
from tests.deploy.test_crash_restart import KV_SETTINGS

VALIDATORS = ("edge-0", "edge-1", "edge-2", "edge-3")
KILLS = int(os.environ.get("EDGELEDGER_CRASH_KILLS", "50"))
SEED = int(os.environ.get("EDGELEDGER_CRASH_SEED", "2026"))
BUDGET_S = float(os.environ.get("EDGELEDGER_CRASH_BUDGET_S", "230"))


def _head(url: str) -> dict:
    status, body = get(f"{url}/v1/head", timeout=1)
    return body if status == 200 and body.get("height") is not None else {}


class _Load(threading.Thread):
    """kv.set transactions from device-0, round robin over the validators, until stopped."""

    def __init__(self, key, urls: list[str]) -> None:
        super().__init__(daemon=True)
        self.key, self.urls, self.stop, self.sent = key, urls, threading.Event(), 0

    def run(self) -> None:
        from edgeledger.codec import encode
        from edgeledger.ledger.kv import KVSet
        from edgeledger.ledger.transaction import make_transaction

        nonce = 0
        while not self.stop.is_set():
            nonce += 1
            tx = make_transaction(self.key, "device-0", nonce, "kv.set", KVSet(key=f"k{nonce % 64}", value=b"%d" % nonce))
            try:
                send(f"{self.urls[nonce % len(self.urls)]}/v1/tx", encode(tx))
                self.sent += 1
            except OSError:
                pass  # that validator is down right now
            self.stop.wait(0.02)


def _check_crashed_store(data_dir: Path, reported: dict[int, str]) -> int:
    """The chain a SIGKILL left on disk: intact, and holding every block the node reported."""
    from edgeledger.codec import decode
    from edgeledger.ledger import ChainStore, Genesis, Membership, genesis_hash, validate_chain

    genesis = decode((data_dir / "genesis.bin").read_bytes(), Genesis)
    store = ChainStore(data_dir / "chain.sqlite")
    try:
        blocks = store.blocks()
        validate_chain(blocks, Membership(genesis), genesis_hash(genesis))
        for height, digest in reported.items():
            assert height <= len(blocks), f"acknowledged block {height} lost: the store ends at {len(blocks)}"
            assert blocks[height - 1].hash.hex() == digest, f"acknowledged block {height} changed after the crash"
        return len(blocks)
    finally:
        store.close()


_STANDBY = """
import json, pathlib, sys
import edgeledger.cli, edgeledger.deploy.node_process, edgeledger.scenario.schema  # the slow part of a cold start
pathlib.Path(sys.argv[1]).touch()
edgeledger.cli.main(json.loads(sys.stdin.readline()))
"""


class _Standbys:
    """Warm ``edgeledger node`` processes waiting for their command line (a small pool)."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root, self.count, self.pool, self.waited_s = root, 0, [], 0.0
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        self.count += 1
        ready, log = self.root / f"standby-{self.count}.ready", self.root / f"standby-{self.count}.log"
        fh = open(log, "ab")
        proc = subprocess.Popen([sys.executable, "-c", _STANDBY, str(ready)], stdin=subprocess.PIPE, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
        fh.close()
        self.pool.append((proc, ready, log))

    def run(self, argv: list[str]) -> tuple[subprocess.Popen, Path]:
        proc, ready, log = self.pool.pop(0)
        self._spawn()
        t0 = time.monotonic()
        wait_for(ready.exists, 60, "a standby node process to warm up", step=0.02)
        self.waited_s += time.monotonic() - t0
        proc.stdin.write((json.dumps(argv) + "\n").encode())
        proc.stdin.flush()
        return proc, log

    def close(self) -> None:
        for proc, _, _ in self.pool:
            proc.kill()
            proc.wait()


def _restart(cluster, root: Path, label: str, scenario_file: Path, standbys: _Standbys) -> None:
    info = cluster.processes[label]
    port = str(info["url"]).rsplit(":", 1)[1]
    proc, log = standbys.run(["node", "--role", "edge", "--center", cluster.center, "--data-dir", str(root / label),
                              "--listen", f"127.0.0.1:{port}", "--config", str(scenario_file),
                              "--admin-token", cluster.token])
    cluster.processes[label] = {**info, "pid": proc.pid, "log": str(log)}


def test_validators_survive_repeated_sigkill_during_commits(tmp_path):
    from edgeledger.crypto.keys import derive_key

    rng = random.Random(SEED)
    print(f"crash campaign: seed {SEED}, {KILLS} kills (replay: EDGELEDGER_CRASH_SEED={SEED})")
    cluster = launch(tmp_path, KV_SETTINGS)
    load = standbys = None
    try:
        root = Path(str(cluster.processes["edge-0"]["log"])).parent
        standbys = _Standbys(root)
        urls = {v: str(cluster.processes[v]["url"]) for v in VALIDATORS}
        wait_for(lambda: all(_head(u) for u in urls.values()), 90, "validators to serve")
        key = derive_key("ed25519", (root / "device-0" / "identity.seed").read_bytes())
        load = _Load(key, list(urls.values()))
        load.start()
        wait_for(lambda: _head(urls["edge-0"]).get("height", 0) >= 2, 60, "first commits")
        reported: dict[str, dict[int, str]] = {v: {} for v in VALIDATORS}
        t0, restart_s, heights = time.monotonic(), [], []
        for kill in range(KILLS):
            victim = rng.choice(VALIDATORS)
            deadline = time.monotonic() + rng.uniform(0.05, 0.6)  # a random moment while blocks commit
            while time.monotonic() < deadline:
                head = _head(urls[victim])
                if head.get("hash"):
                    reported[victim][head["height"]] = head["hash"]
            pid = int(cluster.processes[victim]["pid"])
            os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            heights.append(_check_crashed_store(root / victim, reported[victim]))
            t_restart = time.monotonic()
            _restart(cluster, root, victim, tmp_path / "scenario.toml", standbys)
            wait_for(lambda: _head(urls[victim]), 60, f"{victim} to serve again after kill {kill + 1}",  # noqa: B023
                     step=0.05)
            restart_s.append(time.monotonic() - t_restart)
            assert time.monotonic() - t0 < BUDGET_S, f"campaign over budget after {kill + 1} kills"
        load.stop.set()
        campaign_s = time.monotonic() - t0

        def converged():
            heads = [_head(u) for u in urls.values()]
            return all(heads) and len({(h["height"], h["hash"]) for h in heads}) == 1 and heads[0]

        final = wait_for(converged, 90, "every validator to converge to the same head")
        for v in VALIDATORS:  # what each node ever reported is still its chain
            for height, digest in reported[v].items():
                assert get(f"{urls[v]}/v1/blocks/{height}")[1]["hash"] == digest
        print(f"crash campaign: {KILLS} SIGKILLs in {campaign_s:.1f} s, restart-to-serving median "
              f"{sorted(restart_s)[len(restart_s) // 2]:.2f} s, store heights at kill {min(heights)}..{max(heights)}, "
              f"final head {final['height']}, {load.sent} transactions sent, {standbys.waited_s:.1f} s waiting for standbys")
    finally:
        if load is not None:
            load.stop.set()
        if standbys is not None:
            standbys.close()
        shut(cluster)
