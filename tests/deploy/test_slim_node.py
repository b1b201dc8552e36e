"""A chain-only node never imports the heavy extras (issue 18: ``pip install edgeledger`` on a small board).

The node processes start with a ``sitecustomize`` that refuses (and records) any import of torch,
scikit-learn, gymnasium or matplotlib: a chain-only network that imported one would crash at once.
The network must still commit transactions, and the CLI names the extra a heavy command needs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger.kv import KVSet
from edgeledger.ledger.transaction import make_transaction
from tests.deploy.conftest import get, launch, send, shut, wait_for, wait_healthy

HEAVY = ("torch", "sklearn", "gymnasium", "matplotlib")
BLOCKER = '''
import sys, os
HEAVY = {heavy!r}
class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            with open(os.environ["EDGELEDGER_IMPORT_LOG"], "a") as fh:
                fh.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: a chain-only install)", name=name)
        return None
sys.meta_path.insert(0, _Refuse())
'''
CHAIN_ONLY = ["name=\"slim\"", "topology.edges=4", "topology.devices_per_edge=1", "topology.validators=[\"edge\"]",
              "fl.enabled=false", "attacks=[]", "fl.clients_per_round=4"]


@pytest.fixture()
def blocked(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(heavy=HEAVY))
    log = tmp_path / "imports.log"
    log.write_text("")
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("PYTHONPATH", f"{site}:{root}")
    monkeypatch.setenv("EDGELEDGER_IMPORT_LOG", str(log))
    return log


def test_a_chain_only_network_runs_without_importing_the_heavy_extras(tmp_path, blocked):
    c = launch(tmp_path, CHAIN_ONLY)
    try:
        wait_healthy(c, timeout=120)
        data = Path(str(c.processes["device-0"]["log"])).with_suffix("")
        key = derive_key("ed25519", (data / "identity.seed").read_bytes())
        tx = make_transaction(key, "device-0", 1, "kv.set", KVSet(key="slim", value=b"yes"))
        assert send(f"{c.processes['edge-1']['url']}/v1/tx", encode(tx))[0] == 202
        wait_for(lambda: get(f"{c.processes['edge-2']['url']}/v1/state/kv/slim")[0] == 200, 60, "the commit")
    finally:
        shut(c)
    assert blocked.read_text() == "", f"a chain-only node imported: {blocked.read_text().split()}"


def test_a_command_that_needs_an_extra_names_it_in_one_line(tmp_path, blocked):
    out = subprocess.run([sys.executable, "-m", "edgeledger", "demo", "--set", "fl.rounds=1", "--set",
                          f"output.dir=\"{tmp_path}\""], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("MissingExtra:") and "pip install 'edgeledger[" in lines[0]
