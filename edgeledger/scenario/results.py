"""The results folder of a run (docs/design.md, "The main job").

``runs/<name>-<timestamp>/``: ``scenario.toml`` (resolved, every default written out),
``metrics.csv`` (long format: time, round, node, metric, value), ``summary.json``,
``chain/<chain id>.json`` (every block with its certificate and transactions) and
``plots/``. Everything but the folder's name is a pure function of the run, so two runs
with one seed produce identical files.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tomli_w

from edgeledger.codec import decode, encode, to_builtins
from edgeledger.ledger.block import Block
from edgeledger.ledger.store import ChainStore
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeledger.scenario.runner import RunResult

__all__ = ["write_results", "export_chain", "load_chain_export", "results_dir_for", "prepare_results_dir",
           "RESULT_ENTRIES"]

#: what write_results puts in a results folder (``--force`` removes exactly these before a new run)
RESULT_ENTRIES = ("scenario.toml", "metrics.csv", "rejections.csv", "summary.json", "traffic.csv", "chain", "plots")


def prepare_results_dir(out: str | Path, force: bool = False, option: str = "--out") -> Path:
    """Check, before a run starts, that ``out`` can take its results: refuse a file, an unwritable
    path and a folder that already holds a run (two runs in one folder mix their chains) unless
    ``force``, which removes the earlier run's files (only those, see :data:`RESULT_ENTRIES`)."""
    import os
    import shutil

    from edgeledger.errors import ConfigError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {str(out)!r} is a file; expected a folder for the results")
    held = [name for name in RESULT_ENTRIES if (out / name).exists()]
    if held and not force:
        raise ConfigError(f"{option} {str(out)!r} already holds a run ({', '.join(held)}); pass --force to "
                          "replace it, or choose a new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError, OSError) as exc:
        raise ConfigError(f"{option} {str(out)!r}: cannot create the folder ({exc.strerror or exc}); "
                          "choose a folder you can write to") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {str(out)!r}: the folder is not writable; choose a folder you can write to")
    for name in held:
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return out


def results_dir_for(base: str | Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{name}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(base) / f"{name}-{stamp}-{n}"
    return path


def _payload_view(kind: str, payload: bytes) -> Any:
    """Decoded payload of known kinds, for reading; raw hex otherwise."""
    from edgeledger.ledger.kv import KIND_KV_SET, KVSet

    types: dict[str, Any] = {KIND_KV_SET: KVSet}
    if kind.startswith("fl."):  # only then load the FL package (and with it torch)
        from edgeledger.fl.round.events import KIND_CLOSE, KIND_OPEN, KIND_UPDATE, RoundClose, RoundOpen, UpdateRecord

        types.update({KIND_OPEN: RoundOpen, KIND_UPDATE: UpdateRecord, KIND_CLOSE: RoundClose})
    if kind in types:
        try:
            return to_builtins(decode(payload, types[kind]))
        except Exception:  # noqa: BLE001 - shown as hex below
            pass
    return payload.hex()


def block_json(block: Block) -> dict[str, Any]:
    h = block.header
    return {
        "index": h.height,
        "hash": block.hash.hex(),
        "timestamp_ms": h.timestamp_ms,
        "previous_hash": h.prev_hash.hex(),
        "merkle_root": h.tx_root.hex(),
        "proposer": h.proposer,
        "commit_certificate": to_builtins(block.certificate),
        "transactions": [{"id": tx.tx_id.hex(), "sender": tx.sender, "nonce": tx.nonce, "kind": tx.kind,
                          "payload": _payload_view(tx.kind, tx.payload), "signature": tx.signature.hex(),
                          "encoded": encode(tx).hex()}
                         for tx in block.transactions],
    }


def export_chain(store: ChainStore, chain_id: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"chain_id": chain_id, "height": store.height, "blocks": [block_json(b) for b in store.blocks()]}
    path.write_text(json.dumps(data, indent=1) + "\n")


def load_chain_export(results_dir: str | Path) -> list[dict[str, Any]]:
    """The exported chains of a results folder (one dict per chain file)."""
    from edgeledger.errors import ConfigError

    chain_dir = Path(results_dir) / "chain"
    files = sorted(chain_dir.glob("*.json")) if chain_dir.is_dir() else []
    if not files:
        raise ConfigError(f"{str(results_dir)!r} is not a results folder: no chain/*.json inside")
    return [json.loads(f.read_text()) for f in files]


def write_results(result: RunResult, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scenario.toml").write_text(tomli_w.dumps(result.scenario.model_dump(mode="json", exclude_none=True)))
    with open(out_dir / "metrics.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["time", "round", "node", "metric", "value"])
        for m in result.metrics:
            writer.writerow([f"{m.time:.9f}", m.round, m.node, m.metric, repr(m.value)])
        for t, node, sender, what, _reason in result.rejections:
            writer.writerow([f"{t:.9f}", -1, node, f"rejected.{what}", "1.0"])
    with open(out_dir / "rejections.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["time", "node", "sender", "what", "reason"])
        writer.writerows([[f"{r[0]:.9f}", *r[1:]] for r in result.rejections])
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=1) + "\n")
    with open(out_dir / "traffic.csv", "w", newline="") as fh:  # the dashboard's bytes and view series
        writer = csv.writer(fh)
        writer.writerow(["time", "node", "bytes_in", "bytes_out", "view"])
        writer.writerows([f"{t:.9f}", *rest] for t, *rest in result.samples)
    cloud = result.network.nodes["cloud"]
    export_chain(cloud.store, result.network.membership.chain_id,
                 out_dir / "chain" / f"{result.network.membership.chain_id}.json")
    if result.scenario.output.plots:
        from edgeledger.scenario.plots import write_plots

        write_plots(result, out_dir / "plots")
    return out_dir
