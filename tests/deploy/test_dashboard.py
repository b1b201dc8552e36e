"""The /observe dashboard in a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.fl.round.events import UpdateRecord
from edgeledger.ledger.transaction import make_transaction
from tests.deploy.conftest import get, send, wait_for

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("EDGELEDGER_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def _height(page) -> int:
    return int(page.text_content("#height") or 0)


def test_dashboard_loads_updates_live_and_opens_a_block(cluster):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see README test set-up)")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium): see the README"
    url = cluster.processes["edge-1"]["url"]
    wait_for(lambda: get(f"{url}/v1/head")[1].get("height", 0) >= 1, 60, "a first block")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"{url}/observe/", timeout=15_000)
            page.wait_for_selector("#blocks tr", timeout=15_000)
            shown = _height(page)
            assert shown == get(f"{url}/v1/head")[1]["height"] or shown >= 1
            page.wait_for_function("document.getElementById('live').textContent === 'live'", timeout=10_000)
            # a device (whose key is in its data directory) signs a transaction: a new block must appear live
            data_dir = Path(str(cluster.processes["device-0"]["log"])).with_suffix("")
            key = derive_key("ed25519", (data_dir / "identity.seed").read_bytes())
            tx = make_transaction(key, "device-0", 10**6, "fl.update",
                                  UpdateRecord(round=999, update_digest=bytes(32), update_size=0, n_samples=0))
            before = get(f"{url}/v1/head")[1]["height"]
            status, _ = send(f"{url}/v1/tx", encode(tx))
            assert status == 202
            page.wait_for_function(f"Number(document.getElementById('height').textContent) > {before}",
                                   timeout=20_000)
            assert page.locator("#chart-accuracy").count() == 1 and page.locator("#topology circle").count() >= 9
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "observe-live.png"), full_page=True)
            first = page.locator("#blocks tr a").first
            target = first.text_content()
            first.click()
            page.wait_for_selector("#block-hash", timeout=10_000)
            assert page.title().startswith("block") and target.lstrip("#") in page.title()
            assert "Merkle inclusion proof" in page.content()
            page.screenshot(path=str(ARTIFACTS / "observe-block.png"), full_page=True)
        finally:
            browser.close()
