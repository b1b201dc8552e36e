"""A standby sealer node process is voted in over HTTP and then certifies blocks (real processes).

``edgeledger up`` equivalent on 127.0.0.1: center, cloud + 3 edges (the 4 genesis validators),
3 devices and ``company-0`` (``consortium.standby_sealers = 1``), chain only. The consortium's
company accounts sign ``membership.propose`` / ``membership.vote`` with their seed-derived keys
and POST them to ``/v1/tx``; past the activation height the new sealer's votes are in the
commit certificates, and with two genesis validators stopped its vote completes every quorum.
"""

from __future__ import annotations

import json
import threading
import tomllib

import pytest

from edgeledger.codec import decode, encode
from edgeledger.ledger import make_transaction
from edgeledger.ledger.kv import KVSet
from edgeledger.market import (
    MembershipProposal,
    MembershipVote,
    ValidatorChange,
    proposal_state,
)
from edgeledger.scenario.schema import parse_scenario
from edgeledger.scenario.topology import consortium_keys
from tests.deploy.conftest import get, launch, send, shut, wait_for, wait_healthy

SEALERS = ["cloud", "edge-0", "edge-1", "edge-2"]
SETTINGS = ['name="standby"', "topology.edges=3", "topology.devices_per_edge=1", 'topology.validators=["cloud", "edge"]',
            "fl.enabled=false", "attacks=[]", "fl.clients_per_round=3", "consensus.batch_timeout_s=0.02",
            "consensus.window=4", "consensus.checkpoint_interval=2",
            'consortium.accounts={proxy="proxy", c0="company", c1="company", c2="company", meter="device"}',
            "consortium.standby_sealers=1"]


class Client:
    """Signs as the consortium accounts (keys derived from the scenario) and POSTs to /v1/tx."""

    def __init__(self, cluster) -> None:
        self.urls = {n: str(i["url"]) for n, i in cluster.processes.items()}
        scenario = parse_scenario(tomllib.loads((cluster.root.parent / "scenario.toml").read_text()))
        self.keys = consortium_keys(scenario)
        self.nonces: dict[str, int] = {}
        self.lock = threading.Lock()

    def submit(self, sender: str, kind: str, payload: object, to: str = "cloud") -> str:
        with self.lock:
            self.nonces[sender] = self.nonces.get(sender, 0) + 1
            tx = make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)
        status, body = send(f"{self.urls[to]}/v1/tx", encode(tx))
        assert status == 202, (status, body)
        return tx.tx_id.hex()

    def state(self, key: str, node: str = "cloud") -> bytes | None:
        status, body = get(f"{self.urls[node]}/v1/state/{key}")
        return bytes.fromhex(body["value_hex"]) if status == 200 else None

    def height(self, node: str) -> int:
        return get(f"{self.urls[node]}/v1/head", timeout=2)[1].get("height") or 0

    def voters(self, node: str, height: int) -> set[str]:
        status, block = get(f"{self.urls[node]}/v1/blocks/{height}")
        assert status == 200, (node, height, block)
        return {v["replica"] for v in block["commit_certificate"]["votes"]}


class Pump:
    """A steady trickle of kv.set transactions from a device account, so that blocks keep coming."""

    def __init__(self, client: Client) -> None:
        self.client, self.stop = client, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.stop.wait(0.1):
            i += 1
            try:
                self.client.submit("meter", "kv.set", KVSet(key=f"k{i}", value=b"x"))
            except (AssertionError, OSError):  # a node busy for a moment: the next one goes through
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    c = launch(tmp_path_factory.mktemp("standby"), SETTINGS)
    try:
        assert "company-0" in c.processes and c.processes["company-0"]["role"] == "company"
        wait_healthy(c, timeout=90)
        yield c
    finally:
        shut(c)


def test_a_standby_sealer_process_is_voted_in_and_its_votes_certify_blocks(network):
    client = Client(network)
    assert get(f"{client.urls['company-0']}/v1/health")[1]["node"] == "company-0"
    pump = Pump(client)
    try:
        wait_for(lambda: min(client.height(n) for n in SEALERS + ["company-0"]) >= 2, 60, "first blocks everywhere")
        client.submit("proxy", "membership.propose", MembershipProposal(action="add_sealer", node_id="company-0"))
        wait_for(lambda: client.state("membership/proposal/0") is not None, 30, "the proposal to commit")
        for voter in ("c0", "c1", "c2"):  # companies: c0..c2 and company-0; 3 of 4 is more than 2/3
            client.submit(voter, "membership.vote", MembershipVote(proposal=0, approve=True), to="edge-1")

        def passed():
            raw = client.state("membership/proposal/0")
            return raw is not None and proposal_state({"membership/proposal/0": raw}, 0).status == "passed"

        wait_for(passed, 30, "the proposal to pass")
        (change,) = decode(client.state("membership/validators"), list[ValidatorChange])
        effective = change.effective_height
        assert change.validators == SEALERS + ["company-0"]
        wait_for(lambda: min(client.height(n) for n in SEALERS + ["company-0"]) >= effective + 6, 60,
                 f"every sealer past activation height {effective}")
    finally:
        pump.close()

    def same_head():
        heads = {n: get(f"{client.urls[n]}/v1/head")[1].get("hash") for n in SEALERS + ["company-0"]}
        return heads if len(set(heads.values())) == 1 else None

    wait_for(same_head, 30, "every sealer and the new one to hold the same head")
    top = client.height("cloud")
    for h in range(1, effective):
        assert "company-0" not in client.voters("company-0", h)
    after = [client.voters("edge-0", h) for h in range(effective, top + 1)]
    assert any("company-0" in v for v in after), after
    assert all(v <= set(SEALERS) | {"company-0"} and len(v) >= 4 for v in after)  # a quorum of 5 is 4

    # stop one genesis validator: cloud, edge-0, edge-1 and company-0 are exactly a quorum of the five left
    status, _ = send(f"{client.urls['edge-2']}/v1/admin/shutdown", b"",
                     headers={"Authorization": f"Bearer {network.token}"})
    assert status == 202
    wait_for(lambda: get(f"{client.urls['edge-2']}/v1/health", timeout=1)[0] == 0, 20, "edge-2 to stop")
    start = client.height("cloud")
    pump = Pump(client)
    try:
        live = ["cloud", "edge-0", "edge-1", "company-0"]
        wait_for(lambda: min(client.height(n) for n in live) >= start + 4, 45, "blocks without edge-2")
    finally:
        pump.close()
    for h in range(start + 1, start + 5):
        assert client.voters("company-0", h) == set(live), h
    print(json.dumps({"activation_height": effective, "height": client.height("cloud")}))
