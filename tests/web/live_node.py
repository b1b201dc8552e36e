"""A validator node with a driver and an API attached, in one process (no sockets), for API-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from edgeledger.consensus.pbft import PbftReplica
from edgeledger.ledger import ChainStore, genesis_hash
from edgeledger.net.http import HttpDriver
from edgeledger.node.node import Node
from edgeledger.web.api import NodeApi
from edgeledger.web.observe_sources import DashboardPlan
from edgeledger.web.routes import json_errors
from tests.conftest import make_chain


def attached_api(data_dir: Path, **kw) -> NodeApi:
    keys, membership = make_chain(4)
    replica = PbftReplica("v0", keys["v0"], membership, genesis_hash(membership.genesis))
    node = Node(node_id="v0", role="edge", key=keys["v0"], membership=membership,
                store=ChainStore(data_dir / "chain.sqlite"), consensus=replica)
    driver = HttpDriver(node, keys["v0"], membership.verify, chain_id=membership.chain_id)
    api = NodeApi(**kw)
    api.attach(node, driver, DashboardPlan({v: "edge" for v in membership.validators}, list(membership.validators)))
    return api


@asynccontextmanager
async def serving(api: NodeApi) -> AsyncIterator[str]:
    """Serve ``api``'s routes on 127.0.0.1 (a free port) while inside; yields the base URL."""
    app = web.Application(middlewares=[json_errors])
    api.install(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()
