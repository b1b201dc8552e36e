"""An observation node's queries over the oracle chain it follows (simulated; HTTP in tests/deploy)."""

from edgeledger.codec import encode
from edgeledger.net.sim import Link, Simulator
from edgeledger.oracle.privacy import seal_params
from edgeledger.oracle.queries import group_status, oracle_overview, request_list, request_status, term_status
from edgeledger.oracle.simnet import PROXY, build_oracle_chain
from edgeledger.oracle.sources import NoisySensor

GROUPS = {f"g{g}": [f"Q.o{3 * g + i}" for i in range(3)] for g in range(2)}


def test_queries_report_groups_requests_and_terms_from_committed_state():
    sim = Simulator(5, lambda a, b: Link(0.005, 1e9))
    sources = {o: NoisySensor(seed=3) for members in GROUPS.values() for o in members}
    chain = build_oracle_chain(sim, "Q", GROUPS, sources=sources, seed=b"pedal-query-test-seed-01")
    sim.run(until=10.0, stop=chain.ready)
    chain.request("boiler", 1000)
    sealed = seal_params(encode({"unit": "milli"}), {o: chain.keys[o].public_key for o in chain.oracles}, b"q-1")
    chain.request("boiler", 2000, params=sealed, sealed=True)
    sim.run(until=sim.now + 4.0)
    state = chain.nodes[chain.requester].state  # an observer's copy of the chain
    overview = oracle_overview(state, PROXY)
    assert overview["oracle_nodes"] == chain.oracles and overview["requests_filed"] == 2
    assert [g["group_id"] for g in overview["groups"]] == ["g0", "g1"]
    g0 = group_status(state, PROXY, "g0")
    assert g0["members"] == GROUPS["g0"] and g0["key_generation"]["status"] == "done"
    assert g0["key_generation"]["qualified"] == GROUPS["g0"] and g0["key_generation"]["excluded"] == []
    plain, hidden = request_status(state, PROXY, f"{PROXY}#1"), request_status(state, PROXY, f"{PROXY}#2")
    assert plain["status"] == hidden["status"] == "fulfilled"
    assert plain["params"] == encode({"unit": "milli"}).hex() and hidden["params"] is None and hidden["sealed"]
    assert plain["master"] and len(plain["workers"]) == 3
    assert [r["request_id"] for r in request_list(state, PROXY)] == [f"{PROXY}#2", f"{PROXY}#1"]
    term = term_status(state, PROXY, plain["term"])
    assert term["seed"] == plain["seed"] and term["master_output"] is not None
    assert request_status(state, PROXY, f"{PROXY}#7") is None and term_status(state, PROXY, 10**6) is None
    assert group_status(state, PROXY, "nope") is None and oracle_overview(state, "no-proxy") is None


def test_the_query_routes_answer_json_and_refuse_bad_input_with_a_reason():
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from edgeledger.web.oracle_queries import oracle_query_routes
    from edgeledger.web.routes import install
    from tests.oracle.pedal_harness import OracleChain

    chain = OracleChain()
    chain.request()
    holder = {"state": None}

    async def go():
        app = web.Application()
        install(app, oracle_query_routes(lambda: holder["state"], "oracle"))
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/v1/query/oracle")).status == 503  # starting
            holder["state"] = chain.state
            overview = await client.get("/v1/query/oracle")
            assert overview.status == 200 and (await overview.json())["oracle_nodes"]
            one = await (await client.get("/v1/query/oracle/requests/oracle%231")).json()
            assert one["status"] == "pending" and one["source"] == "boiler.temp"
            for path, status, reason in (("/v1/query/oracle/requests/oracle%239", 404, "no request 'oracle#9'"),
                                         ("/v1/query/oracle/requests?limit=0", 400, "limit must be"),
                                         ("/v1/query/oracle/terms/-1", 400, "term must be"),
                                         ("/v1/query/oracle/groups/zz", 404, "no group 'zz'")):
                reply = await client.get(path)
                assert reply.status == status and reason in (await reply.json())["error"], path

    asyncio.run(go())
