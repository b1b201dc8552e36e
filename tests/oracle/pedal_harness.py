"""An oracle consortium on an in-memory chain, with Pedal cores wired without the simulator."""

from __future__ import annotations

import random
from collections import deque

from edgeledger.codec import encode
from edgeledger.effects import Broadcast, Compute, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.oracle import (
    FEED_CODE, PROXY_CODE, NoisySensor, OracleRequest, PedalConfig, PedalCore, deal_groups, group_call, oracle_keys,
    registration_call, request_body, requested_in,
)
from edgeledger.codec import decode
from tests.market.consortium import Chain

SEED = b"pedal-test-seed-0123456789abcdef"
ORACLES = [f"o{i}" for i in range(9)]
ROLES = {"operator": "company", "plant": "device", "outsider": "device", **{o: "oracle" for o in ORACLES}}


class OracleChain(Chain):
    def __init__(self, groups=None, alpha_milli=1000, term_blocks=1000, fallback_ms=2_000, min_stake=0):
        super().__init__(ROLES, validators=("operator",))  # the operator seals (and ticks the chain clock)
        groups = groups or {"g0": ORACLES[0:3], "g1": ORACLES[3:6], "g2": ORACLES[6:9]}
        self.advance(1_000)  # the chain has a time
        assert self.deploy("operator", "oracle", PROXY_CODE, 1,
                           [SEED, alpha_milli, term_blocks, fallback_ms, 0, min_stake]).ok
        self.okeys = {o: oracle_keys(SEED, o) for o in ORACLES}
        for o in ORACLES:
            r = self.submit(o, "contract.call", registration_call("oracle", self.okeys[o]))
            assert r.ok, r.reason
        self.groups, self.shares = deal_groups(groups, random.Random(7))
        for g in self.groups:
            r = self.submit("operator", "contract.call", group_call("oracle", g))
            assert r.ok, r.reason
        assert self.deploy("plant", "feed", FEED_CODE, 1, ["oracle"]).ok
        self.config = PedalConfig(proxy="oracle", seed=SEED, alpha_milli=alpha_milli)

    def request(self, source="boiler.temp", timestamp_ms=1000, ttl_blocks=50, sender="plant", kind="data",
                params=encode({"unit": "milli-C"})):
        body = request_body("edgetoll", "oracle", kind, source, params, "feed", "deliver", timestamp_ms)
        r, rid = self.call(sender, "oracle", "request", kind, source, params, "feed", "deliver", timestamp_ms,
                           ttl_blocks, self.keys[sender].sign(body))
        assert r.ok, r.reason
        events = [a for n, a in requested_in(self.state.kv, r.height, "oracle") if n == "requested"]
        return decode(events[0]["request"], OracleRequest)

    def cores(self, nonce_base=None, aggregators=None):
        """One core per oracle; ``aggregators(node) -> {kind: rule}`` adds per-kind aggregation."""
        vrf_keys = {o: self.okeys[o].vrf_public for o in ORACLES}
        return {o: PedalCore(o, self.keys[o], self.membership, self.config, self.okeys[o].vrf_secret, vrf_keys,
                             self.groups, self.shares[o], nonce=max(self.nonces.get(o, 0), self.state.nonces.get(o, 0)),
                             aggregators=aggregators(o) if aggregators else None) for o in ORACLES}


class CoreRouter:
    """Delivers core effects FIFO; Compute jobs read ``sources`` (node -> Source) at once."""

    def __init__(self, cores, sources, drop=lambda src, dst, msg: False):
        self.cores, self.sources, self.drop = cores, sources, drop
        self.queue = deque()
        self.txs, self.rejections, self.timers = [], [], []

    def run(self, node, effects):
        self.queue.extend((node, e) for e in effects)
        while self.queue:
            node, e = self.queue.popleft()
            if isinstance(e, (Send, Broadcast)):
                for to in ([e.to] if isinstance(e, Send) else e.to):
                    if not self.drop(node, to, e.message):
                        self.queue.extend((to, x) for x in self.deliver(node, to, e.message))
            elif isinstance(e, Compute):
                req = e.job.request
                source = self.sources[node]
                if hasattr(source, "read"):
                    value = encode(source.read(req.source, node, req.request_id, req.timestamp_ms).value_milli)
                else:  # a work function (computing oracle)
                    value = source(e.job).value
                self.queue.extend((node, x) for x in self.cores[node].on_fetched(req.request_id, value, 0.0))
            elif isinstance(e, SubmitTransaction):
                self.txs.append(e.tx)
            elif isinstance(e, Rejected):
                self.rejections.append((node, e))
            elif isinstance(e, SetTimer):
                self.timers.append((node, e.name))

    def deliver(self, src, dst, msg):
        core = self.cores[dst]
        name = type(msg).__name__
        handler = {"ElectionProof": core.on_election_proof, "Observation": core.on_observation,
                   "ObservationCall": core.on_call, "ResultProposal": core.on_proposal,
                   "ResultShare": core.on_share}[name]
        return handler(src, msg, 0.0)

    def fire_timers(self):
        timers, self.timers = self.timers, []
        for node, name in timers:
            self.run(node, self.cores[node].on_timer(name, 0.0))


def honest_sources(seed=3):
    sensor = NoisySensor(seed=seed)
    return {o: sensor for o in ORACLES}
