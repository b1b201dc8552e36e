from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeledger.cli import app
from edgeledger.fl.partition import partition
from edgeledger.fl.partition_stats import histogram_summary, label_histogram, plot_label_histogram


def test_label_histogram_counts_each_clients_classes() -> None:
    labels = np.array([0, 0, 1, 2, 2, 2])
    hist = label_histogram(labels, [np.array([0, 2]), np.array([1, 3, 4, 5])], 3)
    assert hist.tolist() == [[1, 1, 0], [1, 0, 3]]


def test_summary_separates_iid_from_shards() -> None:
    labels = np.repeat(np.arange(10), 100)
    iid = label_histogram(labels, partition("iid", labels, 10, np.random.default_rng(0)), 10)
    shards = label_histogram(labels, partition("shards", labels, 10, np.random.default_rng(0)), 10)
    assert iid.sum() == shards.sum() == 1000
    s_iid, s_shards = histogram_summary(iid), histogram_summary(shards)
    assert s_iid["mean_classes_per_client"] == 10 and s_shards["mean_classes_per_client"] <= 2
    assert s_iid["mean_tv_distance"] < 0.2 < s_shards["mean_tv_distance"]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot_label_histogram(np.array([[3, 1], [0, 4]]), tmp_path / "h.png", title="t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_partition_stats_prints_table_and_plots(tmp_path: Path) -> None:
    png = tmp_path / "digits.png"
    result = CliRunner().invoke(app, ["data", "partition-stats", "--dataset", "digits", "--clients", "4",
                                      "--partition", "dirichlet", "--alpha", "0.5", "--seed", "3",
                                      "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "digits / 4 clients / dirichlet alpha=0.5 (seed 3)" in result.output
    assert "classes per client" in result.output and png.is_file()


def test_cli_partition_stats_json_is_deterministic_and_complete() -> None:
    args = ["data", "partition-stats", "--dataset", "digits", "--clients", "5", "--partition", "shards", "--json"]
    first, second = CliRunner().invoke(app, args), CliRunner().invoke(app, args)
    assert first.exit_code == 0 and first.output == second.output
    body = json.loads(first.output)
    assert np.array(body["histogram"]).shape == (5, 10) and np.array(body["histogram"]).sum() == 1437


@pytest.mark.parametrize(("args", "needle"), [
    (["--partition", "zipf"], "unknown partition 'zipf'"),
    (["--dataset", "nope"], "unknown data set 'nope'"),
    (["--partition", "dirichlet", "--alpha", "-1"], "alpha must be a finite number > 0"),
])
def test_cli_partition_stats_bad_input_is_one_line_exit_2(args: list[str], needle: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from edgeledger.cli import main

    with pytest.raises(SystemExit) as info:
        main(["data", "partition-stats", "--dataset", "digits", *args])  # a later --dataset wins
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
