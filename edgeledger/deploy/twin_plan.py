"""The plan of a plant deployed as processes (``edgeledger twin up``), and its launcher's private files.

One ``twin-plan.json`` every process reads: the chain's validators (companies' sealers), the
edges (each an oracle member and a gateway, two identities on one process), the observation
node (which also hosts the storage layer's blob store here), the machines (one device process
each: sensors and actuator), the accounts without a process (owner companies, the engineer, an
intruder), the oracle group and the control layer's settings. The launcher writes every
device's sensor and actuator seeds and every account's seed into private files (mode 0600), so it
can register the twins with the devices' public keys; node identities are made by each process,
as in the oracle network. The edges' group key comes from Pedal's distributed key generation on
chain (nobody holds the group secret); ``key_generation="dealer"`` has the launcher split it
instead (tests only).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Literal

import msgspec

from edgeledger.codec import encode
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.deploy.oracle_plan import SHARES_FILE, GroupSpec
from edgeledger.deploy.plan_files import (
    private_seed,
    read_plan,
    write_plan,
    write_private,
)
from edgeledger.errors import ConfigError
from edgeledger.oracle.computing import FLTask
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.twins.maintenance import HistorySpec, maintenance_task

__all__ = [
    "PLAN_FILE",
    "MachineSpec",
    "TwinNetworkPlan",
    "account_key",
    "deal_twin_network",
    "device_keys",
    "gateway_key",
    "load_twin_plan",
    "plan_twin_network",
]

PLAN_FILE = "twin-plan.json"


class MachineSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    twin_id: str
    device: str  # the device process's id (registered at the center)
    edge: str
    company: str
    company_index: int
    drop_rate: float = 0.0  # share of commands the device leaves unanswered (a lossy link)
    slow_rate: float = 0.0  # share of first deliveries it answers only after slow_delay_s
    slow_delay_s: float = 0.0


class TwinNetworkPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    validators: list[str]
    edges: list[str]
    gateways: list[str]  # gateways[k] is edges[k]'s gateway identity
    observer: str
    machines: list[MachineSpec]
    companies: list[str]
    users: list[str]
    groups: list[GroupSpec]
    election_seed: bytes
    seed: int
    period_s: float = 2.0
    ack_timeout_s: float = 0.5
    max_attempts: int = 3
    risk_threshold_milli: int = 700
    fl_rounds: int = 3
    fl_epochs: int = 3
    history_machines: int = 20
    alpha_milli: int = 1000
    term_blocks: int = 1000
    election_timeout_s: float = 0.5
    batch_timeout_s: float = 0.05
    view_change_timeout_s: float = 2.0
    # "dkg": the edges make their group key among themselves on chain (nobody holds the secret);
    # "dealer": the launcher deals it (tests only)
    key_generation: Literal["dkg", "dealer"] = "dkg"
    dkg_window_ms: int = 10_000  # chain time a key-generation phase waits for a silent member
    heartbeat_s: float = 1.0  # validators tick the chain clock after this long without a block (0: never)

    @property
    def oracles(self) -> list[str]:
        return list(self.edges)

    @property
    def requester(self) -> str:  # the oracle roles' application; here the operator files requests
        return self.validators[0]

    @property
    def members(self) -> list[str]:
        """Every process with a chain identity, in start order."""
        return self.validators + self.edges + [self.observer]

    @property
    def accounts(self) -> list[str]:
        return self.gateways + self.companies + self.users

    def role_of(self, node_id: str) -> str:
        roles = {**{v: "company" for v in self.validators}, **{e: "oracle" for e in self.edges},
                 **{g: "gateway" for g in self.gateways}, **{c: "company" for c in self.companies},
                 **{u: "operator" for u in self.users}, self.observer: "observer"}
        if node_id not in roles:
            raise ConfigError(f"{node_id!r} is not in the twin plan; expected one of {sorted(roles)}")
        return roles[node_id]

    def history(self) -> HistorySpec:
        return HistorySpec(seed=self.seed, companies=len(self.companies), machines_per_company=self.history_machines,
                           validation_machines=self.history_machines)

    def task(self) -> FLTask:
        return maintenance_task(self.history(), rounds=self.fl_rounds, epochs=self.fl_epochs)

    def machines_of(self, edge: str) -> list[MachineSpec]:
        return [m for m in self.machines if m.edge == edge]


def plan_twin_network(n_edges: int = 3, machines_per_edge: int = 1, n_validators: int = 4, period_s: float = 2.0,
                      ack_timeout_s: float = 0.5, lossy: bool = True, seed: int | None = None,
                      fl_rounds: int = 3, chain_id: str = "plant",
                      key_generation: Literal["dkg", "dealer"] = "dkg",
                      risk_threshold_milli: int = 700) -> TwinNetworkPlan:
    """Validators ``v*``, edges ``e*`` with gateways ``gw*``, machines ``m*`` (device processes ``dev-m*``)
    owned by companies ``acme``/``bolt``/``cogs`` in turn. With ``lossy`` the first machine's device
    leaves a fifth of the commands unanswered and the second answers half the first deliveries late."""
    if n_validators < 4:
        raise ConfigError(f"PBFT needs n >= 4 validators, got {n_validators}")
    if key_generation not in ("dkg", "dealer"):
        raise ConfigError(f"key_generation {key_generation!r}: expected 'dkg' or 'dealer' (tests only)")
    if n_edges < 1 or machines_per_edge < 1:
        raise ConfigError(f"need >= 1 edge and machine per edge, got {n_edges} and {machines_per_edge}")
    if not 0 < risk_threshold_milli <= 1000:
        raise ConfigError(f"risk_threshold_milli must lie in 1..1000, got {risk_threshold_milli}")
    companies = ["acme", "bolt", "cogs"][: min(n_edges, 3)]
    edges = [f"e{k}" for k in range(n_edges)]
    machines = []
    for k, edge in enumerate(edges):
        for j in range(machines_per_edge):
            i = k * machines_per_edge + j
            machines.append(MachineSpec(twin_id=f"m{i}", device=f"dev-m{i}", edge=edge,
                                        company=companies[k % len(companies)], company_index=k % len(companies),
                                        drop_rate=0.2 if lossy and i == 0 else 0.0,
                                        slow_rate=0.5 if lossy and i == 1 else 0.0,
                                        slow_delay_s=2.5 * ack_timeout_s if lossy and i == 1 else 0.0))
    return TwinNetworkPlan(chain_id=chain_id, validators=[f"v{i}" for i in range(n_validators)], edges=edges,
                           gateways=[f"gw{k}" for k in range(n_edges)], observer="obs", machines=machines,
                           companies=companies, users=["engineer", "intruder"], groups=[GroupSpec("g0", edges)],
                           election_seed=os.urandom(32),
                           seed=int.from_bytes(os.urandom(4), "big") if seed is None else seed, period_s=period_s,
                           ack_timeout_s=ack_timeout_s, fl_rounds=fl_rounds, key_generation=key_generation,
                           risk_threshold_milli=risk_threshold_milli)


def device_keys(data_dir: Path) -> tuple[PrivateKey, PrivateKey]:
    """A device's (sensor, actuator) keys from the seeds the dealer wrote into its data directory."""
    return (derive_key("ed25519", private_seed(data_dir / "sensor.seed")),
            derive_key("ed25519", private_seed(data_dir / "actuator.seed")))


