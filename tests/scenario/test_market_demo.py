"""EdgeToll's market on its consortium chain: PBFT sealers, certificates, the proxy service, time windows."""

import pytest

from edgeledger.effects import Rejected
from edgeledger.ledger import validate_chain
from edgeledger.ledger.clock import KIND_CLOCK_TICK, chain_time_ms
from edgeledger.market.edgetoll import DeviceVoucher, EnPayments, ProxyPayments
from edgeledger.market.channels import ChannelSender
from edgeledger.scenario.market_demo import run_market_demo


@pytest.fixture(scope="module")
def run():
    return run_market_demo(seed=3, n_ens=4, n_devices=5, payments=4, challenge_window_s=20.0, heartbeat_s=2.0)


def test_the_market_runs_on_the_sealers_pbft_chain_with_valid_certificates(run):
    membership = run.network.membership
    assert membership.validators == ["proxy", "company-0", "company-1", "company-2"]
    blocks = run.store.blocks()
    validate_chain(blocks, membership, membership.genesis_hash)  # links, Merkle roots, 2f+1 commit signatures
    assert all(b.certificate is not None and len(b.certificate.votes) >= 3 for b in blocks)
    assert all(b.header.prev_hash == a.hash for a, b in zip(blocks, blocks[1:]))
    assert {b.header.proposer for b in blocks} <= set(membership.validators)
    head = run.store.head().hash
    for node_id in ("edge-0", "edge-3", "device-0", "cloud"):  # ENs, devices, the cloud follow as observers
        assert run.network.nodes[node_id].store.head().hash == head
        assert run.network.nodes[node_id].consensus is None


def test_the_proxy_service_forwards_device_payments_to_the_matched_ens_through_its_channels(run):
    proxy = run.network.nodes["proxy"].service(ProxyPayments)
    payers = list(run.matched)[:-1]
    assert sum(proxy.received_from.values()) > 0 and set(proxy.received_from) == set(payers)
    for en in set(run.matched[d] for d in payers):
        en_side = run.network.nodes[en].service(EnPayments)
        assert en_side.received == proxy.owed(en) == sum(en_side.settled.values()) > 0
        (channel,) = en_side.receiving.values()
        assert channel.sender == "proxy"  # the proxy's own channel to the EN, opened on demand
    kv = run.state.kv
    txs = [tx for b in run.store.blocks() for tx in b.transactions]
    assert sum(1 for tx in txs if tx.kind == "contract.call" and tx.sender in payers) == 2 * len(payers)  # match, open
    from edgeledger.ledger.contracts import contract_state

    assert contract_state(kv, "pay", "supply") == sum(
        contract_state(kv, "pay", f"bal/{a}", 0) for a in [*run.network.membership.identities, "@escrow"])


def test_the_challenge_window_in_seconds_is_honoured_while_the_chain_idles(run):
    assert run.settled_at and set(run.settled_at) == set(run.closed_at)
    for channel, settled in run.settled_at.items():
        delay = settled - run.closed_at[channel]
        assert 20.0 <= delay <= 20.0 + 2 * 2.0 + 1.0  # the window, plus at most a heartbeat or two
    closed, settled = max(run.closed_at.values()), min(run.settled_at.values())
    between = [b for b in run.store.blocks() if b.header.timestamp_ms / 1000 > closed + 0.5
               and b.header.timestamp_ms / 1000 < settled - 0.5]
    assert len(between) >= 5 and all(tx.kind == KIND_CLOCK_TICK for b in between for tx in b.transactions)
    assert chain_time_ms(run.state.kv) >= 20_000


def test_the_window_scales_with_the_configured_seconds():
    slow = run_market_demo(seed=3, n_ens=3, n_devices=3, payments=1, challenge_window_s=45.0, heartbeat_s=5.0)
    delays = [slow.settled_at[c] - slow.closed_at[c] for c in slow.settled_at]
    assert delays and all(45.0 <= d <= 45.0 + 2 * 5.0 + 1.0 for d in delays)


def test_the_proxy_refuses_a_forged_or_misdirected_device_voucher(run):
    proxy = run.network.nodes["proxy"].service(ProxyPayments)
    device, channel = next((rx.sender, cid) for cid, rx in proxy.receiving.items())
    before = dict(proxy.credit)
    forger = ChannelSender(run.network.nodes["device-1"].key, run.network.membership.chain_id, "pay", channel, 50)
    effects = proxy.on_message(device, DeviceVoucher(voucher=forger.pay(50)), 0.0)
    assert [type(e) for e in effects] == [Rejected] and "bad signature" in effects[0].reason
    honest = ChannelSender(run.network.nodes[device].key, run.network.membership.chain_id, "pay", channel, 50)
    effects = proxy.on_message("device-4", DeviceVoucher(voucher=honest.pay(50)), 0.0)
    assert isinstance(effects[0], Rejected) and f"belongs to {device!r}" in effects[0].reason
    assert proxy.credit == before
