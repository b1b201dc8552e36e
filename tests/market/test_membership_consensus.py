"""Committed membership changes reach PBFT: the validator set follows votes at a block boundary.

An EdgeToll consortium runs in the in-process simulator: PBFT replicas on nodes that read
the validator schedule from committed state (``market.validator_schedule``). A change that
passes in block h activates at h + change_delay (PBFT window + 1).
"""

from __future__ import annotations

import msgspec
import pytest

from edgeledger.consensus.pbft import PbftConfig, PbftReplica, Prepare
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Rejected
from edgeledger.errors import ChainValidationError
from edgeledger.ledger import (
    ChainStore, CommitCertificate, CommitVote, Genesis, Identity, Membership, commit_statement, genesis_hash,
    make_transaction, validate_chain,
)
from edgeledger.ledger.kv import KVSet
from edgeledger.market import MembershipProposal, MembershipVote, proposal_state, validator_schedule
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.node import Node

WINDOW = 4
DELAY = WINDOW + 1
CONFIG = PbftConfig(checkpoint_interval=2, window=WINDOW, rotate_leader=True, batch_timeout_s=0.02)


class Consortium:
    """Sealers and standby sealers as simulated nodes; ``dev0`` keeps a steady trickle of kv.set."""

    def __init__(self, roles: dict[str, str], sealers: list[str], standby: tuple[str, ...] = (), seed: int = 3,
                 loss: float = 0.0) -> None:
        self.keys = {n: derive_key("ed25519", f"sched/{n}".encode()) for n in roles}
        ids = [Identity(node_id=n, role=r, scheme="ed25519", public_key=self.keys[n].public_key)
               for n, r in roles.items()]
        self.genesis = Genesis(chain_id="edgetoll", identities=ids, validators=sealers)
        self.g = genesis_hash(self.genesis)
        self.sim = Simulator(seed, lambda a, b: Link(latency_s=0.004, loss=loss),
                             on_reject=lambda node, r, now: self.rejects.append((node, r)))
        self.rejects: list[tuple[str, Rejected]] = []
        self.nonces: dict[str, int] = {}
        replicas = list(sealers) + list(standby)
        self.nodes: dict[str, Node] = {}
        for n in replicas:
            membership = Membership(self.genesis, change_delay=DELAY)  # one per node: it follows its own chain
            replica = PbftReplica(n, self.keys[n], membership, self.g, CONFIG, standby=n not in sealers)
            node = Node(node_id=n, role=roles[n], key=self.keys[n], membership=membership,
                        store=ChainStore(":memory:"), consensus=replica, followers=tuple(standby),  # as observers_of
                        validator_schedule=validator_schedule)
            self.nodes[n] = node
            self.sim.add_host(node)
        for n, node in self.nodes.items():
            self.sim.start(n, node.start(0.0))
        self.pumping = True
        self.sim.call_at(0.0, self._pump)

    def submit(self, sender: str, kind: str, payload: object, via: str = "proxy") -> None:
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        tx = make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)
        self.sim.apply(via, self.nodes[via].submit(tx, self.sim.now))

    def _pump(self) -> None:
        if self.pumping:
            self.submit("dev0", "kv.set", KVSet(key=f"k{self.nonces.get('dev0', 0)}", value=b"x"))
            self.sim.call_later(0.03, self._pump)

    def run_until(self, done, limit_s: float = 60.0) -> None:
        self.sim.run(until=self.sim.now + limit_s, stop=done)
        assert done(), f"not reached by t={self.sim.now:.2f}s; heights {self.heights()}"

    def isolate(self, node_id: str) -> None:
        for other in self.nodes:
            if other != node_id:
                self.sim.cut(node_id, other)

    def heights(self) -> dict[str, int]:
        return {n: node.store.height for n, node in self.nodes.items()}

    def pass_proposal(self, action: str, node_id: str, voters: list[str]) -> int:
        """Propose and vote; return the activation height of the change once it has passed."""
        pid = len([k for k in self.nodes["proxy"].state.kv if k.startswith("membership/proposal/")])
        state = self.nodes["proxy"].state
        self.submit("proxy", "membership.propose", MembershipProposal(action=action, node_id=node_id))
        self.run_until(lambda: proposal_state(state.kv, pid) is not None)  # votes must not overtake it
        for voter in voters:
            self.submit(voter, "membership.vote", MembershipVote(proposal=pid, approve=True))
        self.run_until(lambda: (p := proposal_state(state.kv, pid)) is not None and p.status == "passed")
        effective, _ = validator_schedule(state)[-1]
        assert state.height - 2 < effective - DELAY <= state.height  # passed in one of the last blocks
        return effective

    def assert_identical_and_valid(self, nodes: list[str]) -> int:
        common = min(self.nodes[n].store.height for n in nodes)
        reference = self.nodes[nodes[0]].store.blocks()[:common]
        for n in nodes:
            blocks = self.nodes[n].store.blocks()
            assert [b.hash for b in blocks[:common]] == [b.hash for b in reference], f"{n} forked"
            validate_chain(blocks, self.nodes[n].membership, self.g)
        return common


