"""Random and mutated bytes fed to a PBFT replica are refused and change nothing (DESIGN rule 5)."""

from typing import Union

from hypothesis import given, settings, strategies as st

from edgeledger.codec import decode, encode
from edgeledger.consensus.pbft import PBFT_MESSAGES, PbftReplica
from edgeledger.errors import DecodeError
from edgeledger.ledger import genesis_hash, make_transaction, validate_chain
from tests.conftest import make_chain
from tests.consensus.harness import Harness

WIRE = Union[tuple(PBFT_MESSAGES)]  # type: ignore[valid-type]
KEYS, MEMBERSHIP = make_chain(4)


def _recorded_messages():
    h = Harness(KEYS, MEMBERSHIP, silent={"v0"})  # forces a view change: VIEW-CHANGE and NEW-VIEW on the wire
    for i in range(3):
        h.submit("v1", make_transaction(KEYS["dev0"], "dev0", i + 1, "test.noop", b"%d" % i))
    h.run(until=15)
    return [(src, encode(msg)) for src, _, msg in h.sent]


MESSAGES = _recorded_messages()


def _snapshot(r: PbftReplica):
    return (r.view, r.status, r.committed_height, r.last_hash, sorted(r.slots), sorted(r.prepared),
            r.checkpoints.stable_height, sorted(r.view_changes))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(MESSAGES) - 1), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
       st.sampled_from(["v1", "v2", "v3"]))
def test_pbft_mutated_messages_are_refused_without_a_state_change(index, flips, claimed_sender):
    src, data = MESSAGES[index]
    junk = bytearray(data)
    for pos, value in flips:
        junk[pos % len(junk)] = value
    if bytes(junk) == data:
        return
    replica = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, genesis_hash(MEMBERSHIP.genesis))
    before = _snapshot(replica)
    try:
        msg = decode(bytes(junk), WIRE)
    except (DecodeError, UnicodeDecodeError):
        return
    effects = replica.receive(claimed_sender, msg, 1.0)
    rejected = any(type(e).__name__ == "Rejected" for e in effects)
    if rejected:  # a refused input changed nothing
        assert _snapshot(replica) == before
    # whatever was accepted, the chain only ever holds correctly certified blocks
    validate_chain([replica.chain[h] for h in sorted(replica.chain)], MEMBERSHIP, genesis_hash(MEMBERSHIP.genesis))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_pbft_random_bytes_never_decode_into_an_accepted_message(data):
    try:
        msg = decode(data, WIRE)
    except (DecodeError, UnicodeDecodeError):
        return
    replica = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, genesis_hash(MEMBERSHIP.genesis))
    replica.receive("v1", msg, 1.0)
    assert replica.committed_height == 0 and replica.view == 0
