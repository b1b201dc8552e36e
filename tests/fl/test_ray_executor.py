"""The ``ray`` executor on a local Ray instance: sequential's results, inside a scenario too.

Ray takes seconds to start, so one local instance serves the whole module: the module
fixture's executor starts it (4 logical CPUs: its own 2 actors plus 2 for one borrowing
executor at a time), the other executors reuse it, and the fixture checks at the end that
closing the executor shut it down and left no Ray process behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from importlib import resources

import numpy as np
import psutil
import pytest
import ray

from edgeledger.errors import ConfigError
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.executors import ModelSpec, RayExecutor, TrainSpec, build_executor
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario

TOL = 1e-4


def _jobs(train: Dataset, sizes: list[int]) -> tuple[ModelSpec, list[TrainSpec]]:
    spec = ModelSpec("mlp", train.input_shape, train.n_classes)
    start = get_flat_params(build_model("mlp", train.input_shape, train.n_classes, seed=3))
    jobs, offset = [], 0
    for i, n in enumerate(sizes):
        jobs.append(TrainSpec(start, train.subset(np.arange(offset, offset + n)), epochs=2, batch_size=8, lr=0.1,
                              seed=100 + i))
        offset += n
    return spec, jobs


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def local_ray(digits: tuple[Dataset, Dataset]):
    """A ray executor that started its own local instance; torn down (and checked) last."""
    assert not ray.is_initialized()
    before = _descendants()
    spec, _ = _jobs(digits[0], [1])
    executor = build_executor("ray", spec, workers=2, num_cpus=4, address="local")
    pids = executor.worker_pids()
    assert executor.started_ray and ray.is_initialized()
    started = _descendants() - before
    assert set(pids) <= started  # the actors are processes of the instance this test started
    yield executor
    executor.close()
    assert not ray.is_initialized() and not executor.started_ray
    deadline = time.monotonic() + 20
    while (left := [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"Ray processes left behind: {[psutil.Process(p).cmdline()[:2] for p in left]}"


def test_ray_executor_gives_sequential_parameters_bit_for_bit(local_ray, digits) -> None:
    spec, jobs = _jobs(digits[0], [40, 25, 33, 18, 30])
    with build_executor("sequential", spec) as sequential:
        want = sequential.train_many(jobs)
    pids = local_ray.worker_pids()
    got = local_ray.train_many(jobs)
    again = local_ray.train_many(jobs[2:4])
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert local_ray.worker_pids() == pids  # actors are kept across rounds
    assert len(got) == len(jobs)
    for g, w in zip([*got, *again], [*want, *want[2:4]], strict=True):
        assert (g.n_samples, g.steps) == (w.n_samples, w.steps)
        assert np.array_equal(g.params, w.params)  # same inner executor, one thread: identical
        assert g.mean_loss == w.mean_loss
    assert local_ray.train_many([]) == []


def test_ray_with_batched_workers_reuses_the_session_and_stays_within_tolerance(local_ray, digits) -> None:
    spec, jobs = _jobs(digits[0], [40, 25, 33, 18, 30])
    with build_executor("batched", spec, threads=1) as batched:
        want = batched.train_many(jobs)
    with build_executor("ray", spec, workers=2, inner="batched") as executor:
        got = executor.train_many(jobs)
        assert not executor.started_ray  # the module's instance, not a new one
        mine = executor.worker_pids()
    assert ray.is_initialized()  # closing a borrower leaves the session running ...
    assert not set(mine) & set(local_ray.worker_pids())  # ... and only its own actors went away
    for g, w in zip(got, want, strict=True):
        assert (g.n_samples, g.steps) == (w.n_samples, w.steps)
        assert np.abs(g.params - w.params).max() <= TOL
        assert abs(g.mean_loss - w.mean_loss) <= TOL


def _demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, ["fl.rounds=2", *sets]))


def test_workers_that_find_no_free_cpu_fail_with_the_reason(local_ray) -> None:
    spec = ModelSpec("mlp", (64,), 10)
    executor = build_executor("ray", spec, workers=3, start_timeout_s=3)  # 4 CPUs, 2 held by local_ray
    with pytest.raises(ConfigError, match="did not start within 3 s"):
        executor.worker_pids()
    assert executor._actors == []
    deadline = time.monotonic() + 20  # the two actors that did start were killed: their CPUs come back
    while ray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU") == 2


def test_scenario_with_ray_executor_gives_the_inline_chain(local_ray) -> None:
    inline = run_scenario(_demo())
    run = run_scenario(_demo('fl.executor="ray"', "fl.executor_options={workers=2}"))
    assert run.network.trainer.name == "ray"
    assert run.network.trainer.flushes == 2 and run.network.trainer.jobs == 2 * 12
    assert run.summary["head_hash"] == inline.summary["head_hash"]
    assert run.summary["accuracy_per_round"] == inline.summary["accuracy_per_round"]
    assert run.network.trainer.executor._actors == []  # closed by the runner
    assert ray.is_initialized()


def test_a_ten_thousand_device_scenario_trains_its_round_on_ray(local_ray) -> None:
    """Issue 17: a round's clients of a 10,000-device population go to the Ray workers; the chain is
    the inline run's (one round, the small MLP on synthetic data, 40 clients)."""
    sets = ("topology.edges=4", "topology.devices_per_edge=2500", 'topology.validators=["edge"]',
            'fl.dataset="synthetic"', "fl.samples_per_device=30", "fl.clients_per_round=40", "fl.rounds=1",
            "fl.local_epochs=1", "attacks=[]")
    inline = run_scenario(_demo(*sets))
    run = run_scenario(_demo(*sets, 'fl.executor="ray"', "fl.executor_options={workers=2}"))
    assert (run.network.trainer.flushes, run.network.trainer.jobs) == (1, 40)
    assert run.network.population.awake == 0 and len(run.network.population) == 10_000
    assert run.summary["head_hash"] == inline.summary["head_hash"]
    assert run.summary["accuracy_per_round"] == inline.summary["accuracy_per_round"]


