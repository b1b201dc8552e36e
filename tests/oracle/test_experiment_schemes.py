"""Pedal Section V-B at CI size: the scheme models run and keep their ordering."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments" / "pedal_oracle"))

from schemes import SCHEMES, run_scheme  # noqa: E402


def test_pedal_moves_the_least_data_and_finishes_first_at_12_nodes():
    results = {s: run_scheme(s, 12, 10, 500_000) for s in SCHEMES}
    pedal = results["pedal"]
    for scheme, r in results.items():
        if scheme != "pedal":
            assert pedal["processing_s"] < r["processing_s"], scheme
            assert pedal["traffic_bytes"] < 0.5 * r["traffic_bytes"], scheme
    again = run_scheme("pbft", 12, 10, 500_000)
    assert again == results["pbft"]  # deterministic
