"""The communication center as an HTTP service: ``edgeledger center --listen HOST:PORT``.

It assigns node ids by role on first contact (``cloud``, ``edge-0``, ``device-3``, ... —
the ids a scenario's topology uses), registers signed ``(id, role, address, key)``
entries and hands out the peer list. A node that joins after genesis also leaves its signed
admission request here (``/v1/admissions``) for a sponsor to put on chain. It never relays payloads, and a registered id can
never be re-registered under another key.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from edgeledger.codec import Record, decode, encode, to_builtins
from edgeledger.errors import EdgeLedgerError
from edgeledger.market.admission import AdmissionDesk, AdmissionRequest
from edgeledger.node.center import AddressBook, PeerList, Register

__all__ = ["Claim", "CenterServer", "center_app"]

MAX_BODY = 64 * 1024


class Claim(Record):
    """Ask for a node id for ``role``; the same key always gets the same id back."""

    role: str
    scheme: str
    public_key: bytes


class CenterServer:
    def __init__(self) -> None:
        self.book = AddressBook()
        self.desk = AdmissionDesk()  # open membership: signed requests to join, for the sponsors
        self.ids: dict[bytes, str] = {}
        self.counters: Counter[str] = Counter()

    def claim(self, claim: Claim) -> str:
        if claim.role not in ("cloud", "edge", "device", "proxy", "company"):  # proxy, company: EdgeToll's sealers
            raise EdgeLedgerError(f"role {claim.role!r} is unknown; expected cloud, edge, device, proxy or company")
        if claim.public_key in self.ids:
            return self.ids[claim.public_key]
        taken = set(self.ids.values())
        if claim.role in ("cloud", "proxy") and claim.role not in taken:  # one of each: the id is the role
            node_id = claim.role
        else:
            while f"{claim.role}-{self.counters[claim.role]}" in taken:
                self.counters[claim.role] += 1
            node_id = f"{claim.role}-{self.counters[claim.role]}"
        self.ids[claim.public_key] = node_id
        return node_id

    async def handle_claim(self, request: web.Request) -> web.Response:
        try:
            node_id = self.claim(decode(await request.content.read(MAX_BODY), Claim))
        except EdgeLedgerError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"node_id": node_id})

    async def handle_register(self, request: web.Request) -> web.Response:
        try:
            msg = decode(await request.content.read(MAX_BODY), Register)
        except EdgeLedgerError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        effects = self.book.on_register(msg.entry.node_id, msg, 0.0)
        refused = [e for e in effects if type(e).__name__ == "Rejected"]
        if refused:
            status = 409 if "another key" in refused[0].reason else 400
            return web.json_response({"error": refused[0].reason}, status=status)
        return web.Response(body=encode(effects[0].message), content_type="application/msgpack")

    async def handle_peers(self, request: web.Request) -> web.Response:
        peers = PeerList(peers=[self.book.peers[k] for k in sorted(self.book.peers)])
        if request.query.get("format") == "json":
            return web.json_response(to_builtins(peers))
        return web.Response(body=encode(peers), content_type="application/msgpack")

    async def handle_admission(self, request: web.Request) -> web.Response:
        """A registered node asks to join the chain (open membership); a sponsor will submit it."""
        try:
            req = decode(await request.content.read(MAX_BODY), AdmissionRequest)
        except EdgeLedgerError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        known = self.book.peers.get(req.node_id)
        refused = self.desk.submit(req, known.public_key if known else None)
        if refused is not None:
            return web.json_response({"error": refused}, status=409 if "another key" in refused else 400)
        return web.json_response({"pending": len(self.desk.pending)}, status=202)

    async def handle_admissions(self, request: web.Request) -> web.Response:
        return web.Response(body=encode(self.desk.requests()), content_type="application/msgpack")

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": "center", "registered": len(self.book.peers)})


def center_app() -> web.Application:
    server = CenterServer()
    app = web.Application(client_max_size=MAX_BODY)
    app["center"] = server
    app.add_routes([web.post("/v1/claim", server.handle_claim), web.post("/v1/register", server.handle_register),
                    web.get("/v1/peers", server.handle_peers), web.get("/v1/health", server.handle_health),
                    web.post("/v1/admissions", server.handle_admission),
                    web.get("/v1/admissions", server.handle_admissions)])
    return app
