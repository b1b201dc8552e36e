"""The validator schedule: per-height validator sets, and certificates checked against them."""

import pytest

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import derive_key
from edgeledger.errors import ChainValidationError, ConfigError
from edgeledger.ledger import (
    Block, BlockHeader, CommitCertificate, CommitVote, Genesis, Identity, Membership, commit_statement,
    genesis_hash, transactions_root, validate_certificate,
)
from edgeledger.ledger.validation import validate_header_link

NAMES = ["v0", "v1", "v2", "v3", "v4", "v5"]
KEYS = {n: derive_key("ed25519", n.encode()) for n in NAMES}


def membership(change_delay: int = 5) -> Membership:
    ids = [Identity(node_id=n, role="company", scheme="ed25519", public_key=KEYS[n].public_key) for n in NAMES]
    return Membership(Genesis(chain_id="sched", identities=ids, validators=NAMES[:4]), change_delay=change_delay)


def certified(height: int, proposer: str, signers: list[str]) -> Block:
    header = BlockHeader(chain_id="sched", height=height, prev_hash=b"\x00" * 32, tx_root=transactions_root([]),
                         tx_count=0, proposer=proposer, timestamp_ms=0)
    block = Block(header=header, transactions=[])
    stmt = commit_statement("sched", 0, height, block.hash)
    votes = [CommitVote(replica=s, signature=KEYS[s].sign(stmt)) for s in signers]
    return Block(header=header, transactions=[], certificate=CommitCertificate(view=0, height=height,
                                                                              block_hash=block.hash, votes=votes))


def test_schedule_gives_the_set_in_force_at_each_height():
    m = membership()
    assert m.set_schedule([(5, ["v0", "v1", "v4", "v5"]), (9, ["v0", "v1", "v2", "v4", "v5"])])
    assert not m.set_schedule([(5, ["v0", "v1", "v4", "v5"]), (9, ["v0", "v1", "v2", "v4", "v5"])])  # unchanged
    assert m.validators_at(1) == m.validators_at(4) == ("v0", "v1", "v2", "v3")
    assert m.validators_at(5) == m.validators_at(8) == ("v0", "v1", "v4", "v5")
    assert m.n_at(9) == 5 and m.f_at(9) == 1 and m.quorum_at(9) == 4  # ceil((n + f + 1) / 2)
    assert m.is_validator_at("v3", 4) and not m.is_validator_at("v3", 5)
    assert m.validators_between(3, 6) == ("v0", "v1", "v2", "v3", "v4", "v5")
    assert m.validators_between(5, 8) == ("v0", "v1", "v4", "v5")
    assert m.validators == ["v0", "v1", "v2", "v3"] and m.ever_validator("v5") and not m.ever_validator("nobody")


def test_schedule_refuses_malformed_changes_and_keeps_the_last_for_one_height():
    m = membership()
    for bad, why in [([(1, ["v0"])], ">= 2"), ([(3, [])], "non-empty"), ([(3, ["v0", "v0"])], "distinct"),
                     ([(3, ["v0", "ghost"])], "no registered identity")]:
        with pytest.raises(ConfigError, match=why):
            m.set_schedule(bad)
    m.set_schedule([(4, ["v0", "v1", "v2", "v4"]), (4, ["v0", "v1", "v2", "v5"])])
    assert m.validators_at(4) == ("v0", "v1", "v2", "v5")


def test_certificate_valid_under_the_old_set_is_rejected_after_activation():
    m = membership()
    m.set_schedule([(5, ["v0", "v1", "v4", "v5"])])  # v2, v3 revoked; v4, v5 added
    old_quorum = ["v0", "v2", "v3"]
    before = certified(4, "v0", old_quorum)
    validate_certificate(before.header, before.certificate, m)  # 3 of the 4 in force at height 4
    after = certified(5, "v0", old_quorum)
    with pytest.raises(ChainValidationError, match="1 valid validator signatures of the 4 validators in force"):
        validate_certificate(after.header, after.certificate, m)
    fresh = certified(5, "v4", ["v0", "v4", "v5"])
    validate_certificate(fresh.header, fresh.certificate, m)
    early = certified(4, "v0", ["v0", "v4", "v5"])  # the new set before its activation height
    with pytest.raises(ChainValidationError, match="1 valid validator signatures"):
        validate_certificate(early.header, early.certificate, m)
    with pytest.raises(ChainValidationError, match="'v4' is not a validator at height 4"):
        validate_header_link(certified(4, "v4", []).header, b"\x00" * 32, 4, m)
    validate_header_link(fresh.header, b"\x00" * 32, 5, m)
    with pytest.raises(ChainValidationError, match="v2' is not a validator at height 5"):
        validate_header_link(certified(5, "v2", []).header, b"\x00" * 32, 5, m)


def test_pbft_needs_changes_to_activate_beyond_its_window():
    with pytest.raises(ConfigError, match="change_delay must be >= window \\+ 1 = 33"):
        PbftReplica("v0", KEYS["v0"], membership(change_delay=32), genesis_hash(membership().genesis),
                    PbftConfig(window=32))
    with pytest.raises(ConfigError, match="standby=True"):
        PbftReplica("v4", KEYS["v4"], membership(), genesis_hash(membership().genesis), PbftConfig(window=4, checkpoint_interval=2))
    standby = PbftReplica("v4", KEYS["v4"], membership(), genesis_hash(membership().genesis), PbftConfig(window=4, checkpoint_interval=2),
                          standby=True)
    assert not standby.votes_at(1) and not standby.is_primary
