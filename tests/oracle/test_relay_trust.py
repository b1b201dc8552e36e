"""A gateway installs the relay group's key only with the federal chain's certificate.

The FBC's genesis validators certify the relay group its key generation registered (each signs
the relay-key statement); a gateway deployed knowing the FBC's genesis validators and hash
installs the key from a quorum of those signatures and refuses a missing, short or forged
certificate; until then, and for any key but the installed one, group-signed steps are refused.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import msgspec

from edgeledger.codec import decode
from edgeledger.crypto.keys import derive_key
from edgeledger.crypto.threshold import combine, sign_share
from edgeledger.effects import SubmitTransaction
from edgeledger.ledger import Genesis, Identity, LedgerState, Membership
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_state
from edgeledger.node.heartbeat import Signer
from edgeledger.oracle import deal_groups
from edgeledger.oracle.crosschain import GATEWAY, GATEWAY_CODE, XDeliver, root_statement
from edgeledger.oracle.enrollment import group_call, oracle_keys, registration_call
from edgeledger.oracle.proxy import PROXY_CODE
from edgeledger.oracle.relay import RelayCore
from edgeledger.oracle.relay_keys import RelayKeyAttester, relay_certificate
from edgeledger.oracle.relay_trust import relay_key_statement
from tests.oracle.test_crosschain import CHAINS, RELAYS, MiniChain, drive, send_order

VALIDATORS = [f"fbc.v{i}" for i in range(4)]
FBC_GENESIS = bytes(range(32))


def _keys():
    return {n: derive_key("ed25519", n.encode()) for n in ["op", "plant", "mallory", *RELAYS, *VALIDATORS]}


class Chain(MiniChain):
    """A test chain on which the relays are oracle nodes (they register on the FBC's proxy)."""

    def __init__(self, chain_id, keys):
        super().__init__(chain_id, keys)
        ids = [Identity(node_id=n, role="oracle" if n in RELAYS else "company", scheme="ed25519",
                        public_key=k.public_key) for n, k in keys.items()]
        self.state = LedgerState(Membership(Genesis(chain_id=chain_id, identities=ids, validators=["op"])))


def _certified_chains(keys):
    """Three chains whose gateways trust the FBC's genesis validators, not a dealt key."""
    chains = {c: Chain(c, keys) for c in CHAINS}
    trust = {v: ["ed25519", keys[v].public_key] for v in VALIDATORS}
    for c in chains.values():
        c.mempool.append(c.tx("op", "contract.deploy", ContractDeploy(
            name=GATEWAY, code=GATEWAY_CODE, version=1, args=["fbc", b"", trust, FBC_GENESIS, "relay"])))
    chains["lbc2"].mempool.append(chains["lbc2"].tx("op", "contract.deploy", ContractDeploy(
        name="inventory", code="test.inventory", version=1, args=[10])))
    chains["lbc1"].mempool.append(chains["lbc1"].tx("plant", "contract.deploy", ContractDeploy(
        name="orders", code="test.orders", version=1, args=[])))
    for c in chains.values():
        _, receipts, _ = c.seal()
        assert all(r.ok for r in receipts), [r.reason for r in receipts]
    return chains


def _claim(group):
    return ["relay", group.members, group.commitments, group.threshold, group.indices]


def _signatures(keys, group, signers, genesis=FBC_GENESIS):
    statement = relay_key_statement("fbc", genesis, *_claim(group))
    return {v: keys[v].sign(statement) for v in signers}


def _install(chain, sender, args):
    chain.mempool.append(chain.tx(sender, "contract.call", ContractCall(contract=GATEWAY, method="install_relay_key",
                                                                        args=args)))
    (_, (receipt,), _) = chain.seal()
    return receipt


def test_a_gateway_refuses_a_missing_short_or_forged_certificate_and_installs_a_quorum():
    keys = _keys()
    chains = _certified_chains(keys)
    (group,), shares = deal_groups({"relay": RELAYS}, random.Random(3))
    (other,), _ = deal_groups({"relay": RELAYS}, random.Random(4))  # a key the FBC never registered
    lbc1 = chains["lbc1"]
    good = _signatures(keys, group, VALIDATORS[:3])
    refused = {
        "no signatures": _claim(group) + [{}],
        "two of four": _claim(group) + [dict(list(good.items())[:2])],
        "an outsider as third": _claim(group) + [{**dict(list(good.items())[:2]),
                                                  "mallory": _signatures(keys, group, ["mallory"])["mallory"]}],
        "the genuine signatures for another key": _claim(other) + [good],
        "another federation's genesis": _claim(group) + [_signatures(keys, group, VALIDATORS, genesis=bytes(32))],
        "not a dict": _claim(group) + [["fbc.v0", b"sig"]],
        "malformed commitments": ["relay", RELAYS, "C0", 3, [], good],
        "another group": ["oracles"] + _claim(group)[1:] + [good],
    }
    reasons = {what: _install(lbc1, "mallory", args) for what, args in refused.items()}
    assert not any(r.ok for r in reasons.values()), {w: r.reason for w, r in reasons.items() if r.ok}
    assert "signatures must map 1..4 federal-chain validators" in reasons["no signatures"].reason
    assert "2 valid signatures" in reasons["two of four"].reason and "expected >= 3 of the 4" in \
        reasons["two of four"].reason
    assert "2 valid signatures" in reasons["an outsider as third"].reason
    assert "0 valid signatures" in reasons["the genuine signatures for another key"].reason
    assert "0 valid signatures" in reasons["another federation's genesis"].reason
    assert "commitments must be 3 non-empty byte strings, got 'C0'" in reasons["malformed commitments"].reason
    assert "group_id must be this gateway's relay group 'relay', got 'oracles'" in reasons["another group"].reason
    garbage = msgspec.structs.replace(group, commitments=[b"\x01" * 48] * 3)  # even certified, no key
    refused_points = _install(lbc1, "mallory", _claim(garbage) + [_signatures(keys, garbage, VALIDATORS)])
    assert not refused_points.ok and "commitments:" in refused_points.reason
    assert not contract_state(lbc1.state.kv, GATEWAY, "group_key")
    # a cross-chain step signed by the group before its key is installed is refused
    lbc1.mempool.append(lbc1.tx("mallory", "contract.call", ContractCall(contract=GATEWAY, method="anchor",
                                                                         args=[1, bytes(32), b"sig"])))
    (_, (early,), _) = lbc1.seal()
    assert not early.ok and "no relay group key is installed on this gateway" in early.reason
    # a quorum of the FBC's genesis validators installs it, once
    receipt = _install(lbc1, "mallory", _claim(group) + [good])  # anyone may carry the certificate
    assert receipt.ok, receipt.reason
    assert contract_state(lbc1.state.kv, GATEWAY, "group_key") == group.commitments[0]
    again = _install(lbc1, "mallory", _claim(other) + [_signatures(keys, other, VALIDATORS)])
    assert not again.ok and "already installed" in again.reason
    # the whole path runs on the certified key; a delivery signed by a key that was not installed is refused
    for c in ("fbc", "lbc2"):
        assert _install(chains[c], "plant", _claim(group) + [good]).ok
    relays = {r: RelayCore(r, keys[r], "fbc", group, shares[r]["relay"]) for r in RELAYS}
    held = []
    send_order(chains, 3)
    drive(chains, relays, tamper=lambda e: held.append(e.tx) if e.tx.kind == "xchain.deliver" else e.tx)
    lbc2 = chains["lbc2"]
    (_, other_shares) = deal_groups({"relay": RELAYS}, random.Random(4))
    forger = {r: RelayCore(r, keys[r], "fbc", other, other_shares[r]["relay"]) for r in RELAYS}
    delivery = decode(held[0].payload, XDeliver)
    statement = root_statement("fbc", "lbc1", delivery.batch, delivery.root)
    forged = combine({f.share.index: sign_share(f.share, statement) for f in list(forger.values())[:3]})
    lbc2.mempool.append(lbc2.tx("mallory", "xchain.deliver", msgspec.structs.replace(delivery, signature=forged)))
    lbc2.mempool.append(held[0])
    _, receipts, _ = lbc2.seal()
    assert not receipts[0].ok and "relay group signature does not verify" in receipts[0].reason
    assert receipts[1].ok, receipts[1].reason
    assert contract_state(lbc2.state.kv, "inventory", "stock") == 7


def test_fbc_validators_attest_the_registered_group_and_any_relay_assembles_the_certificate():
    keys = _keys()
    chains = _certified_chains(keys)
    fbc = chains["fbc"]
    # the FBC's proxy registers the relay group (here through the test dealer's register_group;
    # a deployment runs the key generation: tests/deploy/test_federation_network.py)
    fbc.mempool.append(fbc.tx("op", "contract.deploy", ContractDeploy(name="proxy", code=PROXY_CODE, version=1,
                                                                        args=[bytes(32), 1000, 1000])))
    for r in RELAYS:
        fbc.mempool.append(fbc.tx(r, "contract.call", registration_call("proxy", oracle_keys(b"seed", r))))
    (group,), _ = deal_groups({"relay": RELAYS}, random.Random(3))
    fbc.mempool.append(fbc.tx("op", "contract.call", group_call("proxy", group)))
    h, receipts, _ = fbc.seal()
    assert all(r.ok for r in receipts), [r.reason for r in receipts]
    assert relay_certificate(fbc.state.kv, "relay", VALIDATORS) is None  # no attestation yet
    attesters = {v: RelayKeyAttester(v, keys[v], Signer(keys[v], v, nonce=100), FBC_GENESIS, "relay",
                                     lambda: fbc.state.kv) for v in VALIDATORS}
    for v in VALIDATORS[:2]:
        effects = attesters[v].on_block(SimpleNamespace(height=h), [], 0.0)
        fbc.mempool += [e.tx for e in effects if isinstance(e, SubmitTransaction)]
    # a validator-looking attestation of another key, and an outsider's, are refused by the FBC gateway
    (other,), _ = deal_groups({"relay": RELAYS}, random.Random(4))
    fbc.mempool.append(fbc.tx("fbc.v2", "contract.call", ContractCall(
        contract=GATEWAY, method="attest_relay_key",
        args=_claim(other) + [_signatures(keys, group, ["fbc.v2"])["fbc.v2"]])))
    fbc.mempool.append(fbc.tx("mallory", "contract.call", ContractCall(
        contract=GATEWAY, method="attest_relay_key", args=_claim(group) + [_signatures(keys, group, ["mallory"])[
            "mallory"]])))
    h, receipts, _ = fbc.seal()
    assert [r.ok for r in receipts] == [True, True, False, False], [r.reason for r in receipts]
    assert "does not verify over the relay-key statement" in receipts[2].reason
    assert "'mallory' is not a genesis validator of the federal chain" in receipts[3].reason
    assert relay_certificate(fbc.state.kv, "relay", VALIDATORS) is None  # 2 of the 3 needed
    assert attesters["fbc.v0"].on_block(SimpleNamespace(height=h), [], 0.0) == []  # its attestation is there
    effects = attesters["fbc.v3"].on_block(SimpleNamespace(height=h), [], 0.0)
    fbc.mempool += [e.tx for e in effects if isinstance(e, SubmitTransaction)]
    fbc.seal()
    certificate = relay_certificate(fbc.state.kv, "relay", VALIDATORS)
    assert certificate is not None and sorted(certificate[-1]) == ["fbc.v0", "fbc.v1", "fbc.v3"]
    assert _install(chains["lbc1"], "r0", certificate).ok
    assert contract_state(chains["lbc1"].state.kv, GATEWAY, "group_key") == group.commitments[0]
