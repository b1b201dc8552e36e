"""Where a committed transaction's CPU goes on the HTTP path, per process (issue 22).

Two instruments, both from outside the processes so the code under test is unchanged:

* :class:`CpuMeter` reads each process's CPU seconds (user + system, ``psutil``) at the start
  and end of a phase: how the two cores are split between validators, followers and the
  load generator;
* :class:`SpyProfile` runs ``py-spy record --format raw`` (a sampling profiler; ``pip install
  py-spy``) on each process for the phase and :func:`classify` assigns every sample to one
  stage of the transaction's path by the innermost frame that names a stage.

The stages are the issue's: client (the load generator's own work), submit handler,
verification, mempool, proposal, PBFT messages (envelopes, relay, votes), execution, store,
receipts/read API, the HTTP server/client machinery and the event loop.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil

__all__ = ["STAGES", "CpuMeter", "SpyProfile", "classify", "summarize", "py_spy_available"]

#: (stage, substrings of a py-spy frame "function (file:line)"); the innermost frame that
#: matches any rule decides a sample's stage, so a signature check inside the submit handler
#: counts as verification and an encode inside the proposal counts as proposal.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("verification", ("_verify_ed25519", "_verify_ecdsa", "verify_signature", "VerifyKey", "verify_many")),
    ("signing", ("sign (edgeledger/crypto/keys.py", "_sign (edgeledger/consensus", "seal (edgeledger/net")),
    ("store", ("edgeledger/ledger/store.py", "put_consensus", "forget_consensus")),
    ("execution", ("apply_block", "edgeledger/ledger/state.py", "edgeledger/ledger/kv.py",
                   "edgeledger/ledger/contracts")),
    ("receipts/read API", ("_with_receipts", "block_json", "edgeledger/scenario/results.py",
                           "NodeApi.block", "block (edgeledger/web/api.py", "commit_events", "events (edgeledger/web",
                           "_on_commit", "edgeledger/web/observe")),
    ("proposal", ("_take_batch", "_propose", "transactions_root", "merkle")),
    ("mempool", ("_admit", "check_tx", "check (edgeledger/ledger/state.py", "mempool", "edgeledger/node/pool")),
    ("submit handler", ("submit (edgeledger/web/api.py", "submit_batch", "submit_many", "edgeledger/web/api.py")),
    ("PBFT messages", ("edgeledger/consensus/", "edgeledger/net/envelope.py", "handle_messages", "_accept",
                       "_enqueue", "_worker (edgeledger/net", "_post (edgeledger/net", "edgeledger/net/http.py")),
    ("node (other)", ("edgeledger/node/",)),
    ("client (load generator)", ("benchmarks/", "edgeledger/bench/")),
    ("codec", ("edgeledger/codec.py", "msgspec")),
    ("HTTP machinery", ("aiohttp", "multidict", "yarl", "http/", "json/")),
    ("event loop", ("asyncio", "selectors", "epoll", "select (")),
]


def py_spy_available() -> bool:
    return shutil.which("py-spy") is not None


def classify(stack: str) -> str:
    """The stage of one py-spy raw stack (frames separated by ``;``, root first)."""
    for frame in reversed(stack.split(";")):
        for stage, needles in STAGES:
            if any(n in frame for n in needles):
                return stage
    return "other"


def summarize(raw: str) -> dict[str, float]:
    """Share of samples per stage (descending) of a py-spy ``--format raw`` output."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[classify(stack)] += int(n)
    total = sum(counts.values()) or 1
    return {stage: round(c / total, 3) for stage, c in counts.most_common()}


def top_functions(raw: str, limit: int = 12) -> list[tuple[str, float]]:
    """The leaf frames that take the most samples (self time), with their share."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stack.split(";")[-1]] += int(n)
    total = sum(counts.values()) or 1
    return [(frame, round(c / total, 3)) for frame, c in counts.most_common(limit)]


class CpuMeter:
    """CPU seconds each labelled process spent between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {label: psutil.Process(pid) for label, pid in pids.items()}
        self._t0: dict[str, float] = {}
        self._wall = 0.0
        self.seconds: dict[str, float] = {}
        self.wall_s = 0.0

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        try:
            t = p.cpu_times()
            return t.user + t.system  # every thread of the process
        except psutil.Error:
            return 0.0

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._t0 = {label: self._cpu(p) for label, p in self.procs.items()}

    def stop(self) -> dict[str, float]:
        self.wall_s = time.perf_counter() - self._wall
        self.seconds = {label: round(self._cpu(p) - self._t0[label], 3) for label, p in self.procs.items()}
        return self.seconds

    def shares(self) -> dict[str, float]:
        total = sum(self.seconds.values()) or 1.0
        return {label: round(s / total, 3) for label, s in self.seconds.items()}


class SpyProfile:
    """``py-spy record`` on each labelled process, from :meth:`start` until :meth:`stop`."""

    def __init__(self, pids: dict[str, int], out_dir: Path, rate: int = 67) -> None:
        self.pids, self.out_dir, self.rate = pids, out_dir, rate
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for label, pid in self.pids.items():
            self._procs[label] = subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", str(self.rate),
                 "--nonblocking", "-o", str(self.out_dir / f"{label}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> dict[str, dict[str, float]]:
        for proc in self._procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in self._procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out = {}
        for label in self._procs:
            path = self.out_dir / f"{label}.txt"
            if path.exists():
                out[label] = summarize(path.read_text())
        return out
