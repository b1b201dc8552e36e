"""The twin platform's REST endpoints over an observation node (here: a finished simulated plant)."""

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edgeledger.web.twin_api import TwinSource, install_twin_api
from edgeledger.web.twin_page import install_twin_page


def serve(plant, check, ready=True):
    _, f = plant
    node = f.nodes[f.observer]
    source = TwinSource(node=lambda: node if ready else None, fetch=f.store.fetch,
                        now_ms=lambda: int(f.sim.now * 1000), live=False)

    async def go():
        app = web.Application()
        install_twin_api(app, source)
        install_twin_page(app, source)
        async with TestClient(TestServer(app)) as client:
            await check(client, f)

    asyncio.run(go())


def test_the_plant_endpoint_lists_machines_per_edge_with_readings_risk_and_proofs(plant):
    async def check(client, f):
        body = await (await client.get("/v1/twins")).json()
        assert body["ready"] and [e["edge"] for e in body["edges"]] == sorted({h.edge for h in f.machines.values()})
        twins = {t["id"]: t for e in body["edges"] for t in e["twins"]}
        assert sorted(twins) == sorted(f.machines)
        for t in twins.values():
            assert t["reading"]["seq"] >= 1 and len(t["reading"]["values"]) == 4 and len(t["reading"]["tx"]) == 64
        assert body["model"]["round"] == 2 and len(body["commands"]) == 10
        tx = twins["m0"]["reading"]["tx"]
        proof = await (await client.get(f"/v1/twins/proofs/{tx}")).json()
        assert proof["inclusion_verified"] and proof["certificate_verified"] and proof["kind"] == "oracle.fulfill"
        assert len(proof["certificate_signers"]) >= 3 and any(e["name"] == "reading" for e in proof["events"])

    serve(plant, check)


def test_one_twin_shows_its_history_and_the_audit_finds_what_the_store_rewrote(plant):
    async def check(client, f):
        findings = 0
        for twin in f.machines:
            d = await (await client.get(f"/v1/twins/{twin}")).json()
            assert d["readings"][0]["seq"] == d["reading"]["seq"]
            audit = await (await client.get(f"/v1/twins/{twin}/audit")).json()
            assert audit["checked"] == d["attested"]
            findings += len(audit["findings"])
        report, _ = plant
        assert findings == report.extra["audit_findings"] >= 1
        cmds = await (await client.get("/v1/twins/commands?twin=m0")).json()
        assert all(c["twin"] == "m0" for c in cmds["commands"])

    serve(plant, check)


def test_bad_requests_get_one_line_4xx_answers(plant):
    async def check(client, f):
        for url, status in (("/v1/twins/nope", 404), ("/v1/twins/proofs/zz", 400), ("/v1/twins/proofs/" + "0" * 64, 404),
                            ("/v1/twins/" + "x" * 70, 400), ("/v1/twins/commands?twin=a%20b", 400),
                            ("/v1/twins/nope/audit", 404), ("/observe/twins/nope", 404)):
            resp = await client.get(url)
            assert resp.status == status, url
            if url.startswith("/v1/"):
                assert "error" in await resp.json()

    serve(plant, check)


def test_a_starting_node_answers_503(plant):
    async def check(client, f):
        assert (await client.get("/v1/twins")).status == 503
        assert "starting" in await (await client.get("/observe/twins")).text()

    serve(plant, check, ready=False)
