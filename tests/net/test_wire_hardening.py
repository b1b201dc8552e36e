"""The hardened wire (issue 18): chain-bound envelopes, replays refused across restarts, rate limits
before signature checks, bounded per-peer queues with a counted drop policy."""

from __future__ import annotations

import asyncio

from edgeledger.codec import encode
from edgeledger.effects import Send
from edgeledger.net.envelope import Envelope, WireLog, seal
from edgeledger.net.http import HttpDriver
from tests.net.test_http_driver import KEYS, Host, _message, verify


def _driver(tmp_path=None, **kw) -> HttpDriver:
    log = WireLog(tmp_path / "wire.sqlite") if tmp_path is not None else None
    return HttpDriver(Host("b"), KEYS["b"], verify, chain_id="lbc1", wire_log=log, **kw)


def test_an_envelope_is_bound_to_its_chain_and_its_recipient():
    b = _driver()
    body = encode(_message("hello"))
    assert b._accept(seal(KEYS["a"], "a", "b", 1, body, chain_id="lbc2")) == 0  # signed for another chain
    forged = Envelope(sender="a", recipient="b", sequence=2, body=body, chain_id="lbc2")
    signature = KEYS["a"].sign(forged.signing_bytes())
    relabelled = encode(Envelope(sender="a", recipient="b", sequence=2, body=body, chain_id="lbc1",
                                 signature=signature))
    assert b._accept(relabelled) == 0  # the chain id is under the signature
    assert b.stats.rejected_by_reason["signature"] == 1
    assert b._accept(seal(KEYS["a"], "a", "c", 3, body, chain_id="lbc1")) == 0  # another recipient
    assert b._accept(seal(KEYS["a"], "a", "b", 4, body, chain_id="lbc1")) == 1


def test_a_replay_is_refused_after_the_receiver_restarts(tmp_path):
    raw = seal(KEYS["a"], "a", "b", 7, encode(_message("once")), chain_id="lbc1")
    b = _driver(tmp_path)
    assert b._accept(raw) == 1
    b.wire_log.close()
    again = _driver(tmp_path)  # a new process on the same data directory
    assert again._accept(raw) == 0 and again.stats.rejected_by_reason["replay"] == 1
    assert again._accept(seal(KEYS["a"], "a", "b", 8, encode(_message("new")), chain_id="lbc1")) == 1


def test_a_sender_keeps_raising_its_sequence_across_restarts_even_when_its_clock_goes_back(tmp_path):
    async def main():
        log = WireLog(tmp_path / "wire.sqlite")
        a = HttpDriver(Host("a"), KEYS["a"], verify, chain_id="lbc1", wire_log=log, clock=lambda: 0.0)
        a._sequence = 10**15  # as if its clock had been far ahead before the restart
        first = a._next_sequence()
        await a.close()
        again = HttpDriver(Host("a"), KEYS["a"], verify, chain_id="lbc1", wire_log=WireLog(tmp_path / "wire.sqlite"))
        assert again._next_sequence() > first
        await again.close()

    asyncio.run(main())


def test_the_rate_limit_refuses_a_flood_before_any_signature_is_checked():
    checked = []

    def counting_verify(node_id, message, signature):
        checked.append(node_id)
        return verify(node_id, message, signature)

    b = HttpDriver(Host("b"), KEYS["b"], counting_verify, chain_id="lbc1", rate_per_peer=5)
    garbage = [encode(Envelope(sender="a", recipient="b", sequence=i, body=b"x", chain_id="lbc1",
                               signature=b"\0" * 64)) for i in range(1, 101)]
    assert sum(b._accept(raw) for raw in garbage) == 0
    assert len(checked) <= 6 and b.stats.rejected_by_reason["rate_limited"] >= 94


def test_a_slow_peer_fills_its_bounded_queue_and_the_oldest_messages_are_dropped_and_counted():
    async def main():
        a = HttpDriver(Host("a"), KEYS["a"], verify, chain_id="lbc1", max_queue=50)
        a._worker = lambda to, queue: asyncio.sleep(3600)  # a peer that never takes anything
        for i in range(200):
            a.apply([Send("b", _message(f"m{i}"))])
        assert a.queued("b") == 50
        assert a.stats.dropped_by_reason["queue_full"] == 150
        assert a._queues["b"][0][1].peers[0].node_id == "m150"  # the newest 50 are kept
        for task in a._workers.values():
            task.cancel()

    asyncio.run(main())
