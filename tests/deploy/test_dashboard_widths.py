"""Every /observe page in a real browser (Debian's chromium, Playwright) at 1024, 1400 and 1920
pixels: no horizontal overflow, no console error, every panel filled; screenshots saved.

Pages: a finished simulation run with attackers and rejected uploads (dashboard, a block, a
transaction), a market with paging and search, and a live cluster (a validator's dashboard and
a device's, which keeps no chain and links to a validator's)."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.fl.round.events import UpdateRecord
from edgeledger.ledger.transaction import make_transaction
from tests.deploy.conftest import get, send, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
WIDTHS = (1024, 1400, 1920)
ARTIFACTS = Path(os.environ.get("EDGELEDGER_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
RUN_PANELS = {"chain", "tx", "latency", "bytes", "view", "accuracy", "loss", "perday", "blocks", "recent", "pending",
              "topology", "rejections", "nodes"}


class Served:
    """An aiohttp app on 127.0.0.1 in a background thread (stops with the test)."""

    def __init__(self, app) -> None:
        from aiohttp import web

        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see the README test set-up)")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium): see the README"
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def run_site(tmp_path_factory):
    """A finished demo run (two sign-flippers, a tampering edge) and a market, served like `edgeledger observe`."""
    from aiohttp import web

    import edgeledger as el
    from edgeledger.scenario.market_demo import run_market_demo
    from edgeledger.web.market_page import install_market_page
    from edgeledger.web.observe import install_observe
    from edgeledger.web.observe_sources import RunSource

    out = tmp_path_factory.mktemp("observe") / "run"
    el.run(el.Scenario.demo().with_overrides({"fl.rounds": 3, "fl.round_timeout_s": 5.0, "attacks": [
        {"kind": "sign_flip", "nodes": ["device-1", "device-6"], "params": {"scale": 4.0}},
        {"kind": "upload_tamper", "nodes": ["edge-2"]}]}), out=out)
    market = run_market_demo(seed=3, n_ens=40, n_devices=70, payments=1).state
    app = web.Application()
    install_observe(app, RunSource(out))
    install_market_page(app, lambda: market, live=False)
    served = Served(app)
    yield served
    served.stop()


def visit(browser, url: str, width: int, name: str, required: set[str] | None = None) -> dict:
    """Load ``url`` at ``width``; assert no overflow, no console error and that panels hold data."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, timeout=15_000)
    if page.locator("script[src='static/observe.js']").count():
        page.wait_for_selector("body[data-rendered=true]", timeout=15_000)
    page.wait_for_timeout(300)  # let a late favicon or script request report its error
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{name} at {width}px: content is {scroll}px wide"
    states = page.evaluate("Object.fromEntries([...document.querySelectorAll('[data-panel]')]"
                           ".map(e => [e.dataset.panel, e.dataset.state || 'unset']))")
    wanted = required if required is not None else set(states)
    assert wanted <= set(states), f"{name}: panels {sorted(wanted - set(states))} missing"
    empty = sorted(p for p in wanted if states[p] != "data")
    assert not empty, f"{name} at {width}px: panels without data: {empty}"
    assert errors == [], f"{name} at {width}px: console errors {errors}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"observe-{name}-{width}.png"), full_page=True)
    return {"states": states, "title": page.title(), "html": page.content(), "page": page}


