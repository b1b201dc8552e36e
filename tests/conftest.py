"""Shared fixtures: deterministic identities and a genesis for a small permissioned chain."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeledger.crypto.keys import derive_key
from edgeledger.ledger.identity import Genesis, Identity, Membership

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
if "EDGELEDGER_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["EDGELEDGER_DATA"] = str(SHARED_DATA)


def make_chain(n_validators: int = 4, devices: tuple[str, ...] = ("dev0", "dev1"), scheme: str = "ed25519"):
    """Keys and a Membership for validators v0..v{n-1} and the named devices."""
    names = [f"v{i}" for i in range(n_validators)]
    keys = {name: derive_key(scheme, name.encode()) for name in names + list(devices)}
    identities = [Identity(node_id=n, role="edge" if n in names else "device", scheme=scheme,
                           public_key=keys[n].public_key) for n in names + list(devices)]
    genesis = Genesis(chain_id="test", identities=identities, validators=names)
    return keys, Membership(genesis)


def run_cli(capsys, *args):
    """Run the ``edgeledger`` CLI in-process: (exit code, stdout, stderr)."""
    from edgeledger.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


@pytest.fixture
def chain4():
    return make_chain(4)


def pytest_configure(config):
    """Tiny models on a 2-core box: one torch thread is fastest and keeps results bit-identical."""
    import torch

    torch.set_num_threads(1)
