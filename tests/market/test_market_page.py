"""The /observe/market page renders the EN map, matches, channels and balances."""

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edgeledger.scenario.market_demo import run_market_demo
from edgeledger.market.view import market_snapshot
from edgeledger.web.market_page import install_market_page, render_market


def test_market_page_shows_en_scatter_and_a_match_row():
    state = run_market_demo(seed=2, n_ens=4, n_devices=3).state
    page = render_market(market_snapshot(state))
    assert "<svg id=en-map" in page and page.count("<circle class=en ") == 4
    assert "<table id=matches>" in page and "<td>device-0</td>" in page
    assert "class=st-settled" in page and "nearest-node rule" in page


def test_market_routes_serve_html_and_json():
    state = run_market_demo(seed=2, n_ens=3, n_devices=2).state

    async def go():
        app = web.Application()
        holder = {"state": None}
        install_market_page(app, lambda: holder["state"])
        async with TestClient(TestServer(app)) as client:
            assert "starting" in await (await client.get("/observe/market")).text()
            holder["state"] = state
            page = await client.get("/observe/market")
            assert page.status == 200 and "en-map" in await page.text()
            data = await (await client.get("/observe/api/market")).json()
            assert data["height"] == state.height and len(data["edge_nodes"]) == 3

    asyncio.run(go())