def account_key(root: Path, account: str) -> PrivateKey:
    """An account's key (a company, a user) from the launcher's private folder ``root/accounts/<name>``."""
    return derive_key("ed25519", private_seed(root / "accounts" / account / "identity.seed"))


def gateway_key(data_dir: Path) -> PrivateKey:
    """An edge process's gateway identity (its second key, beside the oracle member's)."""
    return derive_key("ed25519", private_seed(data_dir / "gateway.seed"))


def deal_twin_network(plan: TwinNetworkPlan, root: Path) -> TwinNetworkPlan:
    """Write every private file (device seeds, account keys) and the plan. With the distributed key
    generation the edges make the group key on chain once the network runs; with the trusted dealer
    (tests only) deal it here (real entropy) and return the plan with threshold and commitments."""
    root.mkdir(parents=True, exist_ok=True)
    if plan.key_generation == "dealer":
        dealt, shares = deal_groups({g.group_id: g.members for g in plan.groups}, random.SystemRandom())
        groups = [GroupSpec(group_id=g.group_id, members=g.members, threshold=g.threshold,
                            commitments=g.commitments) for g in dealt]
        plan = msgspec.structs.replace(plan, groups=groups)
        for member, by_group in shares.items():
            write_private(root / member / SHARES_FILE, encode(by_group))
    for m in plan.machines:
        device_keys(root / m.device)
    for account in plan.companies + plan.users:
        account_key(root, account)
    write_plan(root / PLAN_FILE, plan)
    return plan


def load_twin_plan(path: Path) -> TwinNetworkPlan:
    return read_plan(path, TwinNetworkPlan, "twin plan")
