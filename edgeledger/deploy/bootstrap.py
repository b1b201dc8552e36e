"""The one start-up every deployed process shares.

``edgeledger node``, ``edgeledger oracle node`` and ``edgeledger oracle federation-node``
all: load or make an identity (a random seed kept in the data directory); serve HTTP on
their address (the protocol endpoint ``/v1/messages``, the REST API, the /observe
dashboard) before anyone knows them; register the signed address at the communication
center; wait until the members of their genesis registered and derive the genesis from
the registered keys (identical everywhere; stored, so a restart never asks again); build
their node(s) and hand them an :class:`HttpDriver`; wait until the validators answer;
start; and serve until an admin or a signal stops them. This module holds those steps
once; each entry point says only what differs (which node it builds, which routes it adds).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.deploy.allocator import trim_periodically, tune_allocator
from edgeledger.deploy.plan_files import private_seed
from edgeledger.errors import ConfigError
from edgeledger.ledger.identity import Genesis, Identity
from edgeledger.ledger.store import ChainStore
from edgeledger.net.http import HttpDriver
from edgeledger.node.center import PeerEntry, PeerList, make_registration
from edgeledger.web.api import NodeApi, messages_route
from edgeledger.web.observe import install_live_dashboard
from edgeledger.web.observe_sources import LiveSource
from edgeledger.web.pending import PendingSubmissions
from edgeledger.web.routes import Route, install, json_errors

__all__ = ["configure_logging", "JsonLogFormatter", "load_identity", "parse_listen", "run_until_signal", "post_msgpack", "fetch_peers", "register",
           "await_registered", "stored_genesis", "genesis_from_center", "wait_for_validators", "ProcessServer",
           "PlanProcessOptions", "serve_app", "MAX_BODY_BYTES"]

log = logging.getLogger("edgeledger.deploy")
MAX_BODY_BYTES = 64 * 1024 * 1024  # a protocol batch or a model blob


@dataclass
class PlanProcessOptions:
    """How to start one process of a plan-driven network (an oracle network or a federation)."""

    node_id: str
    plan_file: Path
    center: str
    data_dir: Path
    host: str
    port: int
    admin_token: str | None = None
    genesis_timeout_s: float = 60.0


def load_identity(data_dir: Path, scheme: str) -> PrivateKey:
    """This process's signing key, derived from ``data_dir/identity.seed`` (32 random bytes made once, mode 0600).

    The seed never leaves the data directory; reusing the directory resumes the same identity.
    """
    return derive_key(scheme, private_seed(data_dir / "identity.seed"))


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` means 127.0.0.1; port 0 lets the OS pick) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8700")
    return host or "127.0.0.1", int(port)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (``EDGELEDGER_LOG_FORMAT=json``): time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        entry = {"time": round(record.created, 3), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    """INFO logging to stderr; JSON lines when ``EDGELEDGER_LOG_FORMAT=json`` (for log shippers)."""
    import os

    handler = logging.StreamHandler()
    if os.environ.get("EDGELEDGER_LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run_until_signal(service: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run an asyncio service (with INFO logging) until SIGINT/SIGTERM sets the event it is given.

    The C allocator is tuned first and trimmed every half minute (:mod:`edgeledger.deploy.allocator`)."""
    configure_logging()
    tune_allocator()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        trimmer = loop.create_task(trim_periodically())
        try:
            await service(stop)
        finally:
            trimmer.cancel()

    asyncio.run(main())


async def post_msgpack(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, bytes]:
    """POST canonical msgpack bytes; (status, response body)."""
    async with session.post(url, data=body, headers={"content-type": "application/msgpack"}) as resp:
        return resp.status, await resp.read()


async def fetch_peers(session: aiohttp.ClientSession, center: str) -> PeerList:
    """The center's signed peer list."""
    async with session.get(f"{center}/v1/peers") as resp:
        return decode(await resp.read(), PeerList)


async def register(session: aiohttp.ClientSession, center: str, key: PrivateKey, node_id: str, role: str,
                   address: str) -> None:
    """Register ``(node_id, role, address)`` signed with ``key`` at the center (a 4xx is a :class:`ConfigError`)."""
    status, body = await post_msgpack(session, f"{center}/v1/register",
                                      encode(make_registration(key, node_id, role, address)))
    if status != 200:
        raise ConfigError(f"center refused the registration of {node_id!r}: {body.decode(errors='replace')}")


async def await_registered(session: aiohttp.ClientSession, center: str, members: list[str], deadline: float,
                           interval: float, error: Callable[[list[str]], str]) -> dict[str, PeerEntry]:
    """Poll the center's peer list until every one of ``members`` registered; return the list by node id.

    Past ``deadline`` (monotonic) it raises ``ConfigError(error(missing))``.
    """
    while True:
        peers = {p.node_id: p for p in (await fetch_peers(session, center)).peers}
        missing = [n for n in members if n not in peers]
        if not missing:
            return peers
        if time.monotonic() > deadline:
            raise ConfigError(error(missing))
        await asyncio.sleep(interval)


