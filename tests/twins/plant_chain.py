"""A plant on an in-memory chain: the oracle proxy, the twin registry and one twin, with Pedal cores
wired without the simulator (tests/oracle/pedal_harness.CoreRouter) doing the real threshold signing."""

from __future__ import annotations

import random

import numpy as np

from edgeledger.codec import decode
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import SubmitTransaction
from edgeledger.ledger.blobs import MemoryBlobStore
from edgeledger.ledger.contracts import call_log
from edgeledger.oracle import (
    PROXY_CODE,
    OracleRequest,
    PedalConfig,
    PedalCore,
    deal_groups,
    group_call,
    oracle_keys,
    registration_call,
    requested_in,
)
from edgeledger.oracle.computing import round_params
from edgeledger.oracle.proxy import request_body
from edgeledger.twins.attestation import reading_work
from edgeledger.twins.factory import work_by_kind
from edgeledger.twins.gateway import GatewayCore
from edgeledger.twins.machine import MACHINE_COMMANDS, MACHINE_SENSORS
from edgeledger.twins.maintenance import (
    HistorySpec,
    RiskScorer,
    maintenance_aggregation,
    maintenance_task,
    maintenance_work,
    task_digest,
)
from edgeledger.twins.records import (
    MAINTENANCE_KIND,
    READING_KIND,
    REGISTRY,
    REGISTRY_CODE,
    SensorBatch,
)
from edgeledger.twins.storage import CloudStore
from tests.market.consortium import Chain
from tests.oracle.pedal_harness import CoreRouter

SEED = b"twin-test-seed-0123456789abcdef!"
ORACLES = ["o0", "o1", "o2"]
ROLES = {"operator": "company", "acme": "company", "bolt": "company", "gw0": "gateway", "engineer": "operator",
         "intruder": "operator", "device0": "device", **{o: "oracle" for o in ORACLES}}
SPEC = HistorySpec(seed=5, machines_per_company=6, validation_machines=6)
TASK = maintenance_task(SPEC, rounds=2, epochs=5)
FIELDS = [s[0] for s in MACHINE_SENSORS]


