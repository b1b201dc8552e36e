"""PNG plots of a run: accuracy and loss per round, traffic by node role and message type."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from edgeledger.scenario.runner import RunResult  # noqa: E402

__all__ = ["write_plots"]


def write_plots(result: RunResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _accuracy(result, out / "accuracy.png")
    _traffic(result, out / "traffic.png")


def _accuracy(result: RunResult, path: Path) -> None:
    series: dict[str, dict[int, float]] = defaultdict(dict)
    for m in result.metrics:
        if m.node == "cloud" and m.metric in ("fl.accuracy", "fl.loss"):
            series[m.metric][m.round] = m.value
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    acc = series.get("fl.accuracy", {})
    ax.plot(list(acc), list(acc.values()), marker="o", color="tab:blue", label="test accuracy")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy", color="tab:blue")
    ax.set_ylim(0, 1)
    ax2 = ax.twinx()
    loss = series.get("fl.loss", {})
    ax2.plot(list(loss), list(loss.values()), marker="s", color="tab:red", label="test loss")
    ax2.set_ylabel("loss", color="tab:red")
    malicious = sum(1 for k in result.network.malicious.values())
    ax.set_title(f"{result.scenario.name}: {result.scenario.fl.aggregator}, {malicious} malicious node(s)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _traffic(result: RunResult, path: Path) -> None:
    by_role: Counter = Counter()
    by_type: Counter = Counter()
    for node, t in result.sim.traffic.items():
        by_role[result.network.roles[node]] += t.bytes_sent
        by_type.update(t.bytes_by_type)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    roles = sorted(by_role)
    a.bar(roles, [by_role[r] / 1e6 for r in roles], color="tab:green")
    a.set_ylabel("MB sent")
    a.set_title("traffic by sender role")
    types = sorted(by_type, key=lambda k: -by_type[k])
    b.barh(types, [by_type[t] / 1e6 for t in types], color="tab:purple")
    b.set_xlabel("MB")
    b.set_title("traffic by message type")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
