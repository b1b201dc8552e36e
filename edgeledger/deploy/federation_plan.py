"""The plan of a federation deployed as processes, and its trusted dealer.

A federation is a federal chain (``fbc``) and local chains (``lbc1``, ``lbc2``, ...), each
with its own PBFT validators (``lbc1.v0``, ...), and a relay group (``relay0``, ...) whose
members hold an identity on every chain. ``edgeledger oracle federation-up`` writes one
``federation-plan.json`` that every process reads; the dealer splits the relay group's key
with real entropy and hands every relay its share in a private file of its data directory
(only the Feldman commitments are public: ``C_0`` is the key every gateway trusts).
"""

from __future__ import annotations

import random
from pathlib import Path

import msgspec

from edgeledger.codec import encode
from edgeledger.deploy.plan_files import read_plan, write_plan, write_private
from edgeledger.errors import ConfigError
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.records import OracleGroup

__all__ = ["ChainSpec", "FederationPlan", "plan_federation", "deal_federation", "load_federation",
           "FEDERATION_FILE", "SHARE_FILE", "STOCK", "ORDERS", "INITIAL_STOCK"]

FEDERATION_FILE = "federation-plan.json"
SHARE_FILE = "relay-share.bin"
STOCK, ORDERS = "stock", "orders"  # the cross-chain application's contracts on every local chain
INITIAL_STOCK = 1000


class ChainSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One chain of the federation: its id and its PBFT validators."""

    chain_id: str
    validators: list[str]


class FederationPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every chain, the relay group (and, once dealt, its threshold and commitments) and the client."""

    chains: list[ChainSpec]  # the first one is the federal chain
    relays: list[str]
    client: str
    relay_threshold: int = 0
    relay_commitments: list[bytes] = []  # C_0 is the relay group's key, trusted by every gateway
    batch_timeout_s: float = 0.05

    @property
    def fbc(self) -> str:
        return self.chains[0].chain_id

    @property
    def validators(self) -> list[str]:
        return [v for c in self.chains for v in c.validators]

    @property
    def members(self) -> list[str]:
        """Every process, in start order (the client runs none)."""
        return self.validators + self.relays

    def chain(self, chain_id: str) -> ChainSpec:
        found = next((c for c in self.chains if c.chain_id == chain_id), None)
        if found is None:
            raise ConfigError(f"chain {chain_id!r} is not in the federation; expected one of "
                              f"{[c.chain_id for c in self.chains]}")
        return found

    def chain_members(self, chain_id: str) -> dict[str, str]:
        """node id -> role in ``chain_id``'s genesis: its validators, every relay, the client on LBCs."""
        roles = {v: "company" for v in self.chain(chain_id).validators}
        roles.update({r: "oracle" for r in self.relays})
        if chain_id != self.fbc:
            roles[self.client] = "device"
        return roles

    @property
    def group(self) -> OracleGroup:
        return OracleGroup(group_id="relay", members=self.relays, commitments=self.relay_commitments,
                           threshold=self.relay_threshold)


def plan_federation(lbcs: int = 2, validators_per_chain: int = 4, relays: int = 4) -> FederationPlan:
    """An FBC and ``lbcs`` local chains of ``validators_per_chain`` validators each, and ``relays`` relays."""
    if lbcs < 2 or validators_per_chain < 1 or relays < 1:
        raise ConfigError(f"a federation needs >= 2 local chains, >= 1 validator per chain and >= 1 relay, got "
                          f"{lbcs}, {validators_per_chain}, {relays}")
    chains = [ChainSpec(chain_id=c, validators=[f"{c}.v{i}" for i in range(validators_per_chain)])
              for c in ["fbc"] + [f"lbc{i + 1}" for i in range(lbcs)]]
    return FederationPlan(chains=chains, relays=[f"relay{i}" for i in range(relays)], client="client")


def deal_federation(plan: FederationPlan, root: Path) -> FederationPlan:
    """Deal the relay group's key (real entropy), give each relay its share, write the plan."""
    root.mkdir(parents=True, exist_ok=True)
    (group,), shares = deal_groups({"relay": plan.relays}, random.SystemRandom())
    for r in plan.relays:
        write_private(root / r / SHARE_FILE, encode(shares[r]["relay"]))
    plan = msgspec.structs.replace(plan, relay_threshold=group.threshold, relay_commitments=group.commitments)
    write_plan(root / FEDERATION_FILE, plan)
    return plan


def load_federation(path: Path) -> FederationPlan:
    """The plan the dealer wrote (a :class:`ConfigError` naming the file when it cannot be read)."""
    return read_plan(path, FederationPlan, "federation plan")
