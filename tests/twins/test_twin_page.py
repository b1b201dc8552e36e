"""/observe/twins in a real browser (Debian's chromium, Playwright): a simulated plant, served over HTTP."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from aiohttp import web

from edgeledger.web.twin_api import TwinSource, install_twin_api
from edgeledger.web.twin_page import install_twin_page

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("EDGELEDGER_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture(scope="module")
def served(plant):
    """The plant's observation node on 127.0.0.1 (a thread with its own event loop; stopped after the module)."""
    _, f = plant
    node = f.nodes[f.observer]
    source = TwinSource(node=lambda: node, fetch=f.store.fetch, now_ms=lambda: int(f.sim.now * 1000), live=True)
    app = web.Application()
    install_twin_api(app, source)
    install_twin_page(app, source)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", f
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def test_the_twin_page_shows_the_plant_at_1024_and_1920_pixels_and_links_each_value_to_its_proof(served):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see README test set-up)")
    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium): see the README"
    url, f = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for width in (1024, 1920):
                page = browser.new_page(viewport={"width": width, "height": 900})
                errors: list[str] = []
                page.on("console", lambda m, seen=errors: seen.append(m.text) if m.type == "error" else None)
                page.goto(f"{url}/observe/twins", timeout=15_000)
                page.wait_for_selector("article.machine", timeout=10_000)
                assert page.locator("article.machine").count() == len(f.machines)
                assert page.locator("section.edge").count() == 3
                assert page.locator("#commands tbody tr").count() == 10
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
                page.wait_for_timeout(2500)  # one live refresh swaps the plant in again
                assert page.text_content("#live") == "live" and not errors
                page.screenshot(path=str(ARTIFACTS / f"twins-{width}.png"), full_page=True)
                page.close()
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/observe/twins", timeout=15_000)
            page.locator("article.machine .readings a.proof").first.click()
            page.wait_for_selector("#inclusion", timeout=10_000)
            assert "verified" in page.text_content("#inclusion") and "verified" in page.text_content("#certificate")
            assert "does not verify" not in page.content()
            page.screenshot(path=str(ARTIFACTS / "twins-proof.png"), full_page=True)
            page.goto(f"{url}/observe/twins/m1", timeout=15_000)
            assert page.locator("#audit").count() == 1 and "storage audit" in page.text_content("#audit")
            page.screenshot(path=str(ARTIFACTS / "twins-m1.png"), full_page=True)
        finally:
            browser.close()
