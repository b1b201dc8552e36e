"""Pedal Section V-B at CI size: the scheme models run and keep their ordering."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments" / "pedal_oracle"))

from schemes import SCHEMES, run_scheme


def test_pedal_moves_the_least_data_and_finishes_first_at_12_nodes():
    results = {s: run_scheme(s, 12, 10, 500_000) for s in SCHEMES}
    pedal = results["pedal"]
    for scheme, r in results.items():
        if scheme != "pedal":
            assert pedal["processing_s"] < r["processing_s"], scheme
            assert pedal["traffic_bytes"] < 0.5 * r["traffic_bytes"], scheme
    again = run_scheme("pbft", 12, 10, 500_000)
    assert again == results["pbft"]  # deterministic


def _load_runner():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "experiments" / "pedal_oracle" / "run.py"
    spec = importlib.util.spec_from_file_location("pedal_oracle_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fig8_quick_writes_results_and_plots_and_pedal_leads_in_the_large_network(tmp_path, capsys):
    import csv
    import json

    runner = _load_runner()
    runner.main(["--fig8", "--quick", "--out", str(tmp_path)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "processing_s.png").stat().st_size > 1000
    assert (tmp_path / "traffic_bytes.png").stat().st_size > 1000
    rows = list(csv.DictReader((tmp_path / "results.csv").read_text().splitlines()))
    nodes, txs, sizes = runner.GRIDS[("fig8", True)]
    assert len(rows) == len(nodes) * len(txs) * len(sizes) * len(SCHEMES)
    assert min(nodes) >= 30  # the large network, not V-B's 12-27
    for key, entry in summary.items():
        for scheme in SCHEMES[1:]:
            assert entry[f"pedal_speedup_vs_{scheme}_min"] > 1.0, (key, scheme)
            assert entry[f"pedal_traffic_share_vs_{scheme}"] < 0.5, (key, scheme)
    # a sweep split with --nodes is joined again with --merge, to the same summary
    runner.main(["--fig8", "--merge", str(tmp_path / "results.csv"), "--out", str(tmp_path / "merged")])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary
    assert (tmp_path / "merged" / "results.csv").read_text() == (tmp_path / "results.csv").read_text()


def test_pedalcore_moves_the_models_observations_plus_proposals_carrying_them():
    """The stated check of the agreement model against PedalCore (experiments/pedal_oracle/pedalcore.py):
    the same requests served by real PedalCore nodes move the model's data volume (the observations,
    members -> master) plus the master's proposals, which carry the observations to every member so
    it can recompute the aggregate; so PedalCore's traffic is several times the model's, never less."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "experiments" / "pedal_oracle" / "pedalcore.py"
    spec = importlib.util.spec_from_file_location("pedal_oracle_pedalcore", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (row,) = module.run(12, 2, (40_000,))
    assert row["pedalcore_traffic_bytes"] > 2 * row["model_traffic_bytes"]
    assert "oracle.proposal" in row["top_message_types"] and "oracle.observation" in row["top_message_types"]
    assert 0 < row["pedalcore_processing_s"] < 5
