"""What a tired person mistypes: every bad command line gets one line ``ErrorType: message``
on stderr and exit 2, never a traceback (issue 19). ``--debug`` shows the traceback."""

import json
import re
from pathlib import Path

import pytest

from edgeledger.cli import main

ONE_LINE = re.compile(r"^[A-Z]\w+: \S.*$")


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """Files and folders the bad command lines point at (made once: a finished 1-round run among them)."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "binary.toml").write_bytes(b"\xff\xfe\x00bad")
    (root / "broken.toml").write_text("name = [unclosed\n")
    (root / "a-file.txt").write_text("hello\n")
    (root / "empty").mkdir()
    (root / "mine.toml").write_text("name = 'mine'\n")
    run = root / "run"
    main(["demo", "--out", str(run), "--set", "fl.rounds=1", "--quiet"])
    return root


BAD = [
    ("", "needs a command"),
    ("dmo", "No such command 'dmo'"),
    ("demo --seed abc", "--seed"),
    ("demo --seed -1", "seed"),
    ("demo --threads 0", "--threads"),
    ("demo --threads many", "--threads"),
    ("demo --out", "--out"),
    ("demo --bogus", "--bogus"),
    ("demo extra-argument", "extra-argument"),
    ("run", "Missing argument"),
    ("run {root}/nope.toml", "does not exist"),
    ("run {root}", "is a folder"),
    ("run {root}/binary.toml", "not UTF-8"),
    ("run {root}/broken.toml", "not valid TOML"),
    ("run {root}/mine.toml --seed", "--seed"),
    ("demo --out {root}/a-file.txt --quiet", "is a file"),
    ("demo --out {root}/a-file.txt/sub --quiet", "cannot create"),
    ("demo --out {root}/run --quiet", "already holds a run"),
    ("demo --set nonsense --quiet", "expected KEY=VALUE"),
    ("demo --set fl.roundz=3 --quiet", "did you mean fl.rounds"),
    ("demo --set topology.edgez=3 --quiet", "did you mean topology.edges"),
    ("demo --set fl.rounds=0 --quiet", "fl.rounds"),
    ("demo --set fl.rounds=\"many\" --quiet", "fl.rounds"),
    ("demo --set topology.edges=2 --quiet", "PBFT needs n >= 3f+1"),
    ("demo --set fl.partition=\"iidd\" --quiet", "did you mean 'iid'"),
    ("demo --set fl.executor=\"rayy\" --quiet", "did you mean 'ray'"),
    ("demo --set fl.aggregator=\"krum2\" --quiet", "fl.aggregator: 'krum2'"),
    ("demo --set fl.aggregator=\"trimed_mean\" --quiet", "did you mean 'trimmed_mean'"),
    ("demo --set fl.aggregator_params={bta=0.1} --quiet", "did you mean 'beta'"),
    ("demo --set fl.dataset=\"mnst\" --quiet", "fl.dataset: 'mnst'"),
    ("""demo --set 'fl.executor="batched"' --set 'fl.executor_options={threadz=1}' --quiet""", "did you mean 'threads'"),
    ("demo --set fl.model=\"mlpp\" --quiet", "did you mean 'mlp'"),
    ("demo --set consensus.protocol=\"pbtf\" --quiet", "did you mean 'pbft'"),
    ("""demo --set 'attacks=[{kind="sign_flp",fraction=0.1}]' --quiet""", "did you mean 'sign_flip'"),
    ("""demo --set 'attacks=[{kind="sign_flip",fraction=0.1,params={scal=2}}]' --quiet""", "did you mean 'scale'"),
    ("""demo --set 'attacks=[{kind="sign_flip",nodes=["device-99"]}]' --quiet""", "attacks.0.nodes: 'device-99'"),
    ("""demo --set 'attacks=[{kind="upload_tamper",nodes=["edge-7"]}]' --quiet""", "not an edge"),
    ("""demo --set 'attacks=[{kind="sign_flip",fraction=1.5}]' --quiet""", "attacks.0.fraction"),
    ("""demo --set 'plugins=["no_such_module_xyz"]' --quiet""", "plugins: cannot import"),
    ("demo --set attacks=[{kind=sign_flip,fraction=0.1}] --quiet", "quote the whole option for the shell"),
    ("demo --write-scenario {root}/empty", "is a folder"),
    ("demo --write-scenario {root}/mine.toml", "exists; pass --force"),
    ("chain", "needs a command"),
    ("chain show", "Missing argument"),
    ("chain show {root}/empty", "is not a results folder"),
    ("chain show {root}/run --block 999", "--block 999"),
    ("chain show {root}/run --block two", "--block"),
    ("experiment", "needs a command"),
    ("experiment run", "Missing argument"),
    ("experiment frobnicate", "No such command"),
    ("data download", "Missing argument"),
    ("bench {root}/nope.toml", "does not exist"),
    ("market frob", "No such command"),
    ("consensus replay", "Missing argument"),
    ("observe", "Missing argument"),
    ("node --role cloud", "Missing option"),
    ("experiment run nope", "unknown experiment 'nope'"),
    ("experiment run fbfl-attacks --quick --only zzz", "no setting matches 'zzz'"),
    ("data download nope --data-root {root}/empty", "has no download source"),
    ("observe {root}/empty", "is not a results folder"),
    ("observe {root}/run --listen nonsense", "expected HOST:PORT"),
    ("bench {root}/empty", "is a folder"),
    ("demo --write-scenario {root}/a-file.txt/x.toml", "cannot write"),
    ("market channels --dir {root}/empty", "holds no market chain"),
    ("consensus replay garbage", "unknown scenario family"),
]


def _argv(line, root):
    import shlex

    return shlex.split(line.replace("{root}", str(root)))


def run_cli(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)  # success returns normally
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_the_list_is_long_enough():
    assert len(BAD) >= 40


@pytest.mark.parametrize("line, expected", BAD, ids=[b[0] or "<no arguments>" for b in BAD])
def test_a_bad_command_line_is_one_line_and_exit_2(paths, capsys, line, expected):
    code, _, err = run_cli(capsys, _argv(line, paths))
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), err
    assert expected in lines[0]
    assert "Traceback" not in err


def test_a_refused_command_line_leaves_no_folder_behind(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").symlink_to(Path(__file__).resolve().parents[1] / "experiments")
    for line in ("demo --set fl.roundz=1 --quiet", "experiment run fbfl-attacks --quick --only zzz",
                 "run nowhere.toml"):
        assert run_cli(capsys, line.split())[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiments"]


def test_debug_shows_the_traceback_and_keeps_the_exit_code(paths, capsys):
    code, _, err = run_cli(capsys, ["run", str(paths / "binary.toml"), "--debug"])
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("ConfigError:")


def test_version_prints_the_package_version(capsys):
    import edgeledger

    code, out, _ = run_cli(capsys, ["--version"])
    assert code == 0 and out.strip() == f"edgeledger {edgeledger.__version__}"


def test_force_replaces_the_earlier_run_so_chain_show_sees_one_chain(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, ["demo", "--out", str(out), "--set", "fl.rounds=1", "--quiet"])[0] == 0
    (out / "chain" / "other-chain.json").write_text(json.dumps({"chain_id": "x", "height": 0, "blocks": []}))
    assert run_cli(capsys, ["demo", "--out", str(out), "--set", "fl.rounds=2", "--quiet", "--force"])[0] == 0
    assert [p.name for p in (out / "chain").iterdir()] == ["demo-fl.json"]
    assert json.loads((out / "summary.json").read_text())["rounds_completed"] == 2


def test_progress_ends_at_the_height_the_summary_reports(tmp_path, capsys):
    code, out, _ = run_cli(capsys, ["demo", "--out", str(tmp_path / "r"), "--set", "fl.rounds=2"])
    blocks = json.loads((tmp_path / "r" / "summary.json").read_text())["blocks"]
    assert code == 0 and f"chain height {blocks}" in out


def test_chain_show_names_kinds_with_their_counts(paths, capsys):
    code, out, _ = run_cli(capsys, ["chain", "show", str(paths / "run")])
    assert code == 0 and "fl.round_open" in out and "fl.round_openx1" not in out and "×" in out


def test_write_scenario_names_its_own_file_in_the_header(tmp_path, capsys):
    path = tmp_path / "study.toml"
    assert run_cli(capsys, ["demo", "--write-scenario", str(path)])[0] == 0
    assert "edgeledger run study.toml" in path.read_text() and "demo.toml" not in path.read_text()


def test_an_unexpected_error_is_one_line_naming_debug(monkeypatch, capsys):
    import edgeledger.cli.simulate as simulate

    def boom(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(simulate, "_run", boom)
    code, _, err = run_cli(capsys, ["demo", "--quiet"])
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--debug" in err and "kaput" in err


def test_missing_mnist_points_to_the_download_command(tmp_path):
    from edgeledger.errors import DatasetError
    from edgeledger.fl.datasets import load_dataset

    with pytest.raises(DatasetError, match="edgeledger data download mnist"):
        load_dataset("mnist", tmp_path)
