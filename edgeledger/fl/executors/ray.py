"""The ``process`` executor on a Ray cluster, so a study can outgrow one machine.

Each of ``workers`` Ray actors reserves one CPU (``num_cpus=1``), sets
``torch.set_num_threads(1)`` and keeps an inner executor (``sequential`` by default, or
``batched``) across rounds, exactly like a worker of :mod:`.process`; a round's jobs go to
the actors as balanced chunks (one job per task for ``sequential``, so idle actors pick up
the next client; one chunk of similar step count per actor for ``batched``), and results
come back in job order, equal to the inner executor's.

Where it runs: ``address`` (``"auto"`` for the cluster this machine belongs to,
``"ray://host:10001"`` for a remote head, or ``RAY_ADDRESS`` in the environment) connects
to an existing cluster, whose nodes must have ``edgeledger`` (and the user's plug-ins)
installed; otherwise a local Ray instance with ``num_cpus`` CPUs is started. A process that
already called ``ray.init`` is reused as it is. :meth:`RayExecutor.close` kills the actors
and shuts down only a Ray instance or connection that this executor opened.

Ray is an optional dependency (``pip install 'edgeledger[ray]'``): building the executor
checks that it is installed (a :class:`ConfigError` naming the extra if not) and the first
:meth:`RayExecutor.train_many` imports it, so ``import edgeledger`` never pulls it in.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.fl.executors.base import (
    Executor,
    ModelSpec,
    TrainOutput,
    TrainSpec,
    build_executor,
    executors,
    keep_heap_warm,
)
from edgeledger.fl.executors.process import split_balanced

__all__ = ["RayExecutor", "import_ray"]

INSTALL_HINT = "pip install 'edgeledger[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"fl.executor='ray' needs the Ray package, which is not installed ({exc}); "
                          f"install it with: {INSTALL_HINT}") from None
    return ray


class _Worker:
    """The body of one Ray actor: an inner executor kept across rounds, one torch thread."""

    def __init__(self, inner: str, model: ModelSpec) -> None:
        import warnings

        import torch

        torch.set_num_threads(1)
        keep_heap_warm()
        # Arrays arrive read-only from Ray's object store; training only reads them.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        self.executor = build_executor(inner, model)

    def train(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        return self.executor.train_many(jobs)

    def pid(self) -> int:
        return os.getpid()


@executors.register("ray")
class RayExecutor(Executor):
    """``workers`` one-CPU Ray actors, each running the executor named ``inner``.

    Options: ``address`` (``""``: ``RAY_ADDRESS`` if set, else a local instance; ``"local"``:
    always a local instance; ``"auto"`` or ``"ray://host:port"``: that cluster),
    ``num_cpus`` (CPUs of a local instance; default ``workers``), ``workers`` (actors; 0:
    one per CPU of the cluster), ``inner`` (``sequential`` or ``batched``),
    ``start_timeout_s`` (how long the actors may wait for free CPUs before a
    :class:`ConfigError`). Actors and the Ray instance start on the first :meth:`train_many`;
    each holds its CPU until :meth:`close`.
    """

    name = "ray"

    def __init__(self, model: ModelSpec, *, workers: int = 2, inner: str = "sequential", address: str = "",
                 num_cpus: int = 0, start_timeout_s: float = 300.0) -> None:
        super().__init__(model)
        if not float(start_timeout_s) > 0:
            raise ConfigError(f"ray start_timeout_s must be > 0, got {start_timeout_s}")
        if int(workers) < 0:
            raise ConfigError(f"ray workers must be >= 0 (0: one per cluster CPU), got {workers}")
        if int(num_cpus) < 0:
            raise ConfigError(f"ray num_cpus must be >= 0 (0: as many as workers), got {num_cpus}")
        if importlib.util.find_spec("ray") is None:  # fail when the run is configured, not mid-run
            import_ray()
        if inner not in executors or inner in ("process", "ray"):
            raise ConfigError(f"ray inner executor must be a registered in-process executor, got {inner!r}")
        self.workers, self.inner, self.num_cpus = int(workers), inner, int(num_cpus)
        self.start_timeout_s = float(start_timeout_s)
        self.address = str(address) or os.environ.get("RAY_ADDRESS", "")
        self.started_ray = False  # True when this executor called ray.init (and so shuts it down)
        self._actors: list[Any] = []

    # -- life cycle ----------------------------------------------------------------------

    def _connect(self) -> Any:
        ray = import_ray()
        if ray.is_initialized():  # the application's own Ray session: use it, leave it running
            return ray
        kwargs: dict[str, Any] = {"logging_level": "WARNING"}
        if self.address and self.address != "local":  # an existing cluster: it owns its resources
            kwargs["address"] = self.address
        else:  # no address (nor RAY_ADDRESS), or "local" (which overrides RAY_ADDRESS): a new instance
            kwargs.update(address="local", num_cpus=self.num_cpus or self.workers or os.cpu_count() or 1,
                          include_dashboard=False, log_to_driver=False)
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address if kwargs["address"] != "local" else "a local instance"
            raise ConfigError(f"fl.executor='ray': could not start or reach Ray ({where}): {exc}") from exc
        self.started_ray = True
        return ray

    def _get_actors(self) -> list[Any]:
        if self._actors:
            return self._actors
        ray = self._connect()
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_class = ray.remote(num_cpus=1)(_Worker)
        actors = [actor_class.remote(self.inner, self.model) for _ in range(workers)]
        # An actor waits for a free CPU forever: fail with the reason instead (e.g. a busy cluster).
        _, pending = ray.wait([a.pid.remote() for a in actors], num_returns=len(actors), timeout=self.start_timeout_s)
        if pending:
            free = ray.available_resources().get("CPU", 0)
            for actor in actors:
                ray.kill(actor)
            raise ConfigError(f"ray executor: {len(pending)} of {workers} one-CPU workers did not start within "
                              f"{self.start_timeout_s:g} s ({free:g} CPUs free in the cluster); lower "
                              "fl.executor_options.workers or add CPUs")
        self._actors = actors
        return self._actors

    def worker_pids(self) -> list[int]:
        """The process id of each actor (starting them if needed); a diagnostic."""
        ray = import_ray()
        return list(ray.get([a.pid.remote() for a in self._get_actors()]))

    # -- work ----------------------------------------------------------------------------

    def train_many(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        if not jobs:
            return []
        actors = self._get_actors()
        ray = import_ray()
        if self.inner == "sequential":
            chunks = [[i] for i in range(len(jobs))]
        else:
            chunks = split_balanced(jobs, len(actors))
        # Hand chunks to actors as they fall idle (the first len(actors) at once), keep job order.
        results: list[list[TrainOutput] | None] = [None] * len(chunks)
        running: dict[Any, tuple[int, Any]] = {}  # object ref -> (chunk index, actor)
        free, queue = list(actors), list(range(len(chunks)))
        try:
            while queue or running:
                while queue and free:
                    index, actor = queue.pop(0), free.pop(0)
                    running[actor.train.remote([jobs[i] for i in chunks[index]])] = (index, actor)
                ready, _ = ray.wait(list(running), num_returns=1)
                index, actor = running.pop(ready[0])
                results[index] = ray.get(ready[0])
                free.append(actor)
        except ray.exceptions.RayError as exc:
            raise EdgeLedgerError(f"ray executor: a training task failed: {exc}") from exc
        return [out for chunk in results for out in (chunk or [])]

    def close(self) -> None:
        if not self._actors and not self.started_ray:
            return
        ray = import_ray()
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False