@pytest.mark.parametrize("width", WIDTHS)
def test_a_finished_runs_pages_fit_and_fill_every_panel(browser, run_site, width):
    seen = visit(browser, f"{run_site.url}/observe/", width, "run", RUN_PANELS)
    page = seen["page"]
    assert page.locator("#topology circle.attacker").count() == 3  # two sign-flippers and the tampering edge
    assert page.locator("#topology line.tamper").count() >= 4 and page.locator("#topology .rejmark").count() == 4
    assert page.locator("#topology text.nlabel").count() == page.locator("#topology circle").count()
    assert page.locator("#rejections tr").count() >= 4 and "does not match its signed digest" in seen["html"]
    assert page.locator("#chart-accuracy circle").count() == 3 and page.locator("#chart-accuracy .tick").count() >= 6
    page.hover("#chart-loss .hit")
    assert page.is_visible("#tip") and "round" in page.text_content("#tip")
    first_block = page.locator("#blocks tr a").first.text_content().lstrip("#")
    tx_link = page.locator("#recent a[href^='tx/']").first.get_attribute("href")
    page.close()
    block = visit(browser, f"{run_site.url}/observe/block/{first_block}", width, "block")
    assert "s of simulated time" in block["page"].text_content("#block-time") and " ms" not in block["html"]
    assert "1 transactions" not in block["html"]
    block["page"].close()
    tx = visit(browser, f"{run_site.url}/observe/{tx_link}", width, "transaction")
    assert tx["page"].text_content("#tx-id") == tx_link.removeprefix("tx/") and "Merkle inclusion proof" in tx["html"]
    tx["page"].close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_market_page_is_paged_and_searchable(browser, run_site, width):
    seen = visit(browser, f"{run_site.url}/observe/market", width, "market")
    page = seen["page"]
    assert page.locator("#matches tbody tr").count() == 50 and "page 1 of 2" in page.text_content("#page-pager")
    page.click("#page-pager a[rel=next]")
    assert "page 2 of 2" in page.text_content("#page-pager") and page.locator("#matches tbody tr").count() > 0
    page.fill("#search input", "device-7")
    page.click("#search button")
    rows = page.locator("#matches tbody tr")
    assert rows.count() >= 1 and all("device-7" in rows.nth(i).text_content() for i in range(rows.count()))
    page.close()


def test_favicon_is_served(run_site):
    import urllib.request

    with urllib.request.urlopen(f"{run_site.url}/favicon.ico", timeout=5) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("image/svg+xml")
        assert resp.read().startswith(b"<svg")


@pytest.mark.parametrize("width", WIDTHS)
def test_live_pages_of_a_validator_and_of_a_device(browser, cluster, width):
    url = cluster.processes["edge-1"]["url"]
    wait_for(lambda: get(f"{url}/v1/head")[1].get("height", 0) >= 1, 60, "a first block")
    data_dir = Path(str(cluster.processes["device-0"]["log"])).with_suffix("")
    key = derive_key("ed25519", (data_dir / "identity.seed").read_bytes())
    before = get(f"{url}/v1/head")[1]["height"]
    tx = make_transaction(key, "device-0", 2 * 10**6 + width, "fl.update",
                          UpdateRecord(round=998, update_digest=bytes(32), update_size=0, n_samples=0))
    assert send(f"{url}/v1/tx", encode(tx))[0] == 202
    wait_for(lambda: get(f"{url}/v1/head")[1]["height"] > before, 30, "the new block")
    wait_for(lambda: len(get(f"{url}/observe/api/series")[1].get("latency", [])) >= 1, 30, "a commit latency")
    required = {"chain", "tx", "latency", "bytes", "view", "perday", "blocks", "recent", "pending", "topology",
                "rejections", "nodes"}
    seen = visit(browser, f"{url}/observe/", width, "validator", required)
    assert seen["page"].locator("#topology circle.attacker").count() == 1  # device-3 flips signs (scenario)
    seen["page"].close()
    device_url = cluster.processes["device-0"]["url"]
    seen = visit(browser, f"{device_url}/observe/", width, "device", {"device", "chain", "topology", "nodes"})
    page = seen["page"]
    assert "keeps no chain" in page.text_content("#device-note")
    href = page.get_attribute("#validator-link", "href")
    assert href.endswith("/observe/") and href.startswith("http://127.0.0.1:")
    page.click("#validator-link")
    page.wait_for_selector("body[data-rendered=true]", timeout=15_000)
    assert page.locator("#device-note").count() == 0 and int(page.text_content("#height").replace(",", "")) >= 1
    page.close()
