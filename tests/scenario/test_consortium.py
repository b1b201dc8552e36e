"""The scenario's [consortium]: EdgeToll accounts and EN owners, validated and put in the genesis."""

import pytest

from edgeledger.errors import ConfigError
from edgeledger.scenario.schema import parse_scenario
from edgeledger.scenario.topology import (
    account_public_keys,
    consortium_keys,
    edge_node_owners,
    make_genesis,
    plan_topology,
)

BASE = {"topology": {"edges": 4, "devices_per_edge": 1, "validators": ["edge"]}, "fl": {"clients_per_round": 4}}
ACCOUNTS = {"proxy": "proxy", "company-a": "company", "company-b": "company"}


def scenario(**consortium):
    return parse_scenario({**BASE, "consortium": consortium})


def node_keys(plan):
    from edgeledger.crypto.keys import derive_key

    return {n: ("ed25519", derive_key("ed25519", f"node/{n}".encode()).public_key) for n in plan.roles}


@pytest.mark.parametrize("consortium, message", [
    ({"accounts": {"proxy": "boss"}},
     "consortium.accounts.proxy: got 'boss'; expected input should be 'proxy', 'company', 'en' or 'device'"),
    ({"accounts": {"edge-1": "company"}},
     "consortium.accounts: 'edge-1' is already a node id of the topology; give the account another name"),
    ({"accounts": {"device-3": "device"}}, "consortium.accounts: 'device-3' is already a node id"),
    ({"accounts": {"a b": "company"}}, "consortium.accounts: name 'a b' must be non-empty letters"),
    ({"accounts": ACCOUNTS, "edge_nodes": {"edge-7": "company-a"}},
     r"consortium.edge_nodes: \['edge-7'\] are not edge servers of this topology \(edge-0..edge-3\)"),
    ({"accounts": ACCOUNTS, "edge_nodes": {"device-0": "company-a"}}, "consortium.edge_nodes: .'device-0'. are not"),
    ({"accounts": ACCOUNTS, "edge_nodes": {"edge-0": "proxy"}},
     "consortium.edge_nodes.edge-0: owner 'proxy' is not a company account; companies: .'company-a', 'company-b'."),
    ({"accounts": ACCOUNTS, "public_keys": {"nobody": "00"}},
     "consortium.public_keys: 'nobody' is not an account; declare it in consortium.accounts"),
    ({"accounts": ACCOUNTS, "public_keys": {"proxy": "xyz"}}, "consortium.public_keys.proxy: expected a hex public key"),
    ({"accounts": ACCOUNTS, "public_keys": {"proxy": "00" * 31}},
     "consortium.public_keys.proxy: an ed25519 public key is 32 bytes, got 31 .topology.signature_scheme is 'ed25519'."),
    ({"acounts": ACCOUNTS}, "consortium.acounts: unknown key"),
])
def test_consortium_errors_are_one_line_naming_the_key(consortium, message):
    with pytest.raises(ConfigError, match=message) as exc:
        scenario(**consortium)
    assert "\n" not in str(exc.value) and str(exc.value).startswith("consortium.")


def test_public_keys_must_be_keys_of_the_topologys_signature_scheme():
    from edgeledger.crypto.keys import derive_key

    def with_scheme(scheme, key):
        return parse_scenario({**BASE, "topology": {**BASE["topology"], "signature_scheme": scheme},
                               "consortium": {"accounts": ACCOUNTS, "public_keys": {"proxy": key.hex()}}})

    p256 = derive_key("ecdsa-p256", b"mine").public_key  # 33-byte compressed SEC1 point
    assert account_public_keys(with_scheme("ecdsa-p256", p256))["proxy"] == ("ecdsa-p256", p256)
    with pytest.raises(ConfigError, match="ecdsa-p256 public key is a SEC1 point of 33 .compressed. or 65 bytes, got 32"):
        with_scheme("ecdsa-p256", derive_key("ed25519", b"mine").public_key)
    off_curve = bytes([2]) + bytes(31) + bytes([7])  # x = 7 is on neither curve (y^2 is a non-residue)
    with pytest.raises(ConfigError, match="consortium.public_keys.proxy: not a point on the ecdsa-p256 curve"):
        with_scheme("ecdsa-p256", off_curve)
    with pytest.raises(ConfigError, match="not a point on the ecdsa-secp256k1 curve"):
        with_scheme("ecdsa-secp256k1", off_curve)


def test_edge_servers_go_to_the_companies_in_turn_unless_mapped():
    assert edge_node_owners(scenario(accounts=ACCOUNTS)) == {
        "edge-0": "company-a", "edge-1": "company-b", "edge-2": "company-a", "edge-3": "company-b"}
    mapped = scenario(accounts=ACCOUNTS, edge_nodes={"edge-3": "company-b", "edge-1": "company-a"})
    assert edge_node_owners(mapped) == {"edge-1": "company-a", "edge-3": "company-b"}
    assert edge_node_owners(scenario(accounts={"proxy": "proxy"})) == {}
    assert edge_node_owners(parse_scenario(BASE)) == {}


