"""experiments/pedal_oracle/vc.py: finished runs are kept and reused only at the same length; bad arguments get one line."""

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


def test_a_run_is_reused_only_at_the_same_number_of_rounds(vc, tmp_path, capsys, monkeypatch):
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
    # Data files gone (another machine, a moved data root): the folder's runs are still tabulated,
    # not replaced by "not run".
    monkeypatch.setattr(vc, "available", lambda dataset, root: f"{dataset} needs a data root")
    assert vc.main([*base, "--rounds", "2"]) == 0
    summary = json.loads((out.with_name("vc-quick") / "summary.json").read_text())
    assert summary["datasets"]["digits"]["settings"]["IID / 0% / pedal"]["runs"] == 1
    assert len(_rows(out)) == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["--datasets", "mnst"], "unknown data set 'mnst'; expected some of: cifar10, fashion_mnist, kmnist, mnist"),
    (["--only", "IID / 30 / pedal"], "no setting is labelled 'IID / 30 / pedal'"),
    (["--repeats", "0"], "--repeats and --rounds must be at least 1"),
    (["--rounds", "0"], "--repeats and --rounds must be at least 1"),
])
def test_a_mistyped_argument_is_one_line_and_exit_2(vc, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        vc.main([*argv, "--out", str(tmp_path / "vc")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert ": error: " in err[-1] and message in err[-1]
    assert not (tmp_path / "vc").exists()  # nothing was started
