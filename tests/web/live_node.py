"""A node with a driver and an API attached, in one process (no sockets), for API-level tests."""

from __future__ import annotations

from edgeledger.ledger import ChainStore
from edgeledger.net.http import HttpDriver
from edgeledger.node.node import Node
from edgeledger.web.api import NodeApi
from edgeledger.web.observe_sources import DashboardPlan
from tests.conftest import make_chain


def attached_api(**kw) -> NodeApi:
    keys, membership = make_chain(4)
    node = Node(node_id="dev0", role="device", key=keys["dev0"], membership=membership, store=ChainStore(":memory:"))
    driver = HttpDriver(node, keys["dev0"], membership.verify, chain_id=membership.chain_id)
    api = NodeApi(**kw)
    api.attach(node, driver, DashboardPlan({"dev0": "device"}, list(membership.validators)))
    return api
