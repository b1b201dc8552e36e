import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeledger.errors import LocalProtocolError, RemoteProtocolError
from edgeledger.ledger.contracts import contract_state
from edgeledger.ledger.clock import chain_time_ms
from edgeledger.market import ChannelReceiver, ChannelSender
from tests.market.consortium import Chain

ACCOUNTS = ["dev0", "proxy", "en0", "c0", "@escrow"]
TIMEOUT = 8_000  # ms of chain time before the sender may ask a refund
WINDOW = 5_000  # ms: the challenge window this instance is deployed with


def bal(c, who):
    return contract_state(c.state.kv, "pay", f"bal/{who}", 0)


def chan(c, cid):
    return contract_state(c.state.kv, "pay", f"chan/{cid}")


def setup():
    c = Chain()
    c.advance(1_000)  # the sealers' first ticks: the chain has a time
    assert c.deploy("proxy", "pay", "edgetoll.payments", 2, [WINDOW]).ok
    assert c.call("proxy", "pay", "deposit", "dev0", 100)[0].ok
    assert c.call("proxy", "pay", "deposit", "proxy", 100)[0].ok
    return c


def open_channel(c, sender, receiver, deposit, timeout=TIMEOUT):
    r, cid = c.call(sender, "pay", "open_channel", receiver, deposit, timeout)
    assert r.ok, r.reason
    tx_side = ChannelSender(c.keys[sender], "edgetoll", "pay", cid, deposit)
    rx_side = ChannelReceiver(c.membership, sender, "pay", cid, deposit)
    return cid, tx_side, rx_side


def test_token_transfers_and_withdrawals_conserve_supply():
    c = setup()
    assert c.call("dev0", "pay", "transfer", "c0", 30)[0].ok
    assert "has 70 tokens, needs 71" in c.call("dev0", "pay", "transfer", "c0", 71)[0].reason
    assert "positive integer" in c.call("dev0", "pay", "transfer", "c0", -5)[0].reason
    assert "needs role proxy" in c.call("dev0", "pay", "deposit", "dev0", 5)[0].reason
    assert c.call("c0", "pay", "withdraw", 10)[0].ok
    assert (bal(c, "dev0"), bal(c, "c0"), contract_state(c.state.kv, "pay", "supply")) == (70, 20, 190)


def test_receiver_closes_with_latest_voucher_and_settles_after_window():
    c = setup()
    cid, sender, receiver = open_channel(c, "dev0", "proxy", 40)
    assert bal(c, "dev0") == 60 and bal(c, "@escrow") == 40
    for inc in (5, 5, 10):
        receiver.accept(sender.pay(inc))
    assert receiver.amount == 20
    v = receiver.latest
    assert not c.call("dev0", "pay", "close", cid, v.amount, v.signature)[0].ok  # only the receiver
    assert c.call("proxy", "pay", "close", cid, v.amount, v.signature)[0].ok
    assert "challenge window is still open" in c.call("c0", "pay", "settle", cid)[0].reason
    c.empty_blocks(50)  # blocks alone do not end a window counted in time
    assert "challenge window is still open" in c.call("c0", "pay", "settle", cid)[0].reason
    c.advance(WINDOW - 1)
    assert "challenge window is still open" in c.call("c0", "pay", "settle", cid)[0].reason
    c.advance(1)
    assert c.call("c0", "pay", "settle", cid)[0].ok
    assert (bal(c, "proxy"), bal(c, "dev0"), bal(c, "@escrow")) == (120, 80, 0)
    assert "not closing" in c.call("c0", "pay", "settle", cid)[0].reason  # no double payout


def test_refund_only_after_timeout_and_receiver_challenge_wins():
    c = setup()
    cid, sender, receiver = open_channel(c, "proxy", "en0", 30)
    receiver.accept(sender.pay(12))
    assert "expires at" in c.call("proxy", "pay", "refund", cid)[0].reason
    c.advance(TIMEOUT)
    assert c.call("proxy", "pay", "refund", cid)[0].ok
    v = receiver.latest
    assert c.call("en0", "pay", "challenge", cid, v.amount, v.signature)[0].ok
    old = sender.voucher(3)
    assert "not newer" in c.call("en0", "pay", "challenge", cid, old.amount, old.signature)[0].reason
    c.advance(WINDOW)
    assert c.call("proxy", "pay", "settle", cid)[0].ok
    assert (bal(c, "en0"), bal(c, "proxy")) == (12, 88)


def test_forged_replayed_and_oversized_vouchers_are_refused():
    c = setup()
    cid, sender, receiver = open_channel(c, "dev0", "proxy", 10)
    cid2, sender2, _ = open_channel(c, "dev0", "proxy", 10)
    too_much = sender.voucher(11)
    assert "exceeds the deposit" in c.call("proxy", "pay", "close", cid, 11, too_much.signature)[0].reason
    other = sender2.voucher(5)  # a voucher of channel 2 replayed on channel 1
    assert "not signed by 'dev0'" in c.call("proxy", "pay", "close", cid, 5, other.signature)[0].reason
    self_signed = c.keys["proxy"].sign(b"whatever")
    assert not c.call("proxy", "pay", "close", cid, 5, self_signed)[0].ok
    with pytest.raises(LocalProtocolError):
        sender.pay(11)
    with pytest.raises(RemoteProtocolError):
        receiver.accept(too_much)
    with pytest.raises(RemoteProtocolError):
        receiver.accept(msgspec.structs.replace(sender.voucher(4), amount=9))
    assert receiver.accept(sender.voucher(4)) == 4 and receiver.accept(sender.voucher(2)) == 0
    assert receiver.amount == 4


