"""The chain's BFT time: validators' ticks, the (f+1)-th largest rule, no rushing by a faulty few."""

from edgeledger.ledger.clock import KIND_CLOCK_TICK, ClockTick, bft_time, chain_time_ms, last_tick_ms
from tests.market.consortium import Chain


def tick(c, sender, ms):
    (receipt,) = c.block([c.tx(sender, KIND_CLOCK_TICK, ClockTick(time_ms=ms))])
    return receipt


def test_chain_time_is_the_f_plus_1_th_largest_tick():
    assert bft_time([], 4) == 0
    assert bft_time([5_000], 4) == 0  # one validator alone (possibly faulty) does not set the time
    assert bft_time([5_000, 3_000], 4) == 3_000
    assert bft_time([9, 7, 5, 3], 4) == 7 and bft_time([9, 7, 5, 3, 1, 0, 0], 7) == 5  # f = 2


def test_one_faulty_sealer_cannot_rush_the_chain_time():
    c = Chain()  # sealers proxy, c0, c1, c2: f = 1
    assert tick(c, "proxy", 10**12).ok  # the proxy claims it is the year 33658
    assert chain_time_ms(c.state.kv) == 0
    for v in ("c0", "c1", "c2"):
        assert tick(c, v, 2_000).ok
    assert chain_time_ms(c.state.kv) == 2_000  # honest clocks decide
    assert tick(c, "c0", 3_000).ok and chain_time_ms(c.state.kv) == 3_000


def test_ticks_come_from_validators_in_force_and_only_move_forward():
    c = Chain()
    r = tick(c, "c3", 1_000)  # a company, but not a sealer
    assert not r.ok and "only the validators in force" in r.reason
    assert not tick(c, "dev0", 1_000).ok
    assert tick(c, "c1", 1_000).ok
    r = tick(c, "c1", 1_000)
    assert not r.ok and "must exceed its last tick 1000" in r.reason
    assert last_tick_ms(c.state.kv, "c1") == 1_000


def test_the_chain_time_moves_only_when_f_plus_1_sealers_are_past_it():
    c = Chain()
    c.advance(5_000)
    assert chain_time_ms(c.state.kv) == 5_000
    assert tick(c, "proxy", 6_000).ok and chain_time_ms(c.state.kv) == 5_000
    assert tick(c, "c0", 7_000).ok and chain_time_ms(c.state.kv) == 6_000
