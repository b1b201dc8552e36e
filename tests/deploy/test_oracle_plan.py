"""The oracle deployment's plan and trusted dealer, without processes (fast)."""

from __future__ import annotations

import stat

import pytest

from edgeledger.crypto.threshold import combine, group_public_key, sign_share, verify_share
from edgeledger.crypto.bls import bls_verify
from edgeledger.errors import ConfigError
from edgeledger.oracle.sources import LyingSource, NoisySensor, SlowSource
from edgeledger.deploy.federation_plan import SHARE_FILE, load_federation, plan_federation, write_federation
from edgeledger.deploy.oracle_plan import (
    PLAN_FILE, SHARES_FILE, build_source, deal_oracle_network, load_plan, load_shares, plan_oracle_network,
)


def test_plan_places_one_liar_and_one_slow_source_per_group():
    plan = plan_oracle_network(n_validators=4, n_groups=2, per_group=4, lying=1, slow=1, slow_delay_s=2.0)
    assert plan.validators == ["v0", "v1", "v2", "v3"] and plan.oracles == [f"o{i}" for i in range(8)]
    assert [plan.sources[o].kind for o in ("o0", "o1", "o2", "o3")] == ["lying", "sensor", "sensor", "slow"]
    assert plan.members[0] == "v0" and plan.members[-2:] == ["requester", "observer"]
    assert {plan.role_of(n) for n in plan.members} == {"company", "oracle", "device", "observer"}
    assert plan.key_generation == "dkg" and all(g.commitments == [] for g in plan.groups)  # keys made on chain
    assert isinstance(build_source(plan.sources["o0"], 1), LyingSource)
    assert isinstance(build_source(plan.sources["o3"], 1), SlowSource)
    assert isinstance(build_source(plan.sources["o1"], 1), NoisySensor)
    with pytest.raises(ConfigError, match="exceed the group size"):
        plan_oracle_network(per_group=3, lying=2, slow=2)
    with pytest.raises(ConfigError, match="not in the oracle plan"):
        plan.role_of("o99")


def test_the_trusted_dealer_of_tests_gives_each_member_a_private_share_of_the_group_key(tmp_path):
    plan = deal_oracle_network(plan_oracle_network(n_groups=1, per_group=4, key_generation="dealer"), tmp_path)
    assert load_plan(tmp_path / PLAN_FILE) == plan
    (group,) = plan.groups
    assert group.threshold == 3 and len(group.commitments) == 3
    shares = {m: load_shares(tmp_path / m)["g0"] for m in group.members}
    for i, m in enumerate(group.members):
        assert shares[m].index == i + 1 and verify_share(shares[m].index, shares[m], group.commitments)
        assert stat.S_IMODE((tmp_path / m / SHARES_FILE).stat().st_mode) == 0o600
    message = b"pedal-result"
    partial = {shares[m].index: sign_share(shares[m], message) for m in group.members[1:]}
    assert bls_verify(group_public_key(group.commitments), message, combine(partial, threshold=3))
    # a second dealing is fresh entropy: another group key
    again = deal_oracle_network(plan_oracle_network(n_groups=1, per_group=4, key_generation="dealer"),
                                tmp_path / "again")
    assert again.groups[0].commitments[0] != group.commitments[0]


def test_a_key_generation_plan_deals_nothing(tmp_path):
    plan = deal_oracle_network(plan_oracle_network(n_groups=1, per_group=4), tmp_path)
    assert load_plan(tmp_path / PLAN_FILE) == plan and plan.groups[0].commitments == []
    assert not any((tmp_path / m / SHARES_FILE).exists() for m in plan.oracles)


def test_bad_plan_files_are_one_clear_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"chain_id": 3}')
    with pytest.raises(ConfigError, match="cannot be read"):
        load_plan(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_federation(tmp_path / "missing.json")


def test_federation_plan_gives_relays_every_chain_and_the_client_only_local_chains(tmp_path):
    plan = write_federation(plan_federation(lbcs=2, validators_per_chain=4, relays=4), tmp_path)
    # nobody deals the relay key: the plan holds no commitments and no relay has a share file
    assert plan.key_generation == "dkg" and plan.relay_commitments == [] and plan.relay_threshold == 0
    assert not any((tmp_path / r / SHARE_FILE).exists() for r in plan.relays)
    assert load_federation(tmp_path / "federation-plan.json") == plan
    dealt = write_federation(plan_federation(lbcs=2, relays=4, key_generation="dealer"), tmp_path / "dealt")
    assert dealt.relay_threshold == 3 and len(dealt.relay_commitments) == 3  # the test device still deals
    assert all((tmp_path / "dealt" / r / SHARE_FILE).stat().st_mode & 0o777 == 0o600 for r in dealt.relays)
    assert [c.chain_id for c in plan.chains] == ["fbc", "lbc1", "lbc2"] and plan.fbc == "fbc"
    fbc, lbc1 = plan.chain_members("fbc"), plan.chain_members("lbc1")
    assert "client" not in fbc and lbc1["client"] == "device"
    assert all(fbc[r] == "oracle" and lbc1[r] == "oracle" for r in plan.relays)
    assert "lbc1.v0" in lbc1 and "lbc1.v0" not in fbc
    assert fbc["observer"] == lbc1["observer"] == "observer" and plan.members[-1] == "observer"
    assert plan_federation(observers=0).observers == [] and plan_federation(observers=2).observers == [
        "observer", "observer-1"]
    with pytest.raises(ConfigError, match="not in the federation"):
        plan.chain("lbc9")
    with pytest.raises(ConfigError, match=">= 2 local chains"):
        plan_federation(lbcs=1)
    with pytest.raises(ConfigError, match="relays: the relay group's key generation needs >= 2 relays, got 1"):
        plan_federation(relays=1)