# -- property test over adversarial schedules ----------------------------------------------
action = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 1), st.integers(1, 15)),
    st.tuples(st.just("time"), st.integers(0, 1), st.integers(1, 4)),
    st.tuples(st.just("receiver_close"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("sender_refund"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("sender_close_stale"), st.integers(0, 1), st.integers(1, 60)),
    st.tuples(st.just("double_spend"), st.integers(0, 1), st.integers(1, 120)),
    st.tuples(st.just("settle"), st.integers(0, 1), st.just(0)),
)


def check_conservation(c, supply):
    balances = [bal(c, a) for a in ACCOUNTS]
    assert all(b >= 0 for b in balances)
    assert sum(balances) == supply == contract_state(c.state.kv, "pay", "supply")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=25), st.integers(1, 60), st.integers(1, 60))
def test_channels_are_safe_under_adversarial_schedules(schedule, dep0, dep1):
    c = setup()
    supply = 200
    channels = [open_channel(c, "dev0", "proxy", dep0), open_channel(c, "proxy", "en0", dep1)]
    start = {"dev0": bal(c, "dev0") + dep0, "proxy": bal(c, "proxy") + dep1, "en0": 0}
    paid_out = [0, 0]

    def honest_receiver_watch(i):
        """The honest receiver answers any claim below its latest voucher within the window."""
        cid, _, rx = channels[i]
        ch = chan(c, cid)
        if ch["state"] == "closing" and ch["amount"] < rx.amount and chain_time_ms(c.state.kv) < ch["settle_at_ms"]:
            assert c.call(ch["receiver"], "pay", "challenge", cid, rx.amount, rx.latest.signature)[0].ok

    for kind, i, n in schedule:
        cid, tx_side, rx = channels[i]
        ch = chan(c, cid)
        if kind == "pay" and ch["state"] == "open" and tx_side.paid + n <= tx_side.deposit:
            rx.accept(tx_side.pay(n))
        elif kind == "time":
            c.advance(n * 1_000)
        elif kind == "receiver_close" and rx.latest is not None:
            c.call(ch["receiver"], "pay", "close", cid, rx.amount, rx.latest.signature)
        elif kind == "sender_refund":
            c.call(ch["sender"], "pay", "refund", cid)
        elif kind == "sender_close_stale":  # the sender tries to close/challenge with an old or invented state
            v = tx_side.voucher(n)
            r, _ = c.call(ch["sender"], "pay", "close", cid, v.amount, v.signature)
            assert not r.ok
            v = tx_side.voucher(min(n, tx_side.deposit))  # may raise the claim a little; never lower it
            claimed = ch["amount"]
            r, _ = c.call(ch["sender"], "pay", "challenge", cid, v.amount, v.signature)
            assert chan(c, cid)["amount"] >= claimed
        elif kind == "double_spend":  # spend more than the free balance (the escrow is locked)
            free = bal(c, ch["sender"])
            r, _ = c.call(ch["sender"], "pay", "transfer", "c0", n)
            assert r.ok == (n <= free)
        elif kind == "settle":
            before = bal(c, ch["receiver"])
            r, _ = c.call("c0", "pay", "settle", cid)
            if r.ok:
                paid_out[i] += bal(c, ch["receiver"]) - before
        honest_receiver_watch(0)
        honest_receiver_watch(1)
        check_conservation(c, supply)

    # wind down: the receiver holds its latest voucher; the sender eventually refunds
    c.advance(TIMEOUT)
    for i, (cid, _, rx) in enumerate(channels):
        ch = chan(c, cid)
        if ch["state"] == "open":
            c.call(ch["sender"], "pay", "refund", cid)
        honest_receiver_watch(i)
    c.advance(WINDOW)
    for i, (cid, tx_side, rx) in enumerate(channels):
        before = bal(c, chan(c, cid)["receiver"])
        if chan(c, cid)["state"] == "closing":
            assert c.call("c0", "pay", "settle", cid)[0].ok
            paid_out[i] += bal(c, chan(c, cid)["receiver"]) - before
        ch = chan(c, cid)
        assert ch["state"] == "settled"
        assert paid_out[i] == ch["amount"] >= rx.amount  # honest receiver gets at least the latest it holds
        assert ch["amount"] <= ch["deposit"]
        assert not c.call("c0", "pay", "settle", cid)[0].ok  # settles once
    assert bal(c, "@escrow") == 0
    check_conservation(c, supply)


def test_channels_need_the_chain_clock():
    c = Chain()
    assert c.deploy("proxy", "pay", "edgetoll.payments", 2, [WINDOW]).ok
    assert c.call("proxy", "pay", "deposit", "dev0", 100)[0].ok
    r, _ = c.call("dev0", "pay", "open_channel", "proxy", 10, TIMEOUT)
    assert "no time yet" in r.reason and "heartbeat" in r.reason
    assert "challenge_window_ms must be a positive integer" in c.deploy("proxy", "pay2", "edgetoll.payments", 2, [0]).reason