async def stored_genesis(path: Path, derive: Callable[[], Awaitable[Genesis]]) -> Genesis:
    """The genesis stored at ``path``, or ``derive()``'s, stored there before it is returned."""
    if path.exists():
        return decode(path.read_bytes(), Genesis)
    genesis = await derive()
    path.write_bytes(encode(genesis))
    return genesis


async def genesis_from_center(session: aiohttp.ClientSession, center: str, path: Path, chain_id: str,
                              validators: list[str], roles: dict[str, str], deadline: float,
                              interval: float = 0.1) -> Genesis:
    """A plan-driven chain's genesis: ``roles`` (node id -> role) with the keys they registered, stored at ``path``."""
    async def derive() -> Genesis:
        peers = await await_registered(session, center, list(roles), deadline, interval, lambda missing: (
            f"genesis of {chain_id}: {len(missing)} members never registered with the center: {missing[:5]}"))
        return Genesis(chain_id=chain_id, validators=validators, identities=[
            Identity(node_id=n, role=r, scheme=peers[n].scheme, public_key=peers[n].public_key)
            for n, r in roles.items()])

    return await stored_genesis(path, derive)


async def wait_for_validators(session: aiohttp.ClientSession, driver: HttpDriver, validators: list[str],
                              timeout: float = 60.0) -> None:
    """Until every validator answers ``/v1/health`` (or ``timeout``): a node that starts earlier only retries."""
    deadline = time.monotonic() + timeout
    pending = set(validators)
    while pending and time.monotonic() < deadline:
        for v in sorted(pending):
            try:
                async with session.get(f"{driver.peers[v]}/v1/health") as resp:
                    if resp.status == 200:
                        pending.discard(v)
            except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, OSError):
                pass
        await asyncio.sleep(0.2)


class ProcessServer:
    """The HTTP side of a deployed process: ``/v1/messages`` to its driver, the REST API, the dashboard.

    It serves before the node exists (health answers 503 until :meth:`attach`), so the process
    can register the address it really listens on.
    """

    def __init__(self, admin_token: str | None, routes: Sequence[Route] = (),
                 max_blob_bytes: int | None = None, data_dir: Path | None = None) -> None:
        self.app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
        self.driver: HttpDriver | None = None
        install(self.app, [messages_route(self._messages)])
        pending = PendingSubmissions(data_dir / "pending.sqlite") if data_dir is not None else None
        options: dict[str, Any] = {} if max_blob_bytes is None else {"max_blob_bytes": max_blob_bytes}
        self.api = NodeApi(admin_token=admin_token, pending=pending, **options)
        self.api.install(self.app)
        install(self.app, routes)
        self.live: LiveSource = install_live_dashboard(self.app, self.api)
        self.runner = web.AppRunner(self.app)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if self.driver is None:
            return web.json_response({"error": "node is starting"}, status=503)
        return await self.driver.handle_messages(request)

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (port 0: one the OS picks); return the port listened on."""
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port, ssl_context=ssl_context).start()
        return port or int(self.runner.addresses[0][1])

    def attach(self, node: Any, driver: HttpDriver, plan: Any) -> None:
        """Route protocol messages to ``driver`` and show ``node`` (with ``plan``'s roles) in the API and dashboard."""
        self.driver = driver
        self.api.attach(node, driver, plan)
        self.api.start_retransmitting()

    async def serve_until_stopped(self, stop: asyncio.Event | None, stores: list[ChainStore],
                                  tasks: list[asyncio.Task[None]]) -> None:
        """Serve until an admin shuts the process down or ``stop`` is set; then cancel ``tasks`` and close all."""
        waiters = [asyncio.ensure_future(self.api.shutdown.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in [*waiters, *tasks]:
                t.cancel()
            self.api.stop()
            if self.driver is not None:
                await self.driver.close()
            await self.runner.cleanup()
            for store in stores:
                store.close()


async def serve_app(app: web.Application, host: str, port: int, stop: asyncio.Event,
                    ssl_context: ssl.SSLContext | None = None, duration_s: float = 0.0,
                    started: Callable[[str], None] = lambda url: None) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set (or ``duration_s`` passed, when > 0).

    ``started(url)`` is called once it listens (the URL has the port the OS gave for port 0).
    """
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    port = port or int(runner.addresses[0][1])
    started(f"{'https' if ssl_context else 'http'}://{host}:{port}")
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration_s or None)
    except asyncio.TimeoutError:
        pass
    finally:
        await runner.cleanup()