ADD_ROLES = {"proxy": "proxy", "c0": "company", "c1": "company", "c2": "company", "newco": "en", "dev0": "device"}


@pytest.fixture(scope="module")
def added():
    c = Consortium(ADD_ROLES, ["proxy", "c0", "c1", "c2"], standby=("newco",))
    c.run_until(lambda: min(c.heights().values()) >= 2)
    effective = c.pass_proposal("add_sealer", "newco", ["c0", "c1", "c2"])
    c.run_until(lambda: min(c.heights().values()) >= effective + 12)
    c.silenced_at = c.nodes["proxy"].store.height
    c.isolate("c0")  # one of five silent: proxy + c1 + c2 + newco are exactly a quorum of 4 (n = 5, f = 1)
    c.run_until(lambda: min(c.nodes[n].store.height for n in ("proxy", "c1", "c2", "newco")) >= c.silenced_at + 6)
    c.pumping = False
    return c, effective


def test_added_sealer_proposes_and_its_votes_certify_blocks_after_activation(added):
    c, effective = added
    five = ("proxy", "c0", "c1", "c2", "newco")
    for node in c.nodes.values():
        assert node.membership.validators_at(effective - 1) == ("proxy", "c0", "c1", "c2")
        assert node.membership.validators_at(effective) == five
    blocks = c.nodes["proxy"].store.blocks()
    before, after = blocks[:effective - 1], blocks[effective - 1:]
    assert all(b.header.proposer != "newco" for b in before)
    assert all("newco" not in {v.replica for v in b.certificate.votes} for b in before)
    # rotate_leader: the primary of height h in view v is validators[(v + h) % 5]; the newcomer gets its turns
    assert any(b.header.proposer == "newco" for b in after)
    for b in after:  # every certificate after activation is a quorum of the five: ceil((5 + 1 + 1) / 2) = 4
        assert {v.replica for v in b.certificate.votes} <= set(five) and len(b.certificate.votes) >= 4
    # with c0 cut off, blocks still commit, so the proxy counted newco's votes in each certificate
    silent = blocks[c.silenced_at:]
    assert len(silent) >= 6
    assert all({v.replica for v in b.certificate.votes} == {"proxy", "c1", "c2", "newco"} for b in silent)


def test_all_nodes_hold_one_chain_that_validates_only_with_the_schedule(added):
    c, effective = added
    common = c.assert_identical_and_valid(list(c.nodes))
    assert common >= effective + 12
    assert c.assert_identical_and_valid(["proxy", "c2", "newco"]) >= c.silenced_at + 6
    blocks = c.nodes["c0"].store.blocks()
    with pytest.raises(ChainValidationError, match="not a validator"):  # genesis set only: newco's blocks fail
        validate_chain(blocks, Membership(c.genesis, change_delay=DELAY), c.g)
    assert not [r for _, r in c.rejects if r.what == "validator change"]  # the activation rule held


REVOKE_ROLES = {"proxy": "proxy", "c0": "company", "c1": "company", "c2": "company", "c3": "company",
                "dev0": "device"}


