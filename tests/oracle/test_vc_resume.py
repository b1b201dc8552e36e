"""experiments/pedal_oracle/vc.py keeps finished runs and reuses only runs of the same length."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

VC = Path(__file__).resolve().parents[2] / "experiments" / "pedal_oracle" / "vc.py"


@pytest.fixture(scope="module")
def vc():
    spec = importlib.util.spec_from_file_location("pedal_vc", VC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(out.with_name(out.name + "-quick") / "runs.csv")))


def test_a_run_is_reused_only_at_the_same_number_of_rounds(vc, tmp_path, capsys):
    out = tmp_path / "vc"
    base = ["--quick", "--repeats", "1", "--only", "IID / 0% / pedal", "--out", str(out)]
    assert vc.main([*base, "--rounds", "1"]) == 0
    assert [len(json.loads(r["result"])["accuracy"]) for r in _rows(out)] == [1]
    capsys.readouterr()
    # Another length is a new run, not the 1-round one read back as if it were 2 rounds long.
    assert vc.main([*base, "--rounds", "2"]) == 0
    assert [len(json.loads(r["result"])["accuracy"]) for r in _rows(out)] == [1, 2]
    summary = json.loads((out.with_name("vc-quick") / "summary.json").read_text())
    assert summary["datasets"]["digits"]["settings"]["IID / 0% / pedal"]["runs"] == 1
    # The same length again is read back: no new row.
    assert vc.main([*base, "--rounds", "1"]) == 0
    assert len(_rows(out)) == 2
