"""The validators' heartbeat ticks the chain clock every interval, so its time moves busy or idle."""

from edgeledger.codec import decode
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import SetTimer, SubmitTransaction
from edgeledger.ledger.clock import KIND_CLOCK_TICK, ClockTick
from edgeledger.node.heartbeat import HEARTBEAT_TIMER, HeartbeatService, Signer


def service(in_force=True):
    signer = Signer(derive_key("ed25519", b"proxy"), "proxy")
    return signer, HeartbeatService(signer, 5.0, lambda: in_force)


def test_a_validator_ticks_once_per_interval_busy_chain_or_idle():
    signer, hb = service()
    assert hb.start(0.0) == [SetTimer(HEARTBEAT_TIMER, 0.0)]
    first = hb.on_timer(HEARTBEAT_TIMER, 0.0)
    assert first[0] == SetTimer(HEARTBEAT_TIMER, 5.0) and isinstance(first[1], SubmitTransaction)
    tx = first[1].tx
    assert tx.kind == KIND_CLOCK_TICK and tx.sender == "proxy" and decode(tx.payload, ClockTick).time_ms == 1
    assert hb.on_block(None, [], 3.0) == []  # blocks do not delay it: a busy chain's time moves too
    (_, tick) = hb.on_timer(HEARTBEAT_TIMER, 5.0)
    assert decode(tick.tx.payload, ClockTick).time_ms == 5_000 and tick.tx.nonce == 2 == signer.nonce


def test_a_node_out_of_the_validator_set_does_not_tick():
    _, hb = service(in_force=False)
    assert hb.on_timer(HEARTBEAT_TIMER, 10.0) == [SetTimer(HEARTBEAT_TIMER, 5.0)]