class PlantChain(Chain):
    def __init__(self, risk_threshold_milli: int = 700, max_attempts: int = 3, liar: str | None = None) -> None:
        super().__init__(ROLES, validators=("operator", "acme", "bolt", "o0"))
        assert self.deploy("operator", "oracle", PROXY_CODE, 1, [SEED, 1000, 1000]).ok
        assert self.deploy("operator", REGISTRY, REGISTRY_CODE, 1,
                           ["oracle", risk_threshold_milli, max_attempts, task_digest(TASK)]).ok
        self.okeys = {o: oracle_keys(SEED, o) for o in ORACLES}
        for o in ORACLES:
            assert self.submit(o, "contract.call", registration_call("oracle", self.okeys[o])).ok
        (self.group,), self.shares = deal_groups({"g0": ORACLES}, random.Random(3))
        assert self.submit("operator", "contract.call", group_call("oracle", self.group)).ok
        self.sensor, self.actuator = derive_key("ed25519", b"sensor-m0"), derive_key("ed25519", b"actuator-m0")
        self.store = CloudStore()
        self.blobs = {o: MemoryBlobStore() for o in ORACLES}
        self.gateway = GatewayCore("gw0", self.keys["gw0"], "edgetoll", {"m0": "device0"}, ack_timeout_s=0.5,
                                   max_attempts=max_attempts, nonce=100)
        self.liar = liar  # this oracle member vouches for batches without checking their signature
        r, _ = self.call("acme", REGISTRY, "add_twin", "m0", "machine", "edge0", "gw0", self.sensor.public_key,
                         self.actuator.public_key, MACHINE_SENSORS, MACHINE_COMMANDS)
        assert r.ok, r.reason
        assert self.call("acme", REGISTRY, "grant", "m0", "engineer")[0].ok
        config = PedalConfig(proxy="oracle", seed=SEED)
        vrf_keys = {o: self.okeys[o].vrf_public for o in ORACLES}
        self.cores = {o: PedalCore(o, self.keys[o], self.membership, config, self.okeys[o].vrf_secret, vrf_keys,
                                   [self.group], self.shares[o], nonce=self.nonces[o],
                                   aggregators={MAINTENANCE_KIND: maintenance_aggregation(self.blobs[o])})
                      for o in ORACLES}
        works = {o: work_by_kind({
            READING_KIND: reading_work(self.store.fetch, lambda: self.state.kv, RiskScorer(self.blobs[o]),
                                       check_signature=o != liar),
            MAINTENANCE_KIND: maintenance_work(self.blobs[o], SPEC, i)}) for i, o in enumerate(ORACLES)}
        self.router = CoreRouter(self.cores, works)

    def batch(self, seq: int, samples: list[list[int]] | None = None, status: str = "running",
              twin: str = "m0") -> SensorBatch:
        samples = samples if samples is not None else [[2000, 40000, 12000, 1200000]] * 8
        unsigned = SensorBatch(twin_id=twin, seq=seq, time_ms=1000 * seq, hours=8 * seq, status=status,
                               fields=FIELDS, samples=samples)
        return SensorBatch(twin_id=twin, seq=seq, time_ms=unsigned.time_ms, hours=unsigned.hours, status=status,
                           fields=FIELDS, samples=samples, signature=self.sensor.sign(unsigned.statement()))

    def fulfil(self, receipt):
        """Run the cores on the request a committed transaction filed; apply the fulfilments."""
        events = [a for n, a in requested_in(self.state.kv, receipt.height, "oracle") if n == "requested"]
        assert events, receipt.reason
        request = decode(events[0]["request"], OracleRequest)
        self.router.txs.clear()
        for o in ORACLES:
            self.router.run(o, self.cores[o].on_request(request, 0.0))
        self.router.fire_timers()
        receipts = [self.block([tx])[0] for tx in list(self.router.txs)]
        for o in ORACLES:
            self.cores[o].forget(request.request_id)
        return [r for r in receipts if r.ok]

    def read(self, batch: SensorBatch, data: bytes | None = None, model: bytes = b""):
        """The gateway stores ``batch`` (or ``data`` in its place) and files it; the group attests it."""
        from edgeledger.codec import encode

        stored = encode(batch) if data is None else data
        digest = self.store.put(stored)
        (effect,) = self.gateway.file_reading(batch.twin_id, batch.seq, digest, len(stored), model, 1.0)
        assert isinstance(effect, SubmitTransaction)
        (receipt,) = self.block([effect.tx])
        assert receipt.ok, receipt.reason
        return self.fulfil(receipt)

    def train(self, rounds: int = TASK.rounds) -> bytes:
        """File the maintenance rounds (the operator) and let the group train them; the model digest."""
        digest = b""
        for r in range(1, rounds + 1):
            params = round_params(TASK, r, digest)
            body = request_body("edgetoll", "oracle", MAINTENANCE_KIND, "maintenance", params, REGISTRY, "set_model", r)
            receipt, _ = self.call("operator", "oracle", "request", MAINTENANCE_KIND, "maintenance", params, REGISTRY,
                                   "set_model", r, 50, self.keys["operator"].sign(body))
            assert receipt.ok, receipt.reason
            done = self.fulfil(receipt)
            assert done, "no maintenance fulfilment committed"
            digest = call_log(self.state.kv, done[0].tx_id).events[-1].attributes["digest"]
        return digest


def near_failure_samples() -> list[list[int]]:
    """Eight hourly samples of a badly worn machine (wear about 0.97, by the degradation model)."""
    from edgeledger.twins.degradation import DegradationModel

    model = DegradationModel()
    return model.samples(np.full(8, 0.97), 1200.0, True, np.zeros((8, 4)))
