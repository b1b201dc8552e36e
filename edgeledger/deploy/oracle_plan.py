"""The plan of a Pedal oracle network deployed as processes.

``edgeledger oracle up`` writes one ``oracle-plan.json`` that every process reads: the
chain's validators, the oracle nodes and their signing groups, the requester, the
observation nodes, each oracle node's industrial source (an honest noisy sensor, a lying
gateway, a slow source) and the election settings. Each group's key is made on chain by its
members' distributed key generation (:mod:`edgeledger.oracle.dkg`): the operator opens the
group, nobody ever holds the group secret, and each member keeps its own share in a private
file of its data directory. ``key_generation = "dealer"`` keeps the old trusted dealer (the
launcher splits each key and hands out the shares; tests only). Keys of the nodes
themselves (Ed25519, BLS, VRF) are made by each process from its own random seed and never
leave its data directory.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Literal

import msgspec

from edgeledger.codec import decode, encode
from edgeledger.crypto.threshold import Share
from edgeledger.deploy.plan_files import read_plan, write_plan, write_private
from edgeledger.errors import ConfigError
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.simnet import FEED, PROXY
from edgeledger.oracle.sources import LyingSource, NoisySensor, SlowSource, Source

__all__ = ["SourceSpec", "OracleNetworkPlan", "plan_oracle_network", "deal_oracle_network", "load_plan",
           "load_shares", "save_share", "build_source", "PLAN_FILE", "SHARES_FILE", "PROXY", "FEED"]

PLAN_FILE = "oracle-plan.json"
SHARES_FILE = "oracle-shares.bin"
# PROXY (the proxy contract's name on chain) and FEED (the requester application's contract) are the
# simulator's names, re-exported here for the clients of a deployed network


class SourceSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One oracle node's source: ``sensor`` (honest), ``lying`` or ``slow`` (honest but late)."""

    kind: Literal["sensor", "lying", "slow"] = "sensor"
    factor: float = 3.0
    offset: float = 100.0
    extra_delay_s: float = 1.0


class GroupSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    group_id: str
    members: list[str]
    threshold: int = 0
    commitments: list[bytes] = []  # filled in by the dealer; C_0 is the group key


class OracleNetworkPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    validators: list[str]
    groups: list[GroupSpec]
    requester: str
    sources: dict[str, SourceSpec]
    sensor_seed: int
    election_seed: bytes
    alpha_milli: int = 1000
    term_blocks: int = 1000
    # how long a node waits for the other VRF proofs of a term before deciding with what it has (it
    # decides at once when all are in). Nodes that time out on a loaded machine may disagree on the
    # master; members still serve any master whose certificate the proxy accepts, so that costs at
    # most a refused duplicate fulfillment. 0.5 s keeps that rare on a loaded 2-core box and bounds
    # the wait of a term's first request while an oracle node is down.
    election_timeout_s: float = 0.5
    batch_timeout_s: float = 0.05
    view_change_timeout_s: float = 2.0
    key_generation: Literal["dkg", "dealer"] = "dkg"  # "dealer": the trusted dealer (tests only)
    dkg_window_ms: int = 10_000  # chain time a key-generation phase waits for a silent member
    heartbeat_s: float = 1.0  # validators tick the chain clock after this long without a block (0: never)
    observers: list[str] = []  # observation nodes: follow the chain and answer queries (/v1/query/...)

    @property
    def oracles(self) -> list[str]:
        return sorted({m for g in self.groups for m in g.members})

    @property
    def members(self) -> list[str]:
        """Every process of the network, in start order (validators first)."""
        return self.validators + self.oracles + [self.requester] + self.observers

    def role_of(self, node_id: str) -> str:
        """The membership role in the genesis (as in the simulator: validators are companies)."""
        if node_id in self.validators:
            return "company"
        if node_id == self.requester:
            return "device"
        if node_id in self.oracles:
            return "oracle"
        if node_id in self.observers:
            return "observer"
        raise ConfigError(f"{node_id!r} is not in the oracle plan; expected one of {self.members}")


