"""The shared process start-up: listen parsing, the stored identity, and the two small servers
(``edgeledger center`` and ``edgeledger observe``) started as real processes."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from edgeledger.deploy.bootstrap import load_identity, parse_listen
from edgeledger.errors import ConfigError


def test_listen_parses_host_and_port_and_rejects_a_missing_port():
    assert parse_listen("10.0.0.5:8700") == ("10.0.0.5", 8700)
    assert parse_listen(":0") == ("127.0.0.1", 0)
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        parse_listen("127.0.0.1")


def test_identity_is_made_once_private_and_resumed(tmp_path):
    first = load_identity(tmp_path, "ed25519")
    assert (tmp_path / "identity.seed").stat().st_mode & 0o777 == 0o600
    assert load_identity(tmp_path, "ed25519").public_key == first.public_key


def _serve(args: list[str], pattern: str, timeout: float = 30.0) -> tuple[subprocess.Popen[str], str]:
    """Start ``edgeledger ARGS`` and return it with the URL it prints once listening."""
    proc = subprocess.Popen([sys.executable, "-m", "edgeledger", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(pattern, line)
        if found:
            return proc, found.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"edgeledger {' '.join(args)} printed no address")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(2)  # SIGINT, as Ctrl-C
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_center_on_port_zero_prints_the_port_it_got_and_stops_on_ctrl_c():
    proc, url = _serve(["center", "--listen", "127.0.0.1:0"], r"center listening on (http://\S+)")
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as resp:
            assert resp.status == 200 and b'"center"' in resp.read()
    finally:
        assert _stop(proc) == 0


def test_observe_serves_a_finished_run_and_redirects_the_root(tmp_path):
    from edgeledger.cli import main

    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(run), "--set", "fl.rounds=1", "--quiet"])
        raise SystemExit(0)
    assert (exc.value.code or 0) == 0
    proc, url = _serve(["observe", str(run), "--listen", "127.0.0.1:0", "--duration", "30"],
                       r"dashboard of .*: (http://\S+)/observe/")
    try:
        with urllib.request.urlopen(f"{url}/", timeout=5) as resp:  # / redirects to the dashboard
            assert resp.url.endswith("/observe/") and "demo" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}/observe/block/999999", timeout=5)
        assert missing.value.code == 404
    finally:
        assert _stop(proc) == 0
