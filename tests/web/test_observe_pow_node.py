"""The live dashboard of a deployed PoW miner: no views, no primary; the newest block's miner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web

from edgeledger.consensus.pow import PowConfig, PowMiner
from edgeledger.consensus.pow.finality import WorkFinality
from edgeledger.ledger import ChainStore, genesis_hash
from edgeledger.net.http import HttpDriver
from edgeledger.node.node import Node
from edgeledger.web.api import NodeApi
from edgeledger.web.observe import install_live_dashboard
from edgeledger.web.observe_sources import DashboardPlan, LiveSource
from edgeledger.web.routes import json_errors
from tests.conftest import make_chain


def _pow_node_api(data_dir: Path) -> tuple[NodeApi, ChainStore, object]:
    keys, membership = make_chain(4)
    g = genesis_hash(membership.genesis)
    config = PowConfig(mining="real", initial_zero_bits=8, confirmations=1, hashes_per_tick=5000)
    miner = PowMiner("v0", keys["v0"], membership, g, config)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = ChainStore(data_dir / "chain.sqlite")
    node = Node(node_id="v0", role="edge", key=keys["v0"], membership=membership, store=store, consensus=miner,
                finality=WorkFinality(g, config))  # as topology.finality_of wires every node of a PoW chain
    driver = HttpDriver(node, keys["v0"], membership.verify, chain_id=membership.chain_id)
    api = NodeApi()
    api.attach(node, driver, DashboardPlan({v: "edge" for v in membership.validators}, list(membership.validators)))
    return api, store, miner


def _mine_one(miner: PowMiner):
    now, commits = 0.0, []
    while not commits and now < 10:  # 8 zero bits: a few hundred ticks at most
        now += miner.config.tick_s
        commits = [e for e in miner.timer("pow.mine", now) if hasattr(e, "pow_block")]
    return commits[0].block


def test_the_dashboard_of_a_pow_miner_shows_its_newest_blocks_miner_not_a_pbft_leader(tmp_path):
    api, store, miner = _pow_node_api(tmp_path)

    async def scenario() -> tuple[dict, dict, str]:
        app = web.Application(middlewares=[json_errors])
        api.install(app)
        install_live_dashboard(app, api)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        try:
            return await fetch(url)
        finally:
            await runner.cleanup()

    async def fetch(url: str) -> tuple[dict, dict, str]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/observe/api/overview") as r:
                assert r.status == 200, await r.text()  # was a 500: PowMiner has no primary_of
                before = await r.json()
            store.append(_mine_one(miner))
            async with http.get(f"{url}/observe/api/overview") as r:
                after = await r.json()
            async with http.get(f"{url}/observe/") as r:
                assert r.status == 200
                page = await r.text()
        return before, after, page

    before, after, page = asyncio.run(scenario())
    assert before["protocol"] == "pow" and before["leader"] == "-" and before["view"] is None
    assert after["height"] == 1 and after["leader"] == "v0"
    assert "last miner<b id=leader>" in page and "PBFT view" not in page


def test_a_follower_of_a_pow_chain_without_a_miner_shows_the_newest_blocks_miner(tmp_path):
    _, _, miner = _pow_node_api(tmp_path / "miner")
    block = _mine_one(miner)
    keys, membership = make_chain(4)  # the same deterministic keys and chain as the miner's
    store = ChainStore(tmp_path / "follower.sqlite")
    follower = Node(node_id="v1", role="edge", key=keys["v1"], membership=membership, store=store,
                    consensus=None, finality=WorkFinality(genesis_hash(membership.genesis), miner.config))
    api = NodeApi()
    api.attach(follower, HttpDriver(follower, keys["v1"], membership.verify, chain_id=membership.chain_id),
               DashboardPlan({v: "edge" for v in membership.validators}, list(membership.validators)))
    store.append(block)
    overview = LiveSource(api).overview()
    assert overview["protocol"] == "pow" and overview["leader"] == "v0"
