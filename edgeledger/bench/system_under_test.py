"""The system under test: a scenario started as local processes, or a running network.

``local`` runs ``edgeledger up --detach`` in a subprocess (separate processes, as on real
devices) and reads its ``cluster.json``; ``remote`` asks a center for the peer list.
Either way the bench gets node URLs, roles, process ids where local, and the signing keys
of the identities that send transactions (read from ``<node>/identity.seed``), plus the
scenario's ``[consortium]`` accounts (EdgeToll roles) with their keys: an account's
``<keys_dir>/<account>/identity.seed`` where one exists, else its test key derived from the
scenario (remote networks need ``network.scenario`` for this).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from edgeledger.bench.schema import NetworkConfig
from edgeledger.bench.workloads import Consortium
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.scenario.schema import Scenario, apply_overrides, parse_scenario
from edgeledger.scenario.topology import consortium_keys, edge_node_owners, plan_topology

__all__ = ["DEFAULT_SET", "Network", "NodeInfo", "consortium_of", "start_network", "scenario_data",
           "write_scenario"]

#: Caliper-style test network: 4 PBFT validators (the edges), 4 client devices, no FL
DEFAULT_SET = ['name="bench"', "topology.edges=4", "topology.devices_per_edge=1", 'topology.validators=["edge"]',
               "fl.enabled=false", "attacks=[]", "fl.clients_per_round=4", "consensus.max_block_txs=2000",
               "consensus.batch_timeout_s=0.02",
               # EdgeToll consortium accounts (the edge servers are ENs of the companies in turn)
               'consortium.accounts={proxy="proxy", company-0="company", company-1="company"}']



@dataclass
class NodeInfo:
    label: str
    url: str
    role: str
    pid: int | None = None


@dataclass
class Network:
    nodes: dict[str, NodeInfo]
    validators: list[str]
    keys: dict[str, PrivateKey]
    root: Path | None = None  # local: the cluster folder (stopped by stop())
    description: dict[str, object] = field(default_factory=dict)
    consortium: Consortium = field(default_factory=Consortium)

    def submit_urls(self, submit_to: list[str]) -> list[str]:
        labels = submit_to or self.validators or [n for n, i in self.nodes.items() if i.role != "center"]
        unknown = [x for x in labels if x not in self.nodes]
        if unknown:
            raise ConfigError(f"network.submit_to: unknown nodes {unknown}; the network has {sorted(self.nodes)}")
        return [self.nodes[x].url for x in labels]

    def senders(self, roles: tuple[str, ...]) -> list[str]:
        """Identities with keys whose role is in ``roles``: nodes by topology role, consortium accounts
        by consortium role; with no roles, every node (accounts send only what asks for their role)."""
        if not roles:
            return [n for n in sorted(self.keys) if n in self.nodes]
        return [n for n in sorted(self.keys)
                if (self.nodes[n].role if n in self.nodes else self.consortium.accounts.get(n)) in roles]

    def endorser_urls(self) -> dict[str, list[str]]:
        """Endorsing peers by topology role (``edge`` -> their URLs), for execute-order-validate calls."""
        out: dict[str, list[str]] = {}
        for label in sorted(self.nodes):
            info = self.nodes[label]
            if info.role != "center":
                out.setdefault(info.role, []).append(info.url)
        return out

    def stop(self) -> None:
        if self.root is not None and (self.root / "cluster.json").exists():
            subprocess.run([sys.executable, "-m", "edgeledger", "down", "--dir", str(self.root)],
                           capture_output=True, timeout=60)


def scenario_data(cfg: NetworkConfig, plugins: list[str] | None = None) -> dict[str, Any]:
    """The scenario the network runs, as TOML data: ``cfg.scenario`` (or the demo) with DEFAULT_SET and ``cfg.set``.

    ``plugins`` are added to the scenario's (every node process imports them: the workloads'
    contracts and transaction kinds). The result is validated, so a bad ``set`` fails here.
    """
    if cfg.scenario:
        try:
            data = tomllib.loads(Path(cfg.scenario).read_text())
        except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"network.scenario: cannot read {cfg.scenario!r}: {exc}") from None
        overrides = list(cfg.set)
    else:
        data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
        overrides = DEFAULT_SET + list(cfg.set)
    data = apply_overrides(data, overrides)
    if plugins:
        data["plugins"] = sorted(set(data.get("plugins", [])) | set(plugins))
    parse_scenario(data)
    return data


def write_scenario(cfg: NetworkConfig, folder: Path, plugins: list[str] | None = None) -> Path:
    """:func:`scenario_data` written to ``folder/scenario.toml`` (what ``edgeledger up`` starts)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.toml"
    path.write_text(tomli_w.dumps(scenario_data(cfg, plugins)))
    return path


