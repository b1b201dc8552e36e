"""A relay killed (SIGKILL) in the middle of its group's key generation restarts, resumes and keeps its place.

The federation's relays generate their key on the FBC. ``relay2`` is stopped (SIGSTOP) as
soon as it has registered there, which holds the generation open; ``relay3`` is killed with
SIGKILL once its deal has committed -- its polynomial and the shares it received exist only
in its data directory now -- and started again on the same data directory and address.
When ``relay2`` goes on, the generation finishes with all four relays: the restarted relay
resumed from the state its node kept and holds a valid share of the group key.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec

from edgeledger.codec import decode
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.deploy.cluster import spawn, stop_cluster
from edgeledger.deploy.federation_cluster import chain_state, start_federation, wait_federation_ready
from edgeledger.deploy.federation_plan import FEDERATION_FILE, SHARE_FILE, plan_federation
from tests.deploy.conftest import get, wait_for


def test_a_relay_killed_mid_generation_restarts_resumes_and_is_not_excluded(tmp_path):
    root = Path(tmp_path) / "federation"
    plan = msgspec.structs.replace(plan_federation(lbcs=2, validators_per_chain=4, relays=4),
                                   dkg_window_ms=60_000)  # the held generation waits for relay2 that long
    cluster = start_federation(plan, root)
    stopped = int(cluster.processes["relay2"]["pid"])
    try:
        # relay2 is stopped as soon as it has registered on the FBC's proxy: the generation opens
        # (every relay registered) but cannot finish while relay2 is silent
        wait_for(lambda: "relay2" in (chain_state(cluster, "fbc", "cs/proxy/nodes") or []), 60,
                 "relay2's registration on the FBC", step=0.02)
        os.kill(stopped, signal.SIGSTOP)
        wait_for(lambda: chain_state(cluster, "fbc", "cs/proxy/dkg/relay"), 30, "the relay group's generation")
        wait_for(lambda: "relay3" in chain_state(cluster, "fbc", "cs/proxy/dkg/relay")["dealt"], 30,
                 "relay3's deal to commit")
        victim = cluster.processes["relay3"]
        os.kill(int(victim["pid"]), signal.SIGKILL)
        os.waitpid(int(victim["pid"]), 0)
        assert chain_state(cluster, "fbc", "cs/proxy/dkg/relay")["status"] == "open"  # killed mid-generation
        assert not (root / "relay3" / SHARE_FILE).exists()
        port = str(victim["url"]).rsplit(":", 1)[1]
        p = spawn(["oracle", "federation-node", "--id", "relay3", "--plan", str(root / FEDERATION_FILE),
                   "--center", cluster.center, "--data-dir", str(root / "relay3"), "--listen", f"127.0.0.1:{port}",
                   "--admin-token", cluster.token], root / "relay3.log")
        cluster.processes["relay3"] = {**victim, "pid": p.pid}
        cluster.save()
        wait_for(lambda: get(f"{victim['url']}/v1/health")[0] == 200, 30, "relay3 to serve again")
        os.kill(stopped, signal.SIGCONT)
        wait_for(lambda: chain_state(cluster, "fbc", "cs/proxy/group/relay"), 60, "the generation to finish")
        members, commitments, _, indices = chain_state(cluster, "fbc", "cs/proxy/group/relay")
        assert members == plan.relays  # nobody excluded: the restarted relay kept its place
        share_file = root / "relay3" / SHARE_FILE
        share = wait_for(lambda: share_file.exists() and decode(share_file.read_bytes(), Share), 30,
                         "relay3's share of the generated key")
        assert share.index == indices[members.index("relay3")] and verify_share(share.index, share, commitments)
        wait_federation_ready(cluster, timeout=60)  # every gateway installed the certified key
    finally:
        try:
            os.kill(stopped, signal.SIGCONT)
        except OSError:
            pass
        stop_cluster(cluster)
