"""The OpenAPI document covers every route (issue 18); /metrics uses conventional names that the
Grafana dashboard in docs/grafana uses; event-stream listeners go away with their connection."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
from aiohttp import web

from edgeledger.deploy.bootstrap import ProcessServer
from edgeledger.web.openapi import full_app, full_document, undocumented_routes
from edgeledger.web.oracle_api import oracle_routes
from edgeledger.web.routes import json_errors

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "edgeledger-node.json"


def test_every_route_of_a_node_process_is_in_its_openapi_document():
    server = ProcessServer(admin_token=None, routes=oracle_routes(None, requester=True))
    assert undocumented_routes(server.app) == []
    assert undocumented_routes(full_app()) == []
    paths = full_document()["paths"]
    for path in ("/v1/oracle/requests", "/observe/api/overview", "/observe/api/market", "/v1/messages", "/metrics"):
        assert path in paths, path


def test_a_route_added_without_its_types_is_reported_missing():
    app = full_app()

    async def secret(request):
        return web.json_response({})

    app.router.add_get("/v1/secret", secret)
    assert undocumented_routes(app) == ["GET /v1/secret"]


def test_schemas_come_from_the_route_types():
    doc = full_document()
    health = doc["components"]["schemas"]["Health"]
    assert set(health["required"]) >= {"status", "node", "height"}
    op = doc["paths"]["/v1/admin/links"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LinksRequest"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/LinksState")


async def _serve(app):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def test_unknown_paths_and_methods_answer_json_with_a_reason():
    async def main():
        server = ProcessServer(admin_token=None)
        runner, url = await _serve(server.app)
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{url}/v1/nowhere") as resp:
                    assert resp.status == 404 and "no route GET /v1/nowhere" in (await resp.json())["error"]
                async with s.delete(f"{url}/v1/health") as resp:
                    assert resp.status == 405 and "DELETE" in (await resp.json())["error"]
                async with s.get(f"{url}/observe/block/5") as resp:  # a page route's error: JSON too
                    assert resp.status in (404, 503) and "error" in await resp.json()
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_event_stream_listeners_unsubscribe_when_the_connection_closes():
    async def main():
        server = ProcessServer(admin_token=None)
        runner, url = await _serve(server.app)
        try:
            async with aiohttp.ClientSession() as s:
                for _ in range(20):  # a browser that reconnects its EventSource again and again
                    async with s.get(f"{url}/observe/events") as resp:
                        assert (await resp.content.readline()).startswith(b": connected")
                        assert len(server.api.listeners) >= 1
                for _ in range(100):  # each stream notices its closed connection within about a second
                    if not server.api.listeners:
                        break
                    await asyncio.sleep(0.05)
            assert server.api.listeners == []
        finally:
            await runner.cleanup()

    asyncio.run(main())


def _exported_names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_metrics_have_conventional_names_and_the_grafana_dashboard_uses_only_exported_ones(tmp_path):
    from tests.web.live_node import attached_api

    api = attached_api(tmp_path)
    text = api.metrics.render().decode()
    types = {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}
    for name, kind in types.items():
        if kind == "counter":
            assert name.endswith("_total") or f"\n{name}_total " in text, name  # counters are exported with _total
        assert not name.endswith(("_per_second", "_rate")), name  # rates are PromQL's job
    assert types["edgeledger_commit_latency_seconds"] == "histogram"
    assert 'edgeledger_commit_latency_seconds_bucket{le="0.1"}' in text
    exported = set()
    for name, kind in types.items():
        exported |= {name, f"{name}_total"} if kind == "counter" else {name}
        if kind == "histogram":
            exported |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    dashboard = json.loads(DASHBOARD.read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\b(edgeledger_[a-z_]+|process_[a-z_]+)\b", target["expr"]))
    optional = {"edgeledger_fl_accuracy"}  # only on FL networks
    assert used - exported - optional == set(), used - exported


def test_the_json_error_middleware_keeps_json_errors_as_they_are():
    async def main():
        app = web.Application(middlewares=[json_errors])

        async def teapot(request):
            return web.json_response({"error": "short and stout"}, status=418)

        app.router.add_get("/t", teapot)
        runner, url = await _serve(app)
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{url}/t") as resp:
                assert resp.status == 418 and (await resp.json()) == {"error": "short and stout"}
        finally:
            await runner.cleanup()

    asyncio.run(main())
