"""A machine as a device process: ``edgeledger twin device --id dev-m0 --plan FILE ...``.

The device layer on a real network: the process runs :class:`~edgeledger.twins.machine.MachineDevice`
on the wall clock (one signed batch of operating hours every ``period_s``) and serves

* ``GET /v1/sensor/batches?after=SEQ`` -- the signed batches after ``SEQ`` (msgpack list; the last 256
  are kept), which the edge's gateway polls;
* ``POST /v1/actuator/commands`` -- a msgpack :class:`ActuatorCommand`; the answer is the signed
  :class:`ActuatorAck` (msgpack). A plan may make a device lossy (it leaves a share of commands
  unanswered: 503) or slow (it answers a share of first deliveries after a delay) to exercise the
  gateway's retries;
* ``GET /v1/health``.

Its keys are the sensor and actuator seeds the dealer wrote into its data directory; it registers
at the center under its device id (role ``machine``, signed with the actuator key) so the gateway
finds its address. A machine that failed is repaired by the site crew three batches later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import derive_seed
from edgeledger.deploy.bootstrap import register, serve_app
from edgeledger.deploy.twin_plan import device_keys, load_twin_plan
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.twins.degradation import DegradationModel
from edgeledger.twins.machine import MachineDevice
from edgeledger.twins.records import REGISTRY, ActuatorCommand, SensorBatch

__all__ = ["DeviceOptions", "device_app", "run_device"]

log = logging.getLogger("edgeledger.twins.device")
KEEP = 256
REPAIR_AFTER = 3


@dataclass
class DeviceOptions:
    device_id: str
    plan_file: Path
    center: str
    data_dir: Path
    host: str
    port: int


class _Device:
    def __init__(self, device: MachineDevice, drop_rate: float, slow_rate: float, slow_delay_s: float,
                 seed: int) -> None:
        self.device = device
        self.batches: list[SensorBatch] = []
        self.drop_rate, self.slow_rate, self.slow_delay_s = drop_rate, slow_rate, slow_delay_s
        self.rng = np.random.default_rng(seed)
        self.failed_batches = 0

    def tick(self) -> None:
        batch = self.device.next_batch(int(time.time() * 1000))
        self.batches = (self.batches + [batch])[-KEEP:]
        self.failed_batches = self.failed_batches + 1 if self.device.failed else 0
        if self.failed_batches >= REPAIR_AFTER:
            self.device.renew()


def device_app(state: _Device) -> web.Application:
    async def batches(request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return web.json_response({"error": "after must be an integer sequence number"}, status=400)
        return web.Response(body=encode([b for b in state.batches if b.seq > after]),
                            content_type="application/msgpack")

    async def command(request: web.Request) -> web.Response:
        try:
            cmd = decode(await request.content.read(64 * 1024), ActuatorCommand)
        except EdgeLedgerError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if state.rng.random() < state.drop_rate:
            return web.json_response({"error": "command lost (the device's simulated lossy link)"}, status=503)
        if cmd.attempt == 1 and state.rng.random() < state.slow_rate:
            await asyncio.sleep(state.slow_delay_s)
        return web.Response(body=encode(state.device.on_command(cmd)), content_type="application/msgpack")

    async def health(request: web.Request) -> web.Response:
        d = state.device
        return web.json_response({"status": "ok", "twin": d.twin_id, "seq": d.seq, "hours": d.total_hours,
                                  "failed": d.failed, "set_points": d.set_points()})

    app = web.Application(client_max_size=64 * 1024)
    app.add_routes([web.get("/v1/sensor/batches", batches), web.post("/v1/actuator/commands", command),
                    web.get("/v1/health", health)])
    return app


async def run_device(opts: DeviceOptions, stop: asyncio.Event) -> None:
    plan = load_twin_plan(opts.plan_file)
    spec = next((m for m in plan.machines if m.device == opts.device_id), None)
    if spec is None:
        raise ConfigError(f"device {opts.device_id!r} is not in the plan; expected one of "
                          f"{[m.device for m in plan.machines]}")
    sensor, actuator = device_keys(opts.data_dir)
    machine = MachineDevice(spec.twin_id, sensor, actuator, plan.chain_id, REGISTRY, spec.company_index,
                            DegradationModel(), np.random.default_rng(derive_seed(plan.seed, "machine", spec.twin_id)))
    state = _Device(machine, spec.drop_rate, spec.slow_rate, spec.slow_delay_s,
                    derive_seed(plan.seed, "device-link", spec.twin_id))

    async def produce() -> None:
        while True:
            await asyncio.sleep(plan.period_s)
            state.tick()

    async def started(url: str) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await register(session, opts.center, actuator, opts.device_id, "machine", url)
        log.info("%s (twin %s) serving on %s", opts.device_id, spec.twin_id, url)

    loop = asyncio.get_running_loop()
    producer = loop.create_task(produce())
    try:
        await serve_app(device_app(state), opts.host, opts.port, stop,
                        started=lambda url: loop.create_task(started(url)) and None)
    finally:
        producer.cancel()