def _get_json(url: str, timeout: float = 2.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _wait_healthy(nodes: dict[str, NodeInfo], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for label, info in nodes.items():
        while True:
            try:
                _get_json(f"{info.url}/v1/health", 1.0)
                break
            except (OSError, ValueError, urllib.error.HTTPError):
                pass
            if time.monotonic() > deadline:
                raise EdgeLedgerError(f"node {label} at {info.url} did not become healthy within {timeout:.0f} s")
            time.sleep(0.2)


def _keys(root: Path, labels: list[str], scheme: str) -> dict[str, PrivateKey]:
    keys = {}
    for label in labels:
        seed = root / label / "identity.seed"
        if seed.exists():
            keys[label] = derive_key(scheme, seed.read_bytes())
    return keys


def consortium_of(scenario: Scenario, keys_dir: Path | None) -> tuple[Consortium, dict[str, PrivateKey]]:
    """The scenario's consortium and the account keys the bench holds (seed files first, then test keys)."""
    accounts = dict(sorted(scenario.consortium.accounts.items()))
    keys = _keys(keys_dir, list(accounts), scenario.topology.signature_scheme) if keys_dir is not None else {}
    keys = {**consortium_keys(scenario), **keys}
    return Consortium(accounts, edge_node_owners(scenario)), keys


def _start_local(cfg: NetworkConfig, work: Path, plugins: list[str]) -> Network:
    path = write_scenario(cfg, work, plugins)
    scenario = parse_scenario(tomllib.loads(path.read_text()))
    root = work / "cluster"
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "edgeledger", "up", str(path), "--dir", str(root), "--detach"],
                          capture_output=True, text=True, env=env, timeout=cfg.startup_timeout_s + 60)
    if proc.returncode != 0:
        raise EdgeLedgerError(f"edgeledger up failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-500:]}")
    data = json.loads((root / "cluster.json").read_text())
    nodes = {label: NodeInfo(label, str(p["url"]), str(p["role"]), int(p["pid"]))
             for label, p in data["processes"].items() if label != "center"}
    consortium, account_keys = consortium_of(scenario, None)
    net = Network(nodes=nodes, validators=plan_topology(scenario).validators,
                  keys={**_keys(root, sorted(nodes), scenario.topology.signature_scheme), **account_keys}, root=root,
                  description={"kind": "local", "scenario": str(path), "nodes": len(nodes), "plugins": plugins,
                               "consortium": consortium.accounts}, consortium=consortium)
    try:
        _wait_healthy(nodes, cfg.startup_timeout_s)
    except EdgeLedgerError:
        net.stop()
        raise
    return net


def _connect_remote(cfg: NetworkConfig) -> Network:
    center = str(cfg.center).rstrip("/")
    try:
        data = _get_json(f"{center}/v1/peers?format=json", 5.0)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"network.center: cannot read the peer list from {center}/v1/peers ({exc})") from None
    peers = data["peers"] if isinstance(data, dict) else data
    nodes = {p["node_id"]: NodeInfo(p["node_id"], p["address"], p["role"]) for p in peers if p["node_id"] != "center"}
    keys: dict[str, PrivateKey] = {}
    if cfg.keys_dir:
        schemes = {p["node_id"]: p.get("scheme", "ed25519") for p in peers}
        for label in nodes:
            keys.update(_keys(Path(cfg.keys_dir), [label], schemes.get(label, "ed25519")))
    validators = [n for n, i in nodes.items() if i.role == "edge"]
    consortium = Consortium()
    if cfg.scenario:  # the scenario the network runs: its consortium accounts and their keys
        try:
            data = tomllib.loads(Path(cfg.scenario).read_text())
        except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"network.scenario: cannot read {cfg.scenario!r}: {exc}") from None
        consortium, account_keys = consortium_of(parse_scenario(apply_overrides(data, list(cfg.set))),
                                                 Path(cfg.keys_dir) if cfg.keys_dir else None)
        keys.update(account_keys)
    _wait_healthy(nodes, cfg.startup_timeout_s)
    return Network(nodes=nodes, validators=validators, keys=keys, consortium=consortium,
                   description={"kind": "remote", "center": center, "nodes": len(nodes),
                                "consortium": consortium.accounts})


def start_network(cfg: NetworkConfig, work: Path, plugins: list[str]) -> Network:
    """Start (local) or reach (remote) the network; the caller must call ``stop()``."""
    if cfg.kind == "local":
        return _start_local(cfg, work, sorted(set(plugins) | set(cfg.plugins)))
    if cfg.kind == "remote":
        return _connect_remote(cfg)
    raise ConfigError("network.kind='sim' is run by edgeledger.bench.sim, not start_network")
