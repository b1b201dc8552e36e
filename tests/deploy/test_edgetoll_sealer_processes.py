"""EdgeToll's consortium as real processes: the proxy and three companies seal, the chain clock ticks.

``edgeledger up`` equivalent on 127.0.0.1 with ``topology.validators = ["proxy", "company"]``:
the center hands out the ids ``proxy`` and ``company-0..2`` by role, the four sealer processes
run PBFT, the ENs (edges), devices and the cloud follow. Nobody submits a transaction: the
sealers' heartbeat (``consensus.heartbeat_s``) alone commits clock ticks, so the chain and its
BFT time move while it idles, every block certified by the sealers.
"""

from __future__ import annotations

import pytest

from edgeledger.codec import decode
from tests.deploy.conftest import get, launch, shut, wait_for, wait_healthy

SEALERS = ["proxy", "company-0", "company-1", "company-2"]
SETTINGS = ['name="edgetoll"', "topology.edges=2", "topology.devices_per_edge=1",
            'topology.validators=["proxy", "company"]', "topology.companies=3", 'topology.observers=["edge", "device"]',
            "fl.enabled=false", "attacks=[]", "fl.clients_per_round=2", "consensus.heartbeat_s=0.5"]


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    c = launch(tmp_path_factory.mktemp("edgetoll"), SETTINGS)
    try:
        wait_healthy(c, timeout=120)
        yield c
    finally:
        shut(c)


def test_the_sealer_processes_certify_heartbeat_blocks_while_the_chain_idles(network):
    urls = {n: str(i["url"]) for n, i in network.processes.items()}
    assert {n: network.processes[n]["role"] for n in SEALERS} == {"proxy": "proxy", "company-0": "company",
                                                                   "company-1": "company", "company-2": "company"}

    def chain_time(node: str) -> int:
        status, body = get(f"{urls[node]}/v1/state/clock/time_ms")
        return decode(bytes.fromhex(body["value_hex"]), int) if status == 200 else 0

    wait_for(lambda: get(f"{urls['edge-1']}/v1/head")[1].get("height", 0) >= 4, 60, "heartbeat blocks at an EN")
    first = chain_time("edge-1")
    wait_for(lambda: chain_time("edge-1") >= first + 1_000, 30, "the chain time to move by a second")
    status, head = get(f"{urls['proxy']}/v1/head")
    assert status == 200 and head["leader"] in SEALERS
    for h in range(1, 4):
        status, block = get(f"{urls['device-0']}/v1/blocks/{h}")
        assert status == 200
        voters = {v["replica"] for v in block["commit_certificate"]["votes"]}
        assert voters <= set(SEALERS) and len(voters) >= 3
        assert block["proposer"] in SEALERS
        assert {tx["kind"] for tx in block["transactions"]} == {"clock.tick"}
