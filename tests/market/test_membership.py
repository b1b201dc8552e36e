from edgeledger.ledger.contracts import role_of
from edgeledger.market import (
    JoinRequest, MembershipProposal, MembershipVote, companies, proposal_state, validator_schedule, validator_set,
)
from tests.market.consortium import Chain

ROLES = {"proxy": "proxy", "c0": "company", "c1": "company", "c2": "company", "c3": "company",
         "newco": "observer", "dev0": "observer", "en0": "observer"}


def chain():
    return Chain(ROLES)


def test_observers_join_with_their_identifying_digest():
    c = chain()
    assert c.submit("dev0", "membership.join", JoinRequest(role="device", info_digest=b"\x01" * 32)).ok
    assert c.submit("en0", "membership.join", JoinRequest(role="en", info_digest=b"\x02" * 32)).ok
    assert role_of(c.state.kv, c.membership, "dev0") == "device"
    assert c.state.kv["membership/info/en0"] == b"\x02" * 32
    r = c.submit("dev0", "membership.join", JoinRequest(role="en", info_digest=b""))
    assert not r.ok and "already a member" in r.reason
    assert not c.submit("c0", "membership.join", JoinRequest(role="en", info_digest=b"")).ok


def test_new_sealer_needs_more_than_two_thirds_of_companies_and_starts_after_the_change_delay():
    c = chain()
    assert validator_set(c.state) == ["proxy", "c0", "c1", "c2"]
    assert c.submit("c0", "membership.propose", MembershipProposal(action="add_sealer", node_id="newco")).ok
    assert not c.submit("dev0", "membership.vote", MembershipVote(proposal=0, approve=True)).ok  # not a company
    assert not c.submit("proxy", "membership.vote", MembershipVote(proposal=0, approve=True)).ok  # proxy does not vote
    for voter in ["c0", "c1"]:
        assert c.submit(voter, "membership.vote", MembershipVote(proposal=0, approve=True)).ok
    assert proposal_state(c.state.kv, 0).status == "open"  # 2 of 4 is not > 2/3
    assert "already voted" in c.submit("c1", "membership.vote", MembershipVote(proposal=0, approve=True)).reason
    passed_at = c.submit("c2", "membership.vote", MembershipVote(proposal=0, approve=True)).height  # 3 of 4
    assert proposal_state(c.state.kv, 0).status == "passed"
    delay = c.membership.change_delay  # PBFT window + 1: nobody voted that far ahead of block passed_at
    assert "newco" not in validator_set(c.state, passed_at + delay - 1)
    assert validator_set(c.state, passed_at + delay) == ["proxy", "c0", "c1", "c2", "newco"]
    assert validator_schedule(c.state) == [(passed_at + delay, ["proxy", "c0", "c1", "c2", "newco"])]
    assert "newco" in companies(c.state.kv, c.membership)
    assert role_of(c.state.kv, c.membership, "newco") == "company"


def test_revocation_needs_the_same_supermajority_and_a_no_block_fails_it():
    c = Chain(ROLES, validators=("proxy", "c0", "c1", "c2", "c3"))  # five: one may go
    c.submit("proxy", "membership.propose", MembershipProposal(action="revoke", node_id="c2"))
    c.submit("c2", "membership.vote", MembershipVote(proposal=0, approve=False))
    c.submit("c3", "membership.vote", MembershipVote(proposal=0, approve=False))
    assert proposal_state(c.state.kv, 0).status == "failed"  # at most 2 of 4 can say yes now
    c.submit("proxy", "membership.propose", MembershipProposal(action="revoke", node_id="c2"))
    for voter in ["c0", "c1", "c3"]:
        c.submit(voter, "membership.vote", MembershipVote(proposal=1, approve=True))
    assert proposal_state(c.state.kv, 1).status == "passed"
    assert validator_set(c.state, c.state.height + c.membership.change_delay) == ["proxy", "c0", "c1", "c3"]
    assert role_of(c.state.kv, c.membership, "c2") is None
    r = c.submit("c2", "membership.vote", MembershipVote(proposal=1, approve=True))
    assert not r.ok and "only companies vote" in r.reason


def test_cannot_add_an_existing_sealer_or_unknown_identity():
    c = chain()
    assert "already a sealer" in c.submit("c0", "membership.propose",
                                          MembershipProposal(action="add_sealer", node_id="c1")).reason
    assert "no registered key" in c.submit("c0", "membership.propose",
                                           MembershipProposal(action="add_sealer", node_id="ghost")).reason
    assert "expected proxy or company" in c.submit("dev0", "membership.propose",
                                                   MembershipProposal(action="revoke", node_id="c1")).reason


def test_a_revocation_that_would_leave_fewer_than_four_sealers_is_refused():
    c = chain()  # four sealers: proxy, c0, c1, c2 (f = 1); c3 is a company that does not seal
    r = c.submit("proxy", "membership.propose", MembershipProposal(action="revoke", node_id="c1"))
    assert not r.ok and "revoking 'c1' would leave 3 sealers" in r.reason and "at least 4" in r.reason
    assert proposal_state(c.state.kv, 0) is None  # nothing recorded
    # revoking a company that does not seal leaves the four sealers: allowed
    assert c.submit("proxy", "membership.propose", MembershipProposal(action="revoke", node_id="c3")).ok
    # once a fifth sealer is scheduled, one of the four may go
    assert c.submit("c0", "membership.propose", MembershipProposal(action="add_sealer", node_id="newco")).ok
    for voter in ["c0", "c1", "c2"]:
        assert c.submit(voter, "membership.vote", MembershipVote(proposal=1, approve=True)).ok
    assert proposal_state(c.state.kv, 1).status == "passed"
    assert c.submit("proxy", "membership.propose", MembershipProposal(action="revoke", node_id="c1")).ok


def test_the_deciding_vote_of_a_second_revocation_is_refused_when_the_first_already_took_one():
    c = Chain(ROLES, validators=("proxy", "c0", "c1", "c2", "c3"))
    for target in ("c2", "c3"):  # each alone leaves four sealers: both proposals are accepted
        assert c.submit("proxy", "membership.propose", MembershipProposal(action="revoke", node_id=target)).ok
    for voter in ["c0", "c1", "c2"]:
        assert c.submit(voter, "membership.vote", MembershipVote(proposal=1, approve=True)).ok  # revoke c3
    assert proposal_state(c.state.kv, 1).status == "passed"
    later = c.state.height + c.membership.change_delay
    assert validator_set(c.state, later) == ["proxy", "c0", "c1", "c2"]
    # c3 is no company any more: the companies are c0, c1, c2; all three must say yes (> 2/3)
    for voter in ["c0", "c1"]:
        assert c.submit(voter, "membership.vote", MembershipVote(proposal=0, approve=True)).ok
    r = c.submit("c2", "membership.vote", MembershipVote(proposal=0, approve=True))  # would pass it: 3 sealers
    assert not r.ok and "revoking 'c2' would leave 3 sealers" in r.reason
    p = proposal_state(c.state.kv, 0)
    assert p.status == "open" and p.yes == ["c0", "c1"]  # the refused vote changed nothing
    assert validator_set(c.state, later) == ["proxy", "c0", "c1", "c2"]
    assert role_of(c.state.kv, c.membership, "c2") == "company"