@pytest.fixture(scope="module")
def revoked():
    c = Consortium(REVOKE_ROLES, ["proxy", "c0", "c1", "c2", "c3"])
    c.run_until(lambda: min(c.heights().values()) >= 2)
    effective = c.pass_proposal("revoke", "c3", ["c0", "c1", "c2"])
    remaining = ["proxy", "c0", "c1", "c2"]
    c.run_until(lambda: min(c.nodes[n].store.height for n in remaining) >= effective + 10)
    c.pumping = False
    return c, effective, remaining


def test_revoked_sealer_stops_voting_and_the_rest_keep_committing(revoked):
    c, effective, remaining = revoked
    blocks = c.nodes["proxy"].store.blocks()
    assert len(blocks) >= effective + 10
    assert any("c3" in {v.replica for v in b.certificate.votes} for b in blocks[:effective - 1])
    for b in blocks[effective - 1:]:
        assert b.header.proposer != "c3" and "c3" not in {v.replica for v in b.certificate.votes}
    assert c.nodes["c3"].consensus.votes_at(effective - 1) and not c.nodes["c3"].consensus.votes_at(effective)
    c.assert_identical_and_valid(remaining + ["c3"])  # the revoked node still follows the chain


def test_revoked_sealer_keeps_receiving_the_chain_it_no_longer_seals(revoked):
    c, effective, remaining = revoked
    # the remaining sealers push committed blocks to the node they retired, as to any follower
    assert c.nodes["c3"].store.height >= effective + 5, (c.nodes["c3"].store.height, effective)
    assert all("c3" in c.nodes[n].gossip.followers for n in remaining)
    assert c.assert_identical_and_valid(remaining + ["c3"]) >= effective + 5


def test_revoked_sealer_votes_no_longer_count(revoked):
    c, effective, _ = revoked
    node = c.nodes["proxy"]
    replica = node.consensus
    # a PREPARE from c3 for the next height is refused by a replica
    nxt = replica.committed_height + 1
    vote = Prepare(view=replica.view, height=nxt, digest=b"\x01" * 32, replica="c3")
    vote = msgspec.structs.replace(vote, signature=c.keys["c3"].sign(vote.signing_bytes("edgetoll")))
    effects = node.on_message("c3", vote, c.sim.now)
    assert any(isinstance(e, Rejected) for e in effects)
    assert nxt not in replica.slots or "c3" not in replica.slots[nxt].prepares
    # a block after activation certified with c3's vote among 3 is rejected; before it, c3 counted
    blocks = node.store.blocks()

    def recertify(block, signers):
        cert = block.certificate
        stmt = commit_statement("edgetoll", cert.view, block.height, block.hash)
        votes = [CommitVote(replica=s, signature=c.keys[s].sign(stmt)) for s in sorted(signers)]
        return msgspec.structs.replace(block, certificate=CommitCertificate(
            view=cert.view, height=block.height, block_hash=block.hash, votes=votes))

    early = [recertify(b, ["c3", "c0", "c1", "c2"]) if b.height == effective - 1 else b
             for b in blocks[:effective - 1]]
    validate_chain(early, node.membership, c.g)  # 4 of the five: a quorum while c3 sealed
    late = blocks[:effective] + [recertify(blocks[effective], ["c3", "c0", "c1"])]
    with pytest.raises(ChainValidationError, match="2 valid validator signatures"):
        validate_chain(late, node.membership, c.g)



@pytest.mark.parametrize("seed", [2, 6])
def test_adding_a_sealer_under_message_loss_keeps_one_valid_chain(seed):
    # 5% of all messages lost: view changes and state transfer happen around the activation
    c = Consortium(ADD_ROLES, ["proxy", "c0", "c1", "c2"], standby=("newco",), seed=seed, loss=0.05)
    c.run_until(lambda: min(c.heights().values()) >= 2)
    effective = c.pass_proposal("add_sealer", "newco", ["c0", "c1", "c2"])
    c.run_until(lambda: min(c.heights().values()) >= effective + 15, limit_s=120.0)
    c.pumping = False
    assert c.assert_identical_and_valid(list(c.nodes)) >= effective + 15
    assert max(node.consensus.view for node in c.nodes.values()) >= 1  # the run did go through view changes
    after = c.nodes["newco"].store.blocks()[effective - 1:]
    assert any(b.header.proposer == "newco" for b in after)