def test_genesis_holds_the_accounts_after_the_nodes_and_is_derived_identically():
    s = scenario(accounts=ACCOUNTS)
    plan = plan_topology(s)
    first = make_genesis(plan, node_keys(plan))
    again = make_genesis(plan_topology(scenario(accounts=dict(reversed(ACCOUNTS.items())))), node_keys(plan))
    assert first == again  # same accounts in another order: the same genesis, byte for byte
    ids = [(i.node_id, i.role) for i in first.identities]
    assert ids[:len(plan.roles)] == list(plan.roles.items())  # node identities keep their topology roles
    assert ids[len(plan.roles):] == [("company-a", "company"), ("company-b", "company"), ("proxy", "proxy")]
    assert first.validators == ["edge-0", "edge-1", "edge-2", "edge-3"]  # accounts do not seal
    keys = consortium_keys(s)
    assert {i.node_id: i.public_key for i in first.identities if i.node_id in keys} == {
        n: k.public_key for n, k in keys.items()}
    other_seed = parse_scenario({**BASE, "seed": 7, "consortium": {"accounts": ACCOUNTS}})
    assert consortium_keys(other_seed)["proxy"].public_key != keys["proxy"].public_key


def test_a_declared_public_key_is_used_and_no_test_key_is_derived():
    from edgeledger.crypto.keys import derive_key

    mine = derive_key("ed25519", b"kept by the proxy's operator")
    s = scenario(accounts=ACCOUNTS, public_keys={"proxy": mine.public_key.hex()})
    assert "proxy" not in consortium_keys(s) and set(consortium_keys(s)) == {"company-a", "company-b"}
    assert account_public_keys(s)["proxy"] == ("ed25519", mine.public_key)
    plan = plan_topology(s)
    genesis = make_genesis(plan, node_keys(plan))
    assert next(i for i in genesis.identities if i.node_id == "proxy").public_key == mine.public_key


def test_accounts_sign_by_their_roles_and_the_matching_rules_still_hold():
    """The derived keys verify against the genesis; companies register their own ENs, devices match."""
    import edgeledger.market  # noqa: F401 - registers edgetoll.matching
    from edgeledger.crypto.keys import derive_key
    from edgeledger.ledger import Block, LedgerState, Membership, make_transaction
    from edgeledger.ledger.block import BlockHeader
    from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_state

    s = scenario(accounts=ACCOUNTS)
    plan = plan_topology(s)
    device_key = derive_key("ed25519", b"node/device-0")
    keys = {**consortium_keys(s), "device-0": device_key}
    state = LedgerState(Membership(make_genesis(plan, node_keys(plan))))
    nonce = iter(range(1, 100))

    def call(sender, method, *args):
        payload = ContractCall(contract="m", method=method, args=list(args))
        tx = make_transaction(keys[sender], sender, next(nonce), "contract.call", payload)
        header = BlockHeader(chain_id=state.membership.chain_id, height=state.height + 1, prev_hash=b"", tx_root=b"",
                             tx_count=1, proposer="edge-0", timestamp_ms=0)
        (receipt,) = state.apply_block(Block(header=header, transactions=[tx]))
        return receipt

    deploy = make_transaction(keys["proxy"], "proxy", next(nonce), "contract.deploy",
                              ContractDeploy(name="m", code="edgetoll.matching", version=1))
    header = BlockHeader(chain_id=state.membership.chain_id, height=1, prev_hash=b"", tx_root=b"", tx_count=1,
                         proposer="edge-0", timestamp_ms=0)
    assert state.apply_block(Block(header=header, transactions=[deploy]))[0].ok
    assert call("company-a", "add_node", "edge-0", "company-a", 0, 0, 5, 1).ok
    refused = call("company-a", "add_node", "edge-1", "company-b", 9, 9, 5, 1)  # not its own EN
    assert not refused.ok and "may register only its own edge nodes" in refused.reason
    assert not call("device-0", "add_node", "edge-2", "company-a", 1, 1, 5, 1).ok  # a device is no company
    assert call("proxy", "add_node", "edge-3", "company-b", 50, 50, 5, 1).ok  # the proxy may, for any company
    assert call("device-0", "edge_match", "device-0", 1, 1, 1).ok
    other = call("device-0", "edge_match", "device-1", 1, 1, 1)  # a match is requested only for oneself
    assert not other.ok and "may request a match only for itself" in other.reason
    assert not call("company-b", "edge_match", "company-b", 1, 1, 1).ok  # companies do not request matches
    assert contract_state(state.kv, "m", "match/0")["en_id"] == "edge-0"
