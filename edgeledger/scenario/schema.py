"""The scenario file: every setting of a run, validated before anything starts.

A scenario is TOML; unknown keys, wrong types and impossible values are refused with one
:class:`ConfigError` naming the key, the value and what is expected (never a traceback).
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeledger.crypto.keys import SCHEMES, public_key_error
from edgeledger.errors import ConfigError
from edgeledger.scenario.overrides import apply_overrides
from edgeledger.scenario.validation_errors import describe_validation_error

__all__ = ["Scenario", "load_scenario", "read_scenario_file", "parse_scenario", "apply_overrides", "format_validation_error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TopologyConfig(_Strict):
    edges: int = Field(3, ge=1, le=1000, description="edge servers")
    devices_per_edge: int = Field(4, ge=0, le=1_000_000, description="IoT devices attached to each edge")
    validators: list[Literal["cloud", "edge", "proxy", "company"]] = Field(
        ["cloud", "edge"], description="roles that run PBFT: cloud and edge (ChainFL, FBFL), or EdgeToll's sealers: "
        "\"proxy\" (a node proxy) and \"company\" (topology.companies nodes company-0..), the edges being ENs")
    validating_edges: int = Field(0, ge=0, description="with \"edge\" in validators: only edge-0..edge-(k-1) run "
                                  "PBFT, the other edges relay (0: every edge validates)")
    companies: int = Field(0, ge=0, le=64, description="with \"company\" in validators: company nodes company-0.. "
                           "that seal blocks (EdgeToll's consortium; standby sealers are numbered after them)")
    observers: list[Literal["cloud", "edge", "device"]] = Field(
        default_factory=list, description="non-voting roles that keep a full, verified copy of the chain")
    light_clients: list[Literal["edge", "device"]] = Field(
        default_factory=list, description="roles that keep only verified headers (and check Merkle proofs)")
    signature_scheme: str = Field("ed25519", description="ed25519 | ecdsa-p256 | ecdsa-secp256k1")

    @model_validator(mode="after")
    def _check(self) -> TopologyConfig:
        for role in self.observers + self.light_clients:
            if role in self.validators:
                raise ValueError(f"role {role!r} validates; it cannot also be an observer or a light client")
        both = set(self.observers) & set(self.light_clients)
        if both:
            raise ValueError(f"roles {sorted(both)} are listed as observers and as light clients; pick one")
        if self.validating_edges and ("edge" not in self.validators or self.validating_edges > self.edges):
            raise ValueError(f"validating_edges={self.validating_edges} needs \"edge\" in validators and at most "
                             f"edges={self.edges}")
        if ("company" in self.validators) != (self.companies > 0):
            raise ValueError("\"company\" in validators needs companies >= 1 (the company nodes that seal), and "
                             f"companies={self.companies} needs \"company\" in validators (standby companies are "
                             "consortium.standby_sealers)")
        if self.signature_scheme not in SCHEMES:
            raise ValueError(f"signature_scheme {self.signature_scheme!r} is unknown; expected one of {list(SCHEMES)}")
        return self

    @property
    def n_devices(self) -> int:
        return self.edges * self.devices_per_edge

    @property
    def n_validators(self) -> int:
        return (("cloud" in self.validators) + ("edge" in self.validators) * (self.validating_edges or self.edges)
                + ("proxy" in self.validators) + self.companies)


class LinkConfig(_Strict):
    latency_ms: float = Field(5.0, ge=0, description="one-way latency")
    bandwidth_mbps: float = Field(100.0, gt=0, description="link bandwidth in Mbit/s")
    loss: float = Field(0.0, ge=0, lt=1, description="probability a message is lost")


class NetworkConfig(_Strict):
    device_edge: LinkConfig = LinkConfig(latency_ms=10.0, bandwidth_mbps=20.0)
    edge_edge: LinkConfig = LinkConfig(latency_ms=5.0, bandwidth_mbps=100.0)
    edge_cloud: LinkConfig = LinkConfig(latency_ms=20.0, bandwidth_mbps=100.0)
    center: LinkConfig = LinkConfig(latency_ms=5.0, bandwidth_mbps=10.0)
    gossip_fanout: int = Field(0, ge=0, le=64, description="0: validators push committed blocks to every observer "
                               "and light client; k: epidemic gossip to k peers per hop, with pull repair")


class ConsensusConfig(_Strict):
    protocol: str = Field("pbft", description="a registered consensus protocol: pbft (validators vote) | pow "
                          "(validators mine) | a plug-in's name (registered by a module in plugins)")
    params: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="keyword parameters of a plug-in protocol's constructor")
    max_block_txs: int = Field(100, ge=1, description="transactions per block at most")
    max_block_bytes: int = Field(1_000_000, ge=1024, description="block size at most, in bytes")
    batch_timeout_s: float = Field(0.05, gt=0, description="how long the primary waits to fill a block")
    rotate_leader: bool = Field(False, description="primary changes every height (FISCO-BCOS sealer in turn)")
    heartbeat_s: float = Field(0.0, ge=0, description="validators commit a clock.tick when no block came for this "
                               "long, so the chain's BFT time (and its deadlines) move while it idles; 0: no clock")
    view_change_timeout_s: float = Field(2.0, gt=0, description="request timer before a view change; doubles")
    view_change_timeout_max_s: float = Field(120.0, gt=0, description="cap of the doubling view-change timeout")
    checkpoint_interval: int = Field(16, ge=1, description="a CHECKPOINT every K blocks (log garbage collection)")
    window: int = Field(64, ge=2, description="high watermark = stable checkpoint + window (>= 2K)")
    pow_mining: Literal["modelled", "real"] = Field(
        "modelled", description="pow: modelled hash rate (exponential block times) or real sha256d hashing")
    pow_zero_bits: int = Field(16, ge=1, le=255, description="pow: genesis difficulty, leading zero bits of the target")
    pow_limit_zero_bits: int = Field(1, ge=1, le=255, description="pow: the easiest target ever allowed")
    pow_block_interval_s: float = Field(2.0, gt=0, description="pow: target time between blocks (retarget goal)")
    pow_retarget_interval: int = Field(16, ge=1, description="pow: blocks per difficulty period")
    pow_confirmations: int = Field(3, ge=1, description="pow: a block is final this deep on the best chain")
    pow_hash_rate: float = Field(32768.0, gt=0, description="pow (modelled): hashes/s of each miner")
    pow_hashes_per_tick: int = Field(2000, ge=1, description="pow (real): nonces tried per mining tick")
    pow_tick_s: float = Field(0.01, gt=0, description="pow (real): simulated time one mining tick takes")


class FLConfig(_Strict):
    enabled: bool = Field(True, description="run federated learning (false: a chain-only network, e.g. benchmarks)")
    dataset: str = Field("digits", description="a registered data set: digits (ships with scikit-learn), mnist, "
                         "fashion_mnist, kmnist, cifar10 (edgeledger data download NAME), synthetic")
    data_root: str | None = Field(None, description="folder with one sub-folder per data set (EDGELEDGER_DATA)")
    partition: Literal["iid", "dirichlet", "shards", "quantity"] = Field(
        "iid", description="how the data set is split among devices (edgeledger data partition-stats shows it)")
    samples_per_device: int = Field(0, ge=0, description="0: split the data set itself among the devices; n: each "
                                    "device holds n samples drawn with replacement (seeded; quantity skew: n on average)")
    alpha: float = Field(0.5, gt=0, description="Dirichlet concentration (dirichlet, quantity)")
    model: str = Field("mlp", description="a registered model: mlp, mnist_cnn, pedal_mnist_cnn, pedal_fmnist_cnn, "
                       "pedal_cifar_vgg, or any torch.nn.Module registered with @edgeledger.register_model")
    rounds: int = Field(10, ge=1, description="FL rounds")
    clients_per_round: int = Field(12, ge=1, description="devices chosen per round (at most the topology's devices)")
    local_epochs: int = Field(2, ge=1, description="local SGD epochs per round")
    batch_size: int = Field(16, ge=1, description="local SGD batch size")
    lr: float = Field(0.1, gt=0, description="local SGD learning rate")
    momentum: float = Field(0.0, ge=0, lt=1, description="local SGD momentum")
    aggregator: str = Field("trimmed_mean", description="a registered aggregator: fedavg, fedprox, median, "
                            "trimmed_mean, krum, multi_krum, bulyan, norm_bounded, random_select, pedal, "
                            "proof_of_learning, or your own (@edgeledger.register_aggregator)")
    aggregator_params: dict[str, float | int | str] = Field(
        default_factory=dict, description="the aggregator's keyword parameters: beta (trimmed_mean), f (krum, "
        "bulyan), f and m (multi_krum), max_norm (norm_bounded), seed (random_select; derived from the scenario seed "
        "when unset)")
    round_timeout_s: float = Field(60.0, gt=0, description="simulated seconds before a round closes anyway")
    compute_s_per_sample: float = Field(0.0005, ge=0, description="modelled device training time per sample-epoch")
    verify_uploads: bool = Field(True, description="check device signatures and update digests (upload defense)")
    verify_downloads: bool = Field(True, description="devices check the global model against the chain")
    download_fallback: bool = Field(False, description="a device that refuses its edge's copy of the global model "
                                    "asks the aggregator directly (once per round) instead of sitting the round out")
    task: Literal["classification", "offloading"] = Field(
        "classification", description="what devices learn: a data set's classifier, or the offloading DQN of [offload]")
    trainers: Literal["device", "edge"] = Field(
        "device", description="who trains: the IoT devices (ChainFL, Pedal) or the edge servers, on the raw data "
        "their devices upload to them over the simulated links (FBFL)")
    aggregation: Literal["cloud", "consensus_winner"] = Field(
        "cloud", description="who aggregates a round: the cloud, or the consensus winner -- the PoW miner or PBFT "
        "primary whose block closes the round aggregates, and that block carries the result (FBFL)")
    executor: Literal["inline", "sequential", "batched", "process", "ray"] = Field(
        "inline", description="how the simulator runs device training: inline (each device when its job starts) "
        "or one executor call per round (sequential | batched | process | ray; a speed setting)")
    executor_options: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="executor keyword options, e.g. { workers = 2, inner = \"batched\" }")


class AttackConfig(_Strict):
    kind: str = Field(description="a model attack (e.g. sign_flip), a data attack (label_flip, data_poisoning, "
                      "backdoor: the device's data is poisoned before round 1, start_round does not apply) or "
                      "upload_tamper / download_tamper (edges)")
    fraction: float | None = Field(None, ge=0, le=1, description="share of devices (or edges) that are malicious")
    nodes: list[str] | None = Field(None, description="explicit malicious node ids instead of a fraction")
    start_round: int = Field(1, ge=1, description="first malicious round (data attacks poison before round 1)")
    params: dict[str, float | int | str] = Field(
        default_factory=dict, description="attack parameters: scale (sign_flip), sigma (gaussian_noise), factor "
        "(scaling), z and estimate (alie), epsilon (ipm, ipm_local), mode and sigma (free_riding), mapping (label_flip, "
        "e.g. \"1:7,7:1\"), mode, fraction and sigma (data_poisoning), target, fraction, size and value (backdoor)")

    @model_validator(mode="after")
    def _one_selector(self) -> AttackConfig:
        if (self.fraction is None) == (self.nodes is None):
            raise ValueError("give exactly one of fraction or nodes")
        return self


class OffloadTaskConfig(_Strict):
    """The federated offloading DQN (``fl.task = "offloading"``; ChainFL's case study, docs/offloading.md)."""

    env: dict[str, Any] = Field(default_factory=dict, description="OffloadConfig fields (edgeledger.offload.config), "
                                "e.g. { n_devices = 10, dqn = { hidden_layers = [120, 80] } }")
    local_slots: int = Field(30, ge=1, description="slots (episodes) each device trains per round")
    eval_slots: int = Field(20, ge=1, description="held-out slots the cloud scores the global Q-network on")
    eval_seed: int = Field(10_007, ge=0, description="seed of the held-out evaluation slots")
    marginal_features: bool = Field(False, description="add each action's immediate cost increase to the state")
    compute_s_per_transition: float = Field(0.0005, ge=0, description="modelled device time per transition")
    init_params: str | None = Field(None, description="start from the global Q-network in this .npz (key "
                                    "'params', e.g. benchmarks/offload_dqn_checkpoint.npz) instead of a fresh one")
    environment: Literal["model", "network"] = Field(
        "model", description="where devices learn: the analytical MEC model (each device simulates its own cell; the "
        "fast path) or the scenario's network (tasks, grants, results and reports are messages; the cell is the "
        "topology: its devices, its edges, the cloud)")
    sharing: Literal["slot", "network"] = Field(
        "network", description="network environment: servers share as the analytical model does ('slot': a task gets "
        "f/n of its slot's n, the WAN a fair share) or as real ones do ('network': processor sharing, FIFO links)")
    result_timeout_s: float = Field(10.0, gt=0, description="network environment: a task whose result has not come "
                                    "back after this long counts as a miss")
    grant_window_s: float = Field(0.001, ge=0, description="network environment: how long an access point collects "
                                  "a slot's access requests before it grants the radio shares")


class SecurityConfig(_Strict):
    payload_encryption: str = Field("none", description="end-to-end encryption of update blobs to the aggregator: "
                                    "none | sealedbox | a registered cipher (relaying edges cannot read them)")
    wire_encryption: str = Field("none", description="encryption of every message between node processes "
                                 "(HTTP driver): none | sealedbox | a registered cipher")
    max_blob_bytes: int = Field(64 * 1024 * 1024, ge=1, description="largest blob a node process accepts on "
                                "PUT /v1/blobs (uploads are signed by a member and named by a transaction)")

    @model_validator(mode="after")
    def _known(self) -> SecurityConfig:
        from edgeledger.crypto.sealing import ciphers

        for key in ("payload_encryption", "wire_encryption"):
            if getattr(self, key) not in ciphers:
                raise ValueError(f"security.{key}={getattr(self, key)!r} is unknown; expected one of {ciphers.names()}")
        return self


class ConsortiumConfig(_Strict):
    """EdgeToll consortium roles for the contracts' access control (``edgetoll.matching``, payments).

    ``accounts`` are client identities (FISCO-BCOS style accounts, not node processes) added to
    the genesis with a consortium role; the nodes keep their topology roles. An account's key is
    ``public_keys[name]`` (hex, ``topology.signature_scheme``) or, when absent, derived from the
    scenario seed and its name: fine for test networks, not for a real consortium.
    ``edge_nodes`` says which company owns which edge server (EN); by default every edge server,
    assigned to the companies in turn (company accounts, then the sealing company nodes).
    ``standby_sealers`` adds node processes ``company-k``.. (numbered after the
    ``topology.companies`` sealers; genesis role ``company``, not validators) that run PBFT in
    standby from the start: a
    ``membership`` vote can admit them as sealers, and they vote from their activation height.
    """

    accounts: dict[str, Literal["proxy", "company", "en", "device"]] = Field(
        default_factory=dict, description="account name -> role (proxy | company | en | device)")
    public_keys: dict[str, str] = Field(default_factory=dict, description="account name -> hex public key "
                                        "(absent: a test key derived from the scenario seed)")
    edge_nodes: dict[str, str] = Field(default_factory=dict, description="edge server id -> owning company "
                                       "account (default: every edge server, companies in turn)")
    standby_sealers: int = Field(0, ge=0, le=64, description="standby sealer nodes company-k.. (role company, "
                                 "numbered after topology.companies): "
                                 "PBFT replicas that follow the chain and vote once a membership vote adds them")
    open_roles: list[Literal["device", "edge"]] = Field(
        default_factory=list, description="roles a node process may join as after genesis, through the center and "
        "a membership.admit transaction (open membership; devices are sponsored by the first edge, edges by the "
        "cloud)")

    @model_validator(mode="after")
    def _check(self) -> ConsortiumConfig:
        for name in self.accounts:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"accounts: name {name!r} must be non-empty letters, digits, '-', '_' or '.'")
        for name, key in self.public_keys.items():
            if name not in self.accounts:
                raise ValueError(f"public_keys: {name!r} is not an account; declare it in consortium.accounts")
            try:
                bytes.fromhex(key)
            except ValueError:
                raise ValueError(f"public_keys.{name}: expected a hex public key, got {key!r}") from None
        return self


