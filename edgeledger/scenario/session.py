"""The Python API's run: a scenario in, its metrics, chain and plots out (``edgeledger.run``).

::

    import edgeledger as el

    s = el.Scenario.load("my.toml").with_overrides({"fl.rounds": 20})
    r = el.run(s)
    r.metrics            # pandas DataFrame: time, round, node, metric, value
    r.rounds             # one row per round: accuracy, loss, ...
    r.chain["blocks"]    # every block with its certificate and transactions
    r.plot()             # accuracy and loss per round (a matplotlib Figure)

A :class:`Run` holds plain data (the resolved scenario, metric rows, rejections, the chain
export, the summary), so it can be saved as a results folder (:meth:`Run.save`) and read back
from one (:func:`load_results`) with nothing lost that the API shows.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeledger.errors import ConfigError
from edgeledger.scenario.schema import Scenario, read_scenario_file

__all__ = ["Run", "run", "load_results"]

METRIC_COLUMNS = ["time", "round", "node", "metric", "value"]
REJECTION_COLUMNS = ["time", "node", "sender", "what", "reason"]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ConfigError("Run.metrics needs pandas; install it with pip install 'edgeledger[analysis]'") from None
    return pandas


@dataclass
class Run:
    """A finished simulation: what ``edgeledger run`` writes, as Python objects."""

    scenario: Scenario
    summary: dict[str, Any]
    metric_rows: list[tuple[float, int, str, str, float]]
    rejection_rows: list[tuple[float, str, str, str, str]]
    chain: dict[str, Any]
    path: Path | None = None
    sample_rows: list[tuple[float, str, int, int, int]] = field(default_factory=list)  # traffic.csv
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> Any:
        """Every metric the nodes emitted (long format: ``time, round, node, metric, value``)."""
        if "metrics" not in self._cache:
            self._cache["metrics"] = _pandas().DataFrame(self.metric_rows, columns=METRIC_COLUMNS)
        return self._cache["metrics"]

    @property
    def rejections(self) -> Any:
        """Every rejected upload or download: ``time, node, sender, what, reason``."""
        return _pandas().DataFrame(self.rejection_rows, columns=REJECTION_COLUMNS)

    @property
    def rounds(self) -> Any:
        """The aggregator's metrics per round (``accuracy``, ``loss``, ...), one row per round: those
        of the node that closed the round (the cloud, or the consensus winner under FBFL's
        ``fl.aggregation = "consensus_winner"``), without what a winner reports as a trainer."""
        from edgeledger.fl.round.reporting import CLOSE_MARK, TRAINER_METRICS, round_closers

        m = self.metrics
        marks = m[m.metric == CLOSE_MARK]  # one row per round: only those need reading row by row
        closers = round_closers(zip(marks.node, marks["round"], marks.metric))
        closer = m["round"].map(closers)
        mine = m[(m.node == closer) & (m["round"] > 0) & m.metric.str.startswith("fl.") & ~m.metric.isin(TRAINER_METRICS)]
        table = mine.pivot_table(index="round", columns="metric", values="value", aggfunc="last")
        table.columns = [c.removeprefix("fl.") for c in table.columns]
        return table

    @property
    def final_accuracy(self) -> float | None:
        value = self.summary.get("final_accuracy")
        return None if value is None else float(value)

    def plot(self, path: str | Path | None = None) -> Any:
        """Accuracy and loss per round (a matplotlib Figure); ``path`` (.png, .svg, .pdf) also saves it."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        rounds = self.rounds
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.6), sharex=True, layout="constrained")
        for ax, column, color in ((a, "accuracy", "tab:blue"), (b, "loss", "tab:red")):
            if column in rounds:
                ax.plot(rounds.index, rounds[column], marker="o", markersize=3, color=color)
            ax.set_xlabel("round")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(f"test {column}")
            ax.grid(alpha=0.3)
        a.set_ylim(0, 1)
        fig.suptitle(f"{self.scenario.name}: {self.scenario.fl.aggregator}, "
                     f"{len(self.summary.get('malicious', {}) or {})} malicious node(s)", fontsize=10)
        if path is not None:
            fig.savefig(path)
        return fig

    def save(self, out: str | Path, force: bool = False) -> Path:
        """Write the results folder (as ``edgeledger run --out``); refuses a folder holding a run unless ``force``."""
        import tomli_w

        from edgeledger.scenario.results import prepare_results_dir

        out = prepare_results_dir(out, force, option="out")
        (out / "scenario.toml").write_text(tomli_w.dumps(self.scenario.model_dump(mode="json", exclude_none=True)))
        with open(out / "metrics.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(METRIC_COLUMNS)
            writer.writerows([f"{t:.9f}", r, n, m, repr(v)] for t, r, n, m, v in self.metric_rows)
        with open(out / "rejections.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(REJECTION_COLUMNS)
            writer.writerows([f"{r[0]:.9f}", *r[1:]] for r in self.rejection_rows)
        (out / "summary.json").write_text(json.dumps(self.summary, indent=1) + "\n")
        with open(out / "traffic.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["time", "node", "bytes_in", "bytes_out", "view"])
            writer.writerows([f"{t:.9f}", *rest] for t, *rest in self.sample_rows)
        (out / "chain").mkdir(exist_ok=True)
        (out / "chain" / f"{self.chain['chain_id']}.json").write_text(json.dumps(self.chain, indent=1) + "\n")
        self.path = out
        return out

    def __repr__(self) -> str:
        acc = self.final_accuracy
        return (f"Run({self.scenario.name!r}, rounds={self.summary.get('rounds_completed')}/{self.summary.get('rounds')}, "
                f"final_accuracy={'-' if acc is None else f'{acc:.4f}'}, blocks={self.summary.get('blocks')})")


def run(scenario: Scenario | str | Path, out: str | Path | None = None, force: bool = False,
        progress: bool = False, threads: int | None = 1) -> Run:
    """Simulate ``scenario`` (a :class:`Scenario` or a TOML path) and return its :class:`Run`.

    Deterministic: one scenario and seed give the same blocks, hashes and metrics. With ``out``
    the results folder is written as well (plots included when ``output.plots``). Local training
    uses ``threads`` torch threads during the run, one by default as on the command line
    (spinning OpenMP threads collapse on a shared machine); ``None`` leaves torch's setting."""
    from edgeledger.scenario.results import block_json, prepare_results_dir, write_results
    from edgeledger.scenario.runner import run_scenario

    if not isinstance(scenario, Scenario):
        scenario = Scenario.load(scenario)
    if out is not None:
        out = prepare_results_dir(out, force, option="out")

    def show(p: dict[str, Any]) -> None:
        print(f"round {p['round']}/{p['rounds']}: {p['metric']} {p['value']:.4f}", flush=True)

    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        result = run_scenario(scenario, progress=show if progress else None)
    finally:
        torch.set_num_threads(before)
    store = result.network.nodes["cloud"].store
    chain = {"chain_id": result.network.membership.chain_id, "height": store.height,
             "blocks": [block_json(b) for b in store.blocks()]}
    outcome = Run(scenario, result.summary, [(m.time, m.round, m.node, m.metric, m.value) for m in result.metrics],
                  list(result.rejections), chain, sample_rows=list(result.samples))
    if out is not None:
        outcome.path = write_results(result, Path(out))
    return outcome


def load_results(folder: str | Path) -> Run:
    """The :class:`Run` a results folder holds (written by ``edgeledger run``/``demo`` or :meth:`Run.save`)."""
    from edgeledger.scenario.results import load_chain_export
    from edgeledger.scenario.schema import parse_scenario

    folder = Path(folder)
    chains = load_chain_export(folder)
    scenario = parse_scenario(read_scenario_file(folder / "scenario.toml"))
    summary = json.loads((folder / "summary.json").read_text())
    with open(folder / "metrics.csv", newline="") as fh:
        metric_rows = [(float(t), int(r), n, m, float(v)) for t, r, n, m, v in list(csv.reader(fh))[1:]
                       if not m.startswith("rejected.")]
    rejections: list[tuple[float, str, str, str, str]] = []
    if (folder / "rejections.csv").exists():
        with open(folder / "rejections.csv", newline="") as fh:
            rejections = [(float(t), n, s, w, why) for t, n, s, w, why in list(csv.reader(fh))[1:]]
    samples: list[tuple[float, str, int, int, int]] = []
    if (folder / "traffic.csv").exists():
        with open(folder / "traffic.csv", newline="") as fh:
            samples = [(float(t), n, int(i), int(o), int(v)) for t, n, i, o, v in list(csv.reader(fh))[1:]]
    return Run(scenario, summary, metric_rows, rejections, chains[0], path=folder, sample_rows=samples)
