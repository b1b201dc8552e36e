"""The task-sharing workflow over the simulator: latency, privacy, declines, fallback, replay."""

import pytest

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Rejected, Send
from edgeledger.ledger.contracts import implicit_collection
from edgeledger.errors import InvariantViolation, LocalProtocolError
from edgeledger.market.sharing import (
    EdgeServerCore, SharingConfig, TaskPayload, TaskRecord, advance, run_task_sharing,
)

SMALL = dict(n_edges=4, tasks=1, payload_bytes=200_000)


def test_shared_task_settles_and_payload_reaches_only_the_volunteer():
    run = run_task_sharing(SharingConfig(**SMALL))  # checks privacy, payment and ledger invariants itself
    (latency,) = run.sharing_latency_s
    assert 0 < latency < run.settled_latency_s[0]
    assert run.volunteers[0] != "edge00" and run.blocks >= 8
    # the volunteer was paid its metered usage: 0.2 MB at 0.1 s/MB = 20 ms of compute, 1 token per ms
    assert run.paid == [20]
    # compute (0.02 s) + LAN transfer + six block commits, yet no WAN round trip with the payload
    assert latency < run.cloud_latency_s[0] + 0.2


def test_a_run_replays_exactly_from_its_seed():
    a, b = run_task_sharing(SharingConfig(**SMALL, seed=7)), run_task_sharing(SharingConfig(**SMALL, seed=7))
    assert a.sharing_latency_s == b.sharing_latency_s and a.volunteers == b.volunteers and a.loads == b.loads


def test_without_a_capable_server_the_requester_falls_back_to_the_cloud():
    with pytest.raises(InvariantViolation, match="ended cloud_sent|ended cloud_done"):
        run_task_sharing(SharingConfig(**SMALL, need=95))


def test_shortlisted_server_declines_when_its_local_load_rose():
    core = EdgeServerCore("e1", derive_key("ed25519", b"e1"), capacity=100, load=90, buddy="e2")
    core.on_event("requested", {"task": "t", "requester": "e0", "need": 20}, 0.0)
    effects = core.on_event("shortlisted", {"task": "t", "shortlist": ["e1"]}, 0.0)
    assert any(getattr(e, "name", "") == "market.task_declined" for e in effects) and "t" not in core.jobs
    sends = [e for e in effects if isinstance(e, Send)]  # the decline is proposed to two endorsers first
    assert {e.to for e in sends} == {"e1", "e2"}  # itself (no local peer in this test) and its buddy
    assert all(e.message.call.method == "volunteer" and e.message.call.args == ["t", False, 0] for e in sends)


def test_payload_from_a_stranger_or_with_a_wrong_digest_is_rejected():
    details = {("tasks", implicit_collection("e1"), "task/t"): encode(encode({"payload_digest": b"\0" * 32}))}
    core = EdgeServerCore("e1", derive_key("ed25519", b"e1"), capacity=100, load=0, buddy="e2",
                          private=lambda *key: details.get(key))
    core.on_event("requested", {"task": "t", "requester": "e0", "need": 20}, 0.0)
    core.on_event("shortlisted", {"task": "t", "shortlist": ["e1"]}, 0.0)
    effects = core.on_event("agreed", {"task": "t", "volunteer": "e1"}, 0.0)
    countersign = {e.to for e in effects if isinstance(e, Send) and e.message.call.method == "countersign"}
    assert countersign == {"e1", "e0"}  # the requester co-endorses the countersignature
    (stranger,) = core.on_message("e2", TaskPayload(task_id="t", payload=b"x"), 0.0)
    (wrong,) = core.on_message("e0", TaskPayload(task_id="t", payload=b"x"), 0.0)
    assert isinstance(stranger, Rejected) and "no contract with 'e2'" in stranger.reason
    assert isinstance(wrong, Rejected) and "does not match its on-chain digest" in wrong.reason
    assert core.payloads_received == []


def test_a_volunteer_without_the_private_details_refuses_the_payload():
    core = EdgeServerCore("e1", derive_key("ed25519", b"e1"), capacity=100, load=0, buddy="e2", private=lambda *k: None)
    core.on_event("requested", {"task": "t", "requester": "e0", "need": 20}, 0.0)
    core.on_event("shortlisted", {"task": "t", "shortlist": ["e1"]}, 0.0)
    core.on_event("agreed", {"task": "t", "volunteer": "e1"}, 0.0)
    (refused,) = core.on_message("e0", TaskPayload(task_id="t", payload=b"x"), 0.0)
    assert isinstance(refused, Rejected) and "no private details" in refused.reason


def test_state_table_refuses_an_illegal_phase_change():
    task = TaskRecord("t", "e0", 1, "requested", 0.0)
    with pytest.raises(LocalProtocolError, match="cannot go from requested to settled"):
        advance(task, "settled", 1.0)
    assert task.phase == "requested"


def test_config_refuses_too_few_edges():
    with pytest.raises(Exception, match="n_edges >= 3"):
        SharingConfig(n_edges=2)