class OutputConfig(_Strict):
    dir: str = Field("runs", description="results go to <dir>/<name>-<timestamp>/")
    plots: bool = Field(True, description="draw the plots (accuracy and loss per round, traffic)")
    formats: list[Literal["png", "svg", "pdf"]] = Field(
        default_factory=lambda: ["png"], min_length=1, description="file formats of the plots: png, and the vector "
        "formats svg and pdf for a paper")


class Scenario(_Strict):
    """A whole run: topology, network, consensus, federated learning, attacks, security, output."""

    name: str = Field("scenario", description="names the results folder and the chain id")
    seed: int = Field(0, ge=0, description="decides keys, data split, client choice, training and losses")
    topology: TopologyConfig = TopologyConfig()
    network: NetworkConfig = NetworkConfig()
    consensus: ConsensusConfig = ConsensusConfig()
    fl: FLConfig = FLConfig()
    attacks: list[AttackConfig] = Field(default_factory=list)
    security: SecurityConfig = SecurityConfig()
    plugins: list[str] = Field(default_factory=list, description="Python modules every node imports first "
                               "(they register contracts, transaction kinds, aggregators, models ...)")
    offload: OffloadTaskConfig = OffloadTaskConfig()
    consortium: ConsortiumConfig = ConsortiumConfig()
    output: OutputConfig = OutputConfig()
    max_sim_time_s: float = Field(3600.0, gt=0, description="stop the simulation at this simulated time")

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> Scenario:
        """The scenario in the TOML file ``path`` (``--set``-style ``overrides`` applied), validated."""
        return load_scenario(path, overrides)

    @classmethod
    def demo(cls) -> Scenario:
        """The built-in demo scenario (``edgeledger demo``)."""
        from importlib import resources

        return parse_scenario(tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text()))

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A new, validated scenario with dotted keys replaced, e.g. ``{"fl.rounds": 20, "seed": 3}``."""
        data = self.model_dump(mode="json", exclude_none=True)
        for key, value in overrides.items():
            node, parts = data, str(key).split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ConfigError(f"{key}: {part!r} is not a table")
                node = child
            node[parts[-1]] = value
        return parse_scenario(data)

    @model_validator(mode="after")
    def _feasible(self) -> Scenario:
        self._check_protocol()
        n = self.topology.n_validators
        if self.consensus.protocol == "pow" and self.consensus.pow_limit_zero_bits > self.consensus.pow_zero_bits:
            raise ValueError(f"consensus.pow_limit_zero_bits={self.consensus.pow_limit_zero_bits} exceeds "
                             f"pow_zero_bits={self.consensus.pow_zero_bits}; the limit must be the easier target")
        if self.consensus.protocol == "pbft" and n < 4:
            raise ValueError(f"topology.validators gives n={n} PBFT validators; PBFT needs n >= 3f+1 with f >= 1, "
                             "i.e. at least 4 (add edges or let the cloud validate)")
        trainers = self.topology.edges if self.fl.trainers == "edge" else self.topology.n_devices
        what = "edge servers (fl.trainers = 'edge')" if self.fl.trainers == "edge" else "devices"
        if self.fl.clients_per_round > trainers:
            raise ValueError(f"fl.clients_per_round={self.fl.clients_per_round} exceeds the {trainers} {what} "
                             "of the topology")
        self._check_architecture()
        self._check_consortium()
        return self

    def _check_architecture(self) -> None:
        """Edge training and consensus-winner aggregation fit only the settings that make sense for them."""
        fl = self.fl
        if fl.trainers == "edge" and fl.task == "offloading":
            raise ValueError("fl.trainers: 'edge' trains a data set's classifier on the devices' raw data; "
                             "fl.task = 'offloading' trains each device's own agent, use 'device'")
        if fl.trainers == "edge" and self.topology.devices_per_edge < 1:
            raise ValueError("fl.trainers: 'edge' needs devices to upload data; topology.devices_per_edge is 0")
        if self.offload.environment == "network":
            if fl.task != "offloading":
                raise ValueError("offload.environment: 'network' runs the offloading agents on the network; it needs "
                                 "fl.task = 'offloading'")
            cycle = self.offload.local_slots * float(self.offload.env.get("slot_s", 1.0))
            if fl.round_timeout_s <= cycle:
                raise ValueError(f"fl.round_timeout_s={fl.round_timeout_s}: with offload.environment = 'network' a "
                                 f"round's local training lasts offload.local_slots x slot_s = {cycle} s; expected more")
        if fl.aggregation == "consensus_winner":
            if self.security.payload_encryption != "none":
                raise ValueError("security.payload_encryption seals updates to one aggregator's key; with "
                                 "fl.aggregation = 'consensus_winner' every validator aggregates: use 'none'")
            if fl.download_fallback:
                raise ValueError("fl.download_fallback asks the cloud aggregator directly; with "
                                 "fl.aggregation = 'consensus_winner' there is none: set it to false")

    def _check_protocol(self) -> None:
        """``consensus.protocol`` must name a registered protocol (the built-in ones, or a plug-in's:
        the modules in ``plugins`` are imported first so that their decorators register them)."""
        import edgeledger.consensus.pbft  # noqa: F401  (registers pbft)
        import edgeledger.consensus.pow  # noqa: F401  (registers pow)
        from edgeledger.consensus import consensus_protocols
        from edgeledger.registry import import_plugins

        import_plugins(self.plugins)
        if self.consensus.protocol not in consensus_protocols:
            near = difflib.get_close_matches(self.consensus.protocol, consensus_protocols.names(), n=2, cutoff=0.5)
            raise ValueError(f"consensus.protocol: {self.consensus.protocol!r} is not a registered consensus protocol; "
                             + (f"did you mean {' or '.join(repr(n) for n in near)}? " if near else "")
                             + f"expected one of: {', '.join(consensus_protocols.names())} (a plug-in registers its "
                             "own with @consensus_protocols.register(name) in a module listed in plugins)")
        if self.consensus.params and self.consensus.protocol in ("pbft", "pow"):
            raise ValueError(f"consensus.params: {self.consensus.protocol} takes its settings as consensus.* keys; "
                             "params are for plug-in protocols")

    def _check_consortium(self) -> None:
        """Account names must not clash with node ids; ``edge_nodes`` must name edge servers."""
        topo, con = self.topology, self.consortium
        edges = [f"edge-{e}" for e in range(topo.edges)]
        sealing = [f"company-{i}" for i in range(topo.companies)] + (["proxy"] if "proxy" in topo.validators else [])
        standby = [f"company-{topo.companies + i}" for i in range(con.standby_sealers)]
        if standby and self.consensus.protocol != "pbft":
            raise ValueError(f"consortium.standby_sealers: {con.standby_sealers} standby sealers need PBFT but "
                             f"consensus.protocol is {self.consensus.protocol!r}; set it to \"pbft\" or use 0")
        for name in con.accounts:
            if name in ("center", "cloud") or name in edges or name in standby or name in sealing or (
                    name.startswith("device-") and name[7:].isdigit() and int(name[7:]) < topo.n_devices):
                raise ValueError(f"consortium.accounts: {name!r} is already a node id of the topology"
                                 f"{' (a standby sealer)' if name in standby else ''}"
                                 f"{' (a sealer node)' if name in sealing else ''}; give the account another name")
        for name, key in con.public_keys.items():  # hex was checked by ConsortiumConfig
            problem = public_key_error(topo.signature_scheme, bytes.fromhex(key))
            if problem is not None:
                raise ValueError(f"consortium.public_keys.{name}: {problem} (topology.signature_scheme is "
                                 f"{topo.signature_scheme!r})")
        if "edge" in con.open_roles and self.fl.enabled:
            raise ValueError("consortium.open_roles: edge servers are admitted by the cloud, whose key also signs the "
                             "FL rounds (one nonce sequence); use it with fl.enabled = false, or open only \"device\"")
        if self.consensus.heartbeat_s and self.fl.enabled and "cloud" in topo.validators:
            raise ValueError("consensus.heartbeat_s: validators sign clock ticks, and the cloud already signs the FL "
                             "rounds with its own nonces; with a heartbeat let the cloud observe (e.g. "
                             "topology.validators = [\"proxy\", \"company\"]) or set fl.enabled = false")
        if self.consensus.heartbeat_s and self.consensus.protocol != "pbft":
            raise ValueError(f"consensus.heartbeat_s: the heartbeat ticks a PBFT chain's clock; consensus.protocol is "
                             f"{self.consensus.protocol!r}")
        companies = sorted(n for n, r in con.accounts.items() if r == "company") + sealing[:topo.companies]
        for en, owner in con.edge_nodes.items():
            if owner not in companies:
                raise ValueError(f"consortium.edge_nodes.{en}: owner {owner!r} is not a company account; "
                                 f"companies: {companies or 'none (add one to consortium.accounts)'}")
        unknown = [en for en in con.edge_nodes if en not in edges]
        if unknown:
            raise ValueError(f"consortium.edge_nodes: {unknown} are not edge servers of this topology "
                             f"(edge-0..edge-{topo.edges - 1})")


def format_validation_error(exc: ValidationError) -> str:
    """One line naming each bad key, its value and what is expected (closest valid keys for a typo)."""
    return describe_validation_error(exc, Scenario)


def parse_scenario(data: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """The raw TOML table of a scenario file; a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"scenario file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"scenario file {str(path)!r} is a folder; expected a TOML file "
                          "(edgeledger demo --write-scenario my.toml writes one)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"scenario file {str(path)!r} is not UTF-8 text (byte {exc.start}); expected a TOML "
                          "file") from None
    except PermissionError:
        raise ConfigError(f"scenario file {str(path)!r} cannot be read: permission denied") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario file {str(path)!r} is not valid TOML: {exc}") from None


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    return parse_scenario(apply_overrides(read_scenario_file(path), overrides or []))