def plan_oracle_network(n_validators: int = 4, n_groups: int = 1, per_group: int = 4, lying: int = 1,
                        slow: int = 1, slow_delay_s: float = 1.0, chain_id: str = "pedal",
                        alpha_milli: int = 1000, sensor_seed: int | None = None,
                        election_timeout_s: float = 0.5, observers: int = 1,
                        key_generation: Literal["dkg", "dealer"] = "dkg") -> OracleNetworkPlan:
    """A plan with ``n_groups`` groups of ``per_group`` oracle nodes (``o0``, ``o1``, ...).

    In every group the first ``lying`` members read through a lying gateway and the last
    ``slow`` members through a slow source; the others read the sensor honestly. ``observers``
    observation nodes (``observer``, ``observer-1``, ...) follow the chain and serve queries.
    """
    if n_validators < 1 or n_groups < 1 or per_group < 1:
        raise ConfigError(f"need >= 1 validator, group and member, got {n_validators}, {n_groups}, {per_group}")
    if lying + slow > per_group:
        raise ConfigError(f"lying ({lying}) + slow ({slow}) sources exceed the group size {per_group}")
    groups, sources = [], {}
    for g in range(n_groups):
        members = [f"o{g * per_group + i}" for i in range(per_group)]
        groups.append(GroupSpec(group_id=f"g{g}", members=members))
        for i, m in enumerate(members):
            kind = "lying" if i < lying else "slow" if i >= per_group - slow else "sensor"
            sources[m] = SourceSpec(kind=kind, extra_delay_s=slow_delay_s)
    seed = int.from_bytes(os.urandom(4), "big") if sensor_seed is None else sensor_seed
    if key_generation not in ("dkg", "dealer"):
        raise ConfigError(f"key_generation {key_generation!r}: expected 'dkg' or 'dealer' (tests only)")
    return OracleNetworkPlan(chain_id=chain_id, validators=[f"v{i}" for i in range(n_validators)], groups=groups,
                             requester="requester", sources=sources, sensor_seed=seed,
                             election_seed=os.urandom(32), alpha_milli=alpha_milli,
                             election_timeout_s=election_timeout_s, key_generation=key_generation,
                             observers=["observer"] + [f"observer-{i}" for i in range(1, observers)]
                             if observers else [])


def deal_oracle_network(plan: OracleNetworkPlan, root: Path) -> OracleNetworkPlan:
    """Write the plan; with the trusted dealer (tests only), first deal every group's key (real
    entropy) into each member's private shares file and fill in thresholds and commitments.
    With the distributed key generation the groups are made on chain once the network runs."""
    root.mkdir(parents=True, exist_ok=True)
    if plan.key_generation == "dkg":
        write_plan(root / PLAN_FILE, plan)
        return plan
    dealt, shares = deal_groups({g.group_id: g.members for g in plan.groups}, random.SystemRandom())
    groups = [GroupSpec(group_id=g.group_id, members=g.members, threshold=g.threshold, commitments=g.commitments)
              for g in dealt]
    plan = msgspec.structs.replace(plan, groups=groups)
    for member, by_group in shares.items():
        write_private(root / member / SHARES_FILE, encode(by_group))
    write_plan(root / PLAN_FILE, plan)
    return plan


def load_plan(path: Path) -> OracleNetworkPlan:
    """The plan the dealer wrote (a :class:`ConfigError` naming the file when it cannot be read)."""
    return read_plan(path, OracleNetworkPlan, "oracle plan")


def load_shares(data_dir: Path) -> dict[str, Share]:
    """This member's shares (group id -> share), as the dealer or its own key generation wrote them."""
    path = data_dir / SHARES_FILE
    if not path.exists():
        return {}
    return decode(path.read_bytes(), dict[str, Share])


def save_share(data_dir: Path, group_id: str, share: Share) -> None:
    """Keep a share the member's key generation produced (private file; read back on restart)."""
    write_private(data_dir / SHARES_FILE, encode({**load_shares(data_dir), group_id: share}))


def build_source(spec: SourceSpec, sensor_seed: int) -> Source:
    """The industrial source ``spec`` describes, over the plan's sensor series."""
    sensor = NoisySensor(seed=sensor_seed)
    if spec.kind == "lying":
        return LyingSource(sensor, factor=spec.factor, offset=spec.offset)
    if spec.kind == "slow":
        return SlowSource(sensor, extra_delay_s=spec.extra_delay_s)
    return sensor
