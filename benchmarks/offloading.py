"""Offloading benchmark (issue 5): gain ratios of the baselines, a centrally trained DQN and
the federated DQN against the exact optimum on docs/offloading.md's default environment
(N = 10, M = 1), the optimum's cost per slot and the environment's raw speed. Prints a
table, then one JSON object as its last line. Every DQN trains on slots held out from the
evaluation slots; ``dqn`` uses docs/offloading.md's state, ``dqn_marginal`` adds each action's
immediate cost (both with docs/offloading.md's agent settings). ``federated_dqn`` is the tuned
agent (``TUNED_AGENT``: marginal and lookahead features, gamma 1, [256, 128]) trained through
the chain's FL round protocol (``run_scenario`` on ``experiments/offloading/base.toml``);
``--quick`` loads the global Q-network of such a run from
``benchmarks/offload_dqn_checkpoint.npz`` instead (``dqn_from_checkpoint: true``), and
``--write-checkpoint`` refreshes that file (and runs the full benchmark on it).

    python benchmarks/offloading.py --quick             # ~100 slots, well under two minutes
    python benchmarks/offloading.py --slots 1000        # the full run (trains everything)
    python benchmarks/offloading.py --write-checkpoint  # the full run, saving the federated DQN
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

try:
    import edgeledger  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.evaluate import PolicyReport, evaluate_policies
from edgeledger.offload.federated import TUNED_AGENT
from edgeledger.offload.gym import SequentialOffloadEnv
from edgeledger.offload.policies import make_policy
from edgeledger.offload.policies.dqn import DqnPolicy
from edgeledger.offload.training import train_dqn

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "benchmarks" / "offload_dqn_checkpoint.npz"
SCENARIO = ROOT / "experiments" / "offloading" / "base.toml"
#: The federated run behind the checkpoint and the full benchmark (scenario overrides): 60
#: rounds of 10 slots per device with the tuned agent (``TUNED_AGENT``: gamma = 1, marginal and
#: lookahead features, a [256, 128] double DQN; docs/offloading.md's defaults stay the defaults).
FEDERATED = ["fl.rounds=60", "offload.local_slots=10", *TUNED_AGENT]
#: A second stage started from the checkpoint (``--continue-checkpoint``): a new seed (new
#: slots), little exploration and a smaller step size.
CONTINUE = ["seed=1", "fl.rounds=60", "offload.local_slots=10", TUNED_AGENT[0],
            TUNED_AGENT[1][:-1] + ", epsilon_start=0.1, epsilon_decay_steps=2000, learning_rate=0.0005}"]

BASELINES = ["all_local", "all_edge", "all_cloud", "random", "greedy", "coordinate_descent", "optimum"]
#: docs/offloading.md's reference gain ratios (N = 10, M = 1, 30 slots, one reference implementation).
REFERENCE = {
    "all_local": 0.62,
    "all_edge": 0.45,
    "all_cloud": 0.45,
    "random": 0.66,
    "greedy": 0.89,
    "coordinate_descent": 0.93,
    "optimum": 1.00,
}


def env_decisions_per_s(config: OffloadConfig, seed: int, slots: int) -> float:
    """Device decisions per second of ``OffloadEnv.step`` with random actions (no learning)."""
    rng = np.random.default_rng(seed)
    env = OffloadEnv(config, rng)
    actions = rng.integers(0, config.n_actions, size=(slots, config.n_devices))
    start = time.perf_counter()
    for row in actions:
        env.step(row)
    return slots * config.n_devices / (time.perf_counter() - start)


def sequential_decisions_per_s(config: OffloadConfig, seed: int, steps: int) -> float:
    """Steps per second of the single-device Gymnasium formulation (one decision a step)."""
    env = SequentialOffloadEnv(config.model_copy(update={"episode_slots": 10**9}))
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, config.n_actions, size=steps)
    start = time.perf_counter()
    for a in actions:
        env.step(int(a))
    return steps / (time.perf_counter() - start)


def federated_dqn(overrides: list[str]) -> tuple[DqnPolicy, dict[str, object]]:
    """Train the federated DQN through ``run_scenario`` and return its global Q-network."""
    from edgeledger.offload.federated import OffloadFederation
    from edgeledger.scenario.runner import run_scenario
    from edgeledger.scenario.schema import load_scenario

    scenario = load_scenario(SCENARIO, overrides)
    result = run_scenario(scenario)
    fed = OffloadFederation(scenario)
    policy = DqnPolicy(fed.config, training=False, marginal_features=scenario.offload.marginal_features)
    set_flat_params(policy.agent.online, result.network.aggregator.global_params)
    meta = {"overrides": overrides, "rounds_completed": result.summary["rounds_completed"],
            "devices": scenario.fl.clients_per_round, "head_hash": result.summary["head_hash"]}
    return policy, meta


def load_checkpoint(path: Path = CHECKPOINT) -> tuple[DqnPolicy, dict[str, object]]:
    """The global Q-network saved by ``--write-checkpoint`` and the settings it needs."""
    from edgeledger.offload.federated import OffloadFederation
    from edgeledger.scenario.schema import load_scenario

    with np.load(path, allow_pickle=False) as data:
        params, meta = data["params"], json.loads(str(data["meta"]))
    scenario = load_scenario(SCENARIO, list(meta["overrides"]))
    fed = OffloadFederation(scenario)
    policy = DqnPolicy(fed.config, training=False, marginal_features=scenario.offload.marginal_features)
    set_flat_params(policy.agent.online, params)
    return policy, meta


def print_table(reports: dict[str, PolicyReport]) -> None:
    head = f"{'policy':<20}{'gain':>7}{'ref':>6}{'mean/slot':>10}{'cost/slot':>10}{'delay s':>9}{'energy J':>9}"
    head += f"{'miss':>7}{'local':>7}{'edge':>7}{'cloud':>7}{'decide ms':>10}"
    print(head)
    print("-" * len(head))
    for name, report in reports.items():
        s = report.summary()
        per_slot = float(np.mean([r.gain_ratio for r in report.slots]))
        ref = f"{REFERENCE[name]:.2f}" if name in REFERENCE else "-"
        print(
            f"{name:<20}{report.gain_ratio:>7.3f}{ref:>6}{per_slot:>10.3f}"
            f"{s['mean_slot_cost']:>10.3f}{s['mean_delay_s']:>9.3f}{s['mean_energy_j']:>9.3f}{s['miss_ratio']:>7.3f}"
            f"{s['share_local']:>7.2f}{s['share_edge']:>7.2f}{s['share_cloud']:>7.2f}{1e3 * s['decision_s']:>10.3f}"
        )
    print("gain = sum Q_opt / sum Q_policy over all slots; mean/slot = mean of per-slot ratios; ref = docs/offloading.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 slots, shorter training and speed runs")
    parser.add_argument("--slots", type=int, default=None, help="evaluation slots (default 1000, 100 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the environment and the policies")
    parser.add_argument("--dqn-slots", type=int, default=None, help="DQN training slots (5000, 1000 with --quick)")
    parser.add_argument("--write-checkpoint", action="store_true",
                        help=f"train the federated DQN on the chain and save it to {CHECKPOINT.name}")
    parser.add_argument("--continue-checkpoint", action="store_true",
                        help="train a further federated stage starting from the checkpoint and save it back")
    parser.add_argument("--federated-from-checkpoint", action="store_true",
                        help="load the federated DQN from the checkpoint (the default with --quick)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny MLPs: threads only add contention
    slots = args.slots or (100 if args.quick else 1000)
    dqn_slots = args.dqn_slots if args.dqn_slots is not None else (1000 if args.quick else 5000)
    config = OffloadConfig()
    print(f"seed={args.seed} slots={slots} dqn_slots={dqn_slots} N={config.n_devices} M={config.n_edges}")

    chosen = {name: make_policy(name, config) for name in BASELINES}
    train_start = time.perf_counter()
    if dqn_slots > 0:
        chosen["dqn"] = train_dqn(config, dqn_slots, args.seed)[0]
        chosen["dqn_marginal"] = train_dqn(config, dqn_slots, args.seed, marginal_features=True)[0]
    train_s = time.perf_counter() - train_start
    fed_start = time.perf_counter()
    writing = args.write_checkpoint or args.continue_checkpoint
    from_checkpoint = (args.quick or args.federated_from_checkpoint) and not writing
    if from_checkpoint:
        chosen["federated_dqn"], fed_meta = load_checkpoint()
    elif args.continue_checkpoint:
        stages = load_checkpoint()[1].get("stages", [])
        chosen["federated_dqn"], fed_meta = federated_dqn([*CONTINUE, f"offload.init_params={str(CHECKPOINT)!r}"])
        fed_meta = {**fed_meta, "overrides": CONTINUE, "stages": [*stages, fed_meta["overrides"]]}
    else:
        chosen["federated_dqn"], fed_meta = federated_dqn(FEDERATED)
        fed_meta["stages"] = [FEDERATED]
    if writing:
        params = get_flat_params(chosen["federated_dqn"].agent.online)
        np.savez_compressed(CHECKPOINT, params=params, meta=json.dumps(fed_meta))
    fed_s = time.perf_counter() - fed_start
    print(f"federated DQN: {'checkpoint ' + CHECKPOINT.name if from_checkpoint else 'trained on the chain'} "
          f"{fed_meta} ({fed_s:.0f} s)")
    reports = evaluate_policies(chosen, config, slots, args.seed)
    print_table(reports)
    speed_slots = 2000 if args.quick else 20000
    env_rate = env_decisions_per_s(config, args.seed, speed_slots)
    seq_rate = sequential_decisions_per_s(config, args.seed, speed_slots)
    opt_s = float(np.mean([r.decision_s for r in reports["optimum"].slots]))
    print(f"optimum: {opt_s:.4f} s/slot; env: {env_rate:,.0f} decisions/s; sequential gym: {seq_rate:,.0f} steps/s")

    result: dict[str, float | int | bool] = {"seed": args.seed, "slots": slots, "quick": args.quick}
    for name, report in reports.items():
        if name != "optimum":
            result[f"gain_ratio_{name}"] = round(report.gain_ratio, 4)
    if dqn_slots > 0:
        result.update(dqn_training_slots=dqn_slots, dqn_train_s=round(train_s, 1))
    result.update(dqn_from_checkpoint=from_checkpoint, federated_dqn_s=round(fed_s, 1),
                  federated_dqn_rounds=fed_meta["rounds_completed"] * len(fed_meta.get("stages", [1])),
                  federated_dqn_devices=fed_meta["devices"])
    result["optimum_s_per_slot"] = round(opt_s, 5)
    result["env_decisions_per_s"] = round(env_rate)
    result["sequential_env_steps_per_s"] = round(seq_rate)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