def test_ray_options_are_checked() -> None:
    spec = ModelSpec("mlp", (64,), 10)
    with pytest.raises(ConfigError, match="inner"):
        build_executor("ray", spec, inner="process")
    with pytest.raises(ConfigError, match="workers"):
        build_executor("ray", spec, workers=-1)
    with pytest.raises(ConfigError, match="start_timeout_s"):
        build_executor("ray", spec, start_timeout_s=0)
    with pytest.raises(ConfigError, match="rejected options"):
        build_executor("ray", spec, threads=2)
    with pytest.raises(ConfigError, match="fl.executor"):
        _demo('fl.executor="rayy"')


def test_address_comes_from_the_option_or_ray_address(monkeypatch) -> None:
    spec = ModelSpec("mlp", (64,), 10)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head.example:10001")
    assert RayExecutor(spec).address == "ray://head.example:10001"
    assert RayExecutor(spec, address="local").address == "local"
    monkeypatch.delenv("RAY_ADDRESS")
    assert RayExecutor(spec).address == ""


def test_missing_ray_is_a_config_error_naming_the_extra(monkeypatch, digits) -> None:
    spec, jobs = _jobs(digits[0], [10])
    executor = build_executor("ray", spec, address="local")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'edgeledger\[ray\]'"):
        build_executor("ray", spec, address="local")  # when the run is configured ...
    with pytest.raises(ConfigError, match=r"pip install 'edgeledger\[ray\]'"):
        executor.train_many(jobs)  # ... and when it would start workers
    with pytest.raises(ConfigError, match=r"edgeledger\[ray\]"):
        run_scenario(_demo('fl.executor="ray"'))


def test_importing_edgeledger_does_not_import_ray() -> None:
    code = ("import sys, edgeledger, edgeledger.fl.executors, edgeledger.scenario.runner, edgeledger.cli; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
