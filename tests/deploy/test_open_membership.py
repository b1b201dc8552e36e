"""Open membership on real processes: a device joins a running network and takes part.

Center, cloud + 3 edges (the PBFT validators) and 3 devices as processes on 127.0.0.1, chain
only, ``consortium.open_roles = ["device"]``. A fourth device process is started with nothing
but the center's address (``edgeledger.deploy.cluster.add_node``): it claims ``device-3`` at the
center, registers, leaves a signed admission request there; ``edge-0`` (the devices' sponsor)
puts it on chain as ``membership.admit``; every node registers the key from its committed
state; the newcomer's own node then accepts a transaction it signed and forwards it, signed
as ``device-3``, to a validator, and it commits. Nobody restarted.
"""

from __future__ import annotations

import os

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger import make_transaction
from edgeledger.ledger.kv import KVSet
from edgeledger.deploy.cluster import add_node
from tests.deploy.conftest import get, launch, send, shut, wait_for, wait_healthy

SETTINGS = ['name="open"', "topology.edges=3", "topology.devices_per_edge=1", 'topology.validators=["cloud", "edge"]',
            "fl.enabled=false", "attacks=[]", "fl.clients_per_round=3", "consensus.batch_timeout_s=0.02",
            'consortium.open_roles=["device"]']


def test_a_new_device_joins_a_running_network_through_the_center_and_its_transaction_commits(tmp_path):
    c = launch(tmp_path, SETTINGS)
    try:
        wait_healthy(c, timeout=90)
        cloud = c.processes["cloud"]["url"]
        founders = {label: int(info["pid"]) for label, info in c.processes.items()}
        outsider = derive_key("ed25519", b"never admitted")
        stranger = make_transaction(outsider, "device-3", 1, "kv.set", KVSet(key="x", value=b"x"))
        assert send(f"{cloud}/v1/tx", encode(stranger))[0] == 403  # no key on chain yet

        label = add_node(c, tmp_path / "scenario.toml", "device")
        node_id = (c.root / label / "node_id").read_text().strip()
        assert node_id == "device-3"  # the next id the center hands a device
        wait_for(lambda: get(f"{cloud}/v1/state/membership/identity/{node_id}")[0] == 200, 60,
                 "the admission to commit")
        url = c.processes[label]["url"]
        wait_for(lambda: get(f"{url}/v1/health", timeout=2)[0] == 200, 60, "the newcomer to serve")

        key = derive_key("ed25519", (c.root / label / "identity.seed").read_bytes())
        tx = make_transaction(key, node_id, 1, "kv.set", KVSet(key="joined", value=b"hello from device-3"))
        status, body = send(f"{url}/v1/tx", encode(tx))  # its own node forwards it to a validator, signed as device-3
        assert status == 202, body
        receipt = wait_for(lambda: get(f"{cloud}/v1/tx/{tx.tx_id.hex()}")[1].get("receipt"), 60, "its transaction")
        assert receipt["ok"] and receipt["code"] == "VALID"
        for edge in ("edge-0", "edge-1", "edge-2"):
            wait_for(lambda e=edge: get(f"{c.processes[e]['url']}/v1/state/kv/joined")[0] == 200, 30,
                     f"{edge} to apply it")
        admits = [tx for h in range(1, get(f"{cloud}/v1/head")[1]["height"] + 1)
                  for tx in get(f"{cloud}/v1/blocks/{h}")[1]["transactions"] if tx["kind"] == "membership.admit"]
        assert [(a["sender"], a["receipt"]["ok"]) for a in admits] == [("edge-0", True)]
        for label_, pid in founders.items():  # every founding process still runs: nobody restarted
            os.kill(pid, 0)
            assert get(f"{c.processes[label_]['url']}/v1/health")[0] == 200
    finally:
        shut(c)
