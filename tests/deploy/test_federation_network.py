"""Cross-chain collaboration (Fig. 3) with every chain's validators and the relay group as processes.

A federal chain and two local chains, 4 PBFT validators each, and a relay group of 4
(t = 3), each member one process following all three chains. Nobody deals the relay key:
the relays generate it on the FBC (distributed key generation), the FBC's validators
certify it and every gateway installs it from that certificate. A request sent on lbc1 is
filed on the FBC, whose Merkle root is written back to lbc1, carried to lbc2 (state
change there) and called back on lbc1; a delivery replayed by a relay, one signed by a key
that was not installed, and a key with a forged certificate are refused.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from edgeledger.codec import decode, encode
from edgeledger.crypto.threshold import Share, combine, sign_share, verify_share
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import derive_key
from edgeledger.crypto.merkle import merkle_proof, merkle_root
from edgeledger.ledger.contracts import ContractCall
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.ledger.contracts import ContractDeploy
from edgeledger.oracle.crosschain import GATEWAY_CODE, CrossChainMessage, XDeliver, root_statement
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.relay_trust import relay_key_statement
from edgeledger.cli import main
from edgeledger.deploy.cluster import Cluster, stop_cluster
from edgeledger.deploy.federation_cluster import (
    chain_state, federation_plan, send_cross_chain, wait_cross_chain,
)
from edgeledger.deploy.federation_plan import INITIAL_STOCK, SHARE_FILE
from tests.deploy.conftest import get, send, wait_for


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("federation"))
    try:  # the user's way in: `edgeledger oracle federation-up --detach` (returns once every chain is set up)
        main(["oracle", "federation-up", "--dir", str(root), "--lbcs", "2", "--validators", "4", "--relays", "4",
              "--requests", "0", "--detach"])
        yield Cluster.load(root)
    finally:
        if (root / "cluster.json").exists():
            cluster = Cluster.load(root)
            stop_cluster(cluster)
            for label, info in cluster.processes.items():
                log = Path(str(info["log"]))
                if log.exists() and "Traceback" in log.read_text():
                    print(f"--- {label} log ---\n{log.read_text()[-3000:]}")


def _url(cluster, node_id: str) -> str:
    return str(cluster.processes[node_id]["url"])


def _deliveries(url: str) -> list[Transaction]:
    out = []
    for h in range(1, get(f"{url}/v1/head")[1]["height"] + 1):
        out += [decode(bytes.fromhex(t["encoded"]), Transaction) for t in get(f"{url}/v1/blocks/{h}")[1]["transactions"]
                if t["kind"] == "xchain.deliver"]
    return out


def test_a_cross_chain_request_is_anchored_on_the_fbc_carried_and_called_back(federation):
    tx_id, sent = send_cross_chain(federation, "lbc1", "lbc2", 7)
    done = wait_cross_chain(federation, "lbc1", tx_id, sent, timeout=40)
    assert done["result"] == INITIAL_STOCK - 7
    assert chain_state(federation, "lbc2", "cs/stock/stock") == INITIAL_STOCK - 7
    # the batch is the lbc1 block holding the send; the FBC filed its root and lbc1 anchored the same root
    status, found = get(f"{_url(federation, 'lbc1.v0')}/v1/tx/{tx_id}")
    assert status == 200 and found["receipt"]["ok"]
    batch = found["height"]
    message = chain_state(federation, "lbc1", f"cs/xchain/out/{done['msg_id']}")
    assert decode(message, CrossChainMessage).dest_chain == "lbc2"
    root = chain_state(federation, "fbc", f"cs/xchain/root/lbc1/{batch}")
    assert root == merkle_root([sha256(message)])
    assert wait_for(lambda: chain_state(federation, "lbc1", f"cs/xchain/anchor/{batch}"), 10,
                    "the root written back to lbc1") == root
    assert chain_state(federation, "lbc2", f"cs/xchain/in/{done['msg_id']}") is not None
    assert chain_state(federation, "lbc1", f"cs/xchain/ack/{done['msg_id']}") is not None
    # the observation node follows every chain and traces the message across them
    observer = _url(federation, "observer")
    trace = wait_for(lambda: (x := get(f"{observer}/v1/query/xchain/messages/{done['msg_id']}"))[0] == 200 and
                     x[1]["acknowledged"] and x[1], 15, "the observer to see the acknowledgement")
    assert trace["delivery"] == "delivered" and trace["destination"] == "lbc2" and trace["call"] == "stock.reserve"
    assert get(f"{observer}/v1/query/xchain/messages/lbc1:999999")[0] == 404
    status, body = get(f"{observer}/v1/query/xchain/messages/nonsense")
    assert status == 400 and "SOURCE_CHAIN:SEQUENCE" in body["error"]


def test_a_replayed_delivery_is_refused_and_the_client_has_no_say_on_the_fbc(federation):
    tx_id, sent = send_cross_chain(federation, "lbc2", "lbc1", 3)
    done = wait_cross_chain(federation, "lbc2", tx_id, sent, timeout=40)
    lbc1 = _url(federation, "lbc1.v1")
    original = wait_for(lambda: next((t for t in _deliveries(lbc1) if decode(decode(t.payload, XDeliver).message,
                                     CrossChainMessage).msg_id == done["msg_id"]), None), 10, "the delivery on lbc1")
    relay_key = derive_key("ed25519", (federation.root / original.sender / "identity.seed").read_bytes())
    replay = make_transaction(relay_key, original.sender, original.nonce + 10**6, original.kind,
                              decode(original.payload, XDeliver))
    assert send(f"{lbc1}/v1/tx", encode(replay))[0] == 202
    found = wait_for(lambda: (x := get(f"{lbc1}/v1/tx/{replay.tx_id.hex()}"))[0] == 200 and x[1], 15,
                     "the replayed delivery to be ordered")
    assert found["receipt"]["ok"] is False and "replay refused" in found["receipt"]["reason"], found["receipt"]
    assert chain_state(federation, "lbc1", "cs/stock/stock") == INITIAL_STOCK - 3  # reserved once, not twice
    # the client is a local node of the LBCs: the FBC's genesis does not know it
    plan = federation_plan(federation)
    client = derive_key("ed25519", (federation.root / plan.client / "identity.seed").read_bytes())
    call = ContractCall(contract="xchain", method="send", args=["lbc1", "stock", "reserve", [1], "", "", 10_000])
    tx = make_transaction(client, plan.client, 1, "contract.call", call)
    status, body = send(f"{_url(federation, 'fbc.v0')}/v1/tx", encode(tx))
    assert status == 403, body


def test_xsend_on_the_cli_carries_a_request(federation, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["oracle", "xsend", "--dir", str(federation.root), "--source", "lbc1", "--dest", "lbc2", "--qty", "2"])
        raise SystemExit(0)
    out = capsys.readouterr().out.replace("\n", " ")
    assert (exc.value.code or 0) == 0
    assert re.search(r"lbc1:\d+: lbc2 reserved 2, \d+ left; callback on lbc1 after \d+\.\d{3} s", out), out
    with pytest.raises(SystemExit) as exc:
        main(["oracle", "xsend", "--dir", str(federation.root), "--source", "fbc", "--dest", "lbc2"])
    assert exc.value.code == 2
    assert "between two different local chains" in capsys.readouterr().err


def _submit(cluster, chain_id: str, sender: str, kind: str, payload) -> dict:
    """Submit a transaction signed by ``sender`` (its key from its data directory); its receipt."""
    key = derive_key("ed25519", (cluster.root / sender / "identity.seed").read_bytes())
    tx = make_transaction(key, sender, time.time_ns() // 1000, kind, payload)  # above its clock-based nonces
    url = _url(cluster, federation_plan(cluster).chain(chain_id).validators[1])
    assert send(f"{url}/v1/tx", encode(tx))[0] == 202
    return wait_for(lambda: (x := get(f"{url}/v1/tx/{tx.tx_id.hex()}"))[0] == 200 and x[1]["receipt"], 20,
                    f"{kind} to be ordered on {chain_id}")


def test_the_relay_key_comes_from_the_key_generation_on_the_fbc_certified_to_every_gateway(federation):
    plan = federation_plan(federation)
    assert plan.key_generation == "dkg" and plan.relay_commitments == []  # the launcher dealt nothing
    assert chain_state(federation, "fbc", "cs/proxy/dkg/relay")["status"] == "done"
    members, commitments, threshold, indices = chain_state(federation, "fbc", "cs/proxy/group/relay")
    assert members == plan.relays and threshold == 3 and len(commitments) == 3
    for chain in ("fbc", "lbc1", "lbc2"):
        assert chain_state(federation, chain, "cs/xchain/relay_trust") == "certificate"
        assert chain_state(federation, chain, "cs/xchain/group_key") == commitments[0]
    for r in plan.relays:  # each relay's share of the generated key, private, passes the Feldman check
        path = federation.root / r / SHARE_FILE
        share = decode(path.read_bytes(), Share)
        assert path.stat().st_mode & 0o777 == 0o600
        assert share.index == indices[members.index(r)] and verify_share(share.index, share, commitments)
    signers = [v for v in plan.chain("fbc").validators if chain_state(federation, "fbc", f"cs/xchain/attest/relay/{v}")]
    assert len(signers) >= 3
    # the observation node answers how the relay group's key generation went
    status, group = get(f"{_url(federation, 'observer')}/v1/query/oracle/groups/relay")
    assert status == 200, group
    assert group["members"] == plan.relays and group["key_generation"]["status"] == "done", group


def test_a_gateway_refuses_a_forged_certificate_and_a_key_that_was_not_installed(federation):
    plan = federation_plan(federation)
    # a second gateway on lbc1, trusting the FBC's genesis validators as the real one does
    args = [plan.fbc, b"", chain_state(federation, "lbc1", "cs/xchain/fbc_validators"),
            chain_state(federation, "lbc1", "cs/xchain/fbc_genesis"), "relay"]
    receipt = _submit(federation, "lbc1", "lbc1.v2", "contract.deploy",
                      ContractDeploy(name="probe", code=GATEWAY_CODE, version=1, args=args))
    assert receipt["ok"], receipt
    (dealt,), shares = deal_groups({"relay": plan.relays}, random.SystemRandom())  # a key the FBC never made
    claim = ["relay", dealt.members, dealt.commitments, dealt.threshold, dealt.indices]
    statement = relay_key_statement(plan.fbc, args[3], *claim)
    validator_keys = {v: derive_key("ed25519", (federation.root / v / "identity.seed").read_bytes())
                      for v in plan.chain("fbc").validators}
    relay_key = derive_key("ed25519", (federation.root / "relay0" / "identity.seed").read_bytes())
    forged = {"fbc.v0": relay_key.sign(statement), "fbc.v1": relay_key.sign(statement),
              "fbc.v2": relay_key.sign(statement)}
    short = {v: validator_keys[v].sign(statement) for v in ["fbc.v0", "fbc.v1"]}  # 2 colluding validators
    for signatures, why in [({}, "signatures must map"), (forged, "0 valid signatures"),
                            (short, "2 valid signatures")]:
        receipt = _submit(federation, "lbc1", "relay0", "contract.call",
                          ContractCall(contract="probe", method="install_relay_key", args=claim + [signatures]))
        assert not receipt["ok"] and why in receipt["reason"], receipt
    assert not chain_state(federation, "lbc1", "cs/probe/group_key")
    # a delivery signed by the relays with that uninstalled key is refused by the real gateway
    message = encode(CrossChainMessage(msg_id="lbc2:999", source_chain="lbc2", dest_chain="lbc1", dest_contract="stock",
                                       dest_method="reserve", args=[1], sender="client", callback_contract="",
                                       callback_method="", timeout_height=10**6))
    root = merkle_root([sha256(message)])
    st = root_statement(plan.fbc, "lbc2", 1, root)
    signature = combine({shares[r]["relay"].index: sign_share(shares[r]["relay"], st) for r in plan.relays[:3]})
    delivery = XDeliver(message=message, batch=1, root=root, proof=merkle_proof([sha256(message)], 0),
                        signature=signature)
    receipt = _submit(federation, "lbc1", "relay1", "xchain.deliver", delivery)
    assert not receipt["ok"] and "relay group signature does not verify" in receipt["reason"], receipt
    assert chain_state(federation, "lbc1", "cs/xchain/in/lbc2:999") is None  # never ran
