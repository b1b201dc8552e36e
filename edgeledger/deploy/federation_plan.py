"""The plan of a federation deployed as processes.

A federation is a federal chain (``fbc``) and local chains (``lbc1``, ``lbc2``, ...), each
with its own PBFT validators (``lbc1.v0``, ...), and a relay group (``relay0``, ...) whose
members hold an identity on every chain, and observation nodes (``observer``) that follow
every chain and answer queries. ``edgeledger oracle federation-up`` writes one
``federation-plan.json`` that every process reads. Nobody deals the relay group's key: the
relays generate it on the FBC (the oracle groups' distributed key generation, run through a
``proxy`` contract there), the FBC's validators certify the result and every gateway installs
the key only from that certificate (:mod:`edgeledger.oracle.relay_keys`); each relay keeps its
share in a private file of its data directory. ``key_generation = "dealer"`` keeps the
trusted dealer as a test device: the launcher splits the key and every gateway is deployed
trusting ``C_0``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

import msgspec

from edgeledger.codec import encode
from edgeledger.deploy.plan_files import read_plan, write_plan, write_private
from edgeledger.errors import ConfigError
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.records import OracleGroup

__all__ = ["ChainSpec", "FederationPlan", "plan_federation", "write_federation", "load_federation",
           "FEDERATION_FILE", "SHARE_FILE", "STOCK", "ORDERS", "INITIAL_STOCK", "RELAY_GROUP"]

FEDERATION_FILE = "federation-plan.json"
SHARE_FILE = "relay-share.bin"
RELAY_GROUP = "relay"  # the relay group's id on the FBC's proxy and on every gateway
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
    relay_threshold: int = 0  # dealer (tests only): filled in by the dealer
    relay_commitments: list[bytes] = []  # dealer (tests only): C_0 is the key every gateway trusts at once
    batch_timeout_s: float = 0.05
    # "dkg": the relays generate their key on the FBC and the gateways install it from the FBC's
    # certificate; "dealer": the launcher deals it (a test device)
    key_generation: Literal["dkg", "dealer"] = "dkg"
    dkg_window_ms: int = 10_000  # FBC chain time a key-generation phase waits for a silent relay
    heartbeat_s: float = 1.0  # FBC validators tick its chain clock (the key generation's windows) when idle
    observers: list[str] = []  # observation nodes: follow every chain, answer queries (/v1/query/...)

    @property
    def fbc(self) -> str:
        return self.chains[0].chain_id

    @property
    def validators(self) -> list[str]:
        return [v for c in self.chains for v in c.validators]

    @property
    def members(self) -> list[str]:
        """Every process, in start order (the client runs none)."""
        return self.validators + self.relays + self.observers

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
        roles.update({o: "observer" for o in self.observers})  # followers with no vote and no say
        if chain_id != self.fbc:
            roles[self.client] = "device"
        return roles

    @property
    def group(self) -> OracleGroup:
        return OracleGroup(group_id=RELAY_GROUP, members=self.relays, commitments=self.relay_commitments,
                           threshold=self.relay_threshold)


def plan_federation(lbcs: int = 2, validators_per_chain: int = 4, relays: int = 4,
                    key_generation: Literal["dkg", "dealer"] = "dkg", observers: int = 1) -> FederationPlan:
    """An FBC and ``lbcs`` local chains of ``validators_per_chain`` validators each, ``relays`` relays and
    ``observers`` observation nodes (``observer``, ``observer-1``, ...)."""
    if lbcs < 2 or validators_per_chain < 1 or relays < 1:
        raise ConfigError(f"a federation needs >= 2 local chains, >= 1 validator per chain and >= 1 relay, got "
                          f"{lbcs}, {validators_per_chain}, {relays}")
    if key_generation == "dkg" and relays < 2:
        raise ConfigError(f"relays: the relay group's key generation needs >= 2 relays, got {relays}")
    if key_generation not in ("dkg", "dealer"):
        raise ConfigError(f"key_generation {key_generation!r}: expected 'dkg' or 'dealer' (tests only)")
    chains = [ChainSpec(chain_id=c, validators=[f"{c}.v{i}" for i in range(validators_per_chain)])
              for c in ["fbc"] + [f"lbc{i + 1}" for i in range(lbcs)]]
    if observers < 0:
        raise ConfigError(f"observers must be >= 0, got {observers}")
    return FederationPlan(chains=chains, relays=[f"relay{i}" for i in range(relays)], client="client",
                          key_generation=key_generation,
                          observers=["observer"] + [f"observer-{i}" for i in range(1, observers)] if observers else [])


def write_federation(plan: FederationPlan, root: Path) -> FederationPlan:
    """Write the plan; with the trusted dealer (tests only), first deal the relay group's key."""
    root.mkdir(parents=True, exist_ok=True)
    if plan.key_generation == "dkg":
        write_plan(root / FEDERATION_FILE, plan)
        return plan
    return _deal_relay_key_for_tests(plan, root)


def _deal_relay_key_for_tests(plan: FederationPlan, root: Path) -> FederationPlan:
    """The trusted dealer (a test device): deal the relay group's key (real entropy), give each relay
    its share in a private file, write the plan with the commitments every gateway will trust."""
    (group,), shares = deal_groups({RELAY_GROUP: plan.relays}, random.SystemRandom())
    for r in plan.relays:
        write_private(root / r / SHARE_FILE, encode(shares[r][RELAY_GROUP]))
    plan = msgspec.structs.replace(plan, relay_threshold=group.threshold, relay_commitments=group.commitments)
    write_plan(root / FEDERATION_FILE, plan)
    return plan


def load_federation(path: Path) -> FederationPlan:
    """The plan the launcher wrote (a :class:`ConfigError` naming the file when it cannot be read)."""
    return read_plan(path, FederationPlan, "federation plan")
