"""The aiohttp driver between two hosts on 127.0.0.1: envelopes, encryption, replay, cut links."""

from __future__ import annotations

import asyncio

from aiohttp import web

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.crypto.sealing import build_cipher
from edgeledger.effects import Send
from edgeledger.net.envelope import seal
from edgeledger.net.http import HttpDriver
from edgeledger.node.center import CENTER_MESSAGES, PeerEntry, PeerList
from edgeledger.node.node import wire_decoder

KEYS = {n: derive_key("ed25519", n.encode()) for n in ("a", "b")}
decode = wire_decoder(CENTER_MESSAGES)


class Host:
    def __init__(self, node_id):
        self.node_id = node_id
        self.got, self.undelivered = [], []

    def decode_message(self, data):
        return decode(data)

    def on_message(self, sender, message, now):
        self.got.append((sender, message))
        return []

    def on_timer(self, name, now):
        return []

    def on_undeliverable(self, to, message, now):
        self.undelivered.append((to, message))
        return []


def verify(node_id, message, signature):
    from edgeledger.crypto.keys import verify_signature

    key = KEYS.get(node_id)
    return key is not None and verify_signature("ed25519", key.public_key, message, signature)


async def _pair(cipher_name):
    cipher = None if cipher_name == "none" else build_cipher(cipher_name)
    hosts = {n: Host(n) for n in KEYS}
    drivers, runners, urls = {}, [], {}
    for n in KEYS:
        d = HttpDriver(hosts[n], KEYS[n], verify, cipher=cipher, public_key_of=lambda p: KEYS[p].public_key,
                       retries=2)
        app = web.Application()
        app.add_routes(d.routes())
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        urls[n] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        drivers[n], _ = d, runners.append(runner)
    for d in drivers.values():
        d.peers.update(urls)
        await d.start()
    return hosts, drivers, runners, urls


async def _close(drivers, runners):
    for d in drivers.values():
        await d.close()
    for r in runners:
        await r.cleanup()


def _message(text):
    return PeerList(peers=[PeerEntry(node_id=text, role="edge", address="x", scheme="ed25519", public_key=b"k")])


async def _wait(pred, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        if pred():
            return True
        await asyncio.sleep(0.02)
    return False


def test_sealed_messages_arrive_and_are_unreadable_on_the_wire():
    async def main(cipher_name):
        hosts, drivers, runners, urls = await _pair(cipher_name)
        wire: list[bytes] = []
        post = drivers["a"]._post

        async def spy(to, payload):
            wire.append(payload)
            return await post(to, payload)

        drivers["a"]._post = spy
        try:
            drivers["a"].apply([Send("b", _message("secret-sensor-reading"))])
            assert await _wait(lambda: hosts["b"].got)
            assert hosts["b"].got[0][1].peers[0].node_id == "secret-sensor-reading"
        finally:
            await _close(drivers, runners)
        return b"".join(wire)

    assert b"secret-sensor-reading" in asyncio.run(main("none"))
    assert b"secret-sensor-reading" not in asyncio.run(main("sealedbox"))


def test_replayed_and_unknown_sender_envelopes_are_rejected():
    async def main():
        hosts, drivers, runners, urls = await _pair("none")
        try:
            b = drivers["b"]
            raw = seal(KEYS["a"], "a", "b", 7, encode(_message("once")))
            assert b._accept(raw) == 1 and b._accept(raw) == 0  # the replay is refused
            stranger = derive_key("ed25519", b"stranger")
            assert b._accept(seal(stranger, "a", "b", 8, encode(_message("forged")))) == 0
            assert b._accept(seal(KEYS["a"], "a", "c", 9, encode(_message("elsewhere")))) == 0
            assert [m.peers[0].node_id for _, m in hosts["b"].got] == ["once"]
            assert b.stats.rejected == 3
        finally:
            await _close(drivers, runners)

    asyncio.run(main())


def test_a_cut_link_reports_the_message_as_undeliverable():
    async def main():
        hosts, drivers, runners, urls = await _pair("none")
        try:
            drivers["a"].blocked.add("b")
            drivers["a"].apply([Send("b", _message("lost"))])
            assert await _wait(lambda: hosts["a"].undelivered)
            assert hosts["a"].undelivered[0][0] == "b" and not hosts["b"].got
        finally:
            await _close(drivers, runners)

    asyncio.run(main())


def test_tls_with_the_cluster_ca_and_refusal_without_it(tmp_path):

    import aiohttp

    from edgeledger.deploy.tls import client_context, issue_certificate, make_ca, server_context

    make_ca(tmp_path)
    issue_certificate(tmp_path, "node", ["127.0.0.1", "localhost"])

    async def main():
        app = web.Application()

        async def hello(request):
            return web.json_response({"ok": True})

        app.router.add_get("/v1/health", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(tmp_path, "node"))
        await site.start()
        url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/health"
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context(tmp_path))) as s:
                async with s.get(url) as resp:
                    assert (await resp.json())["ok"] is True
            other = tmp_path / "other"
            make_ca(other)  # a different CA: the certificate must not verify
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context(other))) as s:
                try:
                    async with s.get(url):
                        raise AssertionError("a certificate from another CA was accepted")
                except aiohttp.ClientConnectorCertificateError:
                    pass
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_a_batch_is_signed_once_and_a_replayed_or_forged_batch_is_refused():
    from edgeledger.net.envelope import seal_batch

    async def main():
        hosts, drivers, runners, urls = await _pair("none")
        try:
            b = drivers["b"]
            bodies = [encode(_message(f"m{i}")) for i in range(3)]
            raw = seal_batch(KEYS["a"], "a", "b", 11, bodies)
            from edgeledger.codec import decode
            from edgeledger.net.envelope import EnvelopeBatch

            assert await b._accept_batch(decode(raw, EnvelopeBatch)) == 3
            assert await b._accept_batch(decode(raw, EnvelopeBatch)) == 0  # the same sequence again: a replay
            forged = decode(seal_batch(KEYS["a"], "a", "b", 12, bodies[:1]), EnvelopeBatch)
            forged = type(forged)(sender="a", recipient="b", sequence=12, bodies=bodies, signature=forged.signature)
            assert await b._accept_batch(forged) == 0  # a body added under the signature of another batch
            elsewhere = decode(seal_batch(KEYS["a"], "a", "c", 13, bodies), EnvelopeBatch)
            assert await b._accept_batch(elsewhere) == 0
            assert [m.peers[0].node_id for _, m in hosts["b"].got] == ["m0", "m1", "m2"]
            assert b.stats.rejected == 3
        finally:
            await _close(drivers, runners)

    asyncio.run(main())


def test_many_messages_travel_in_one_post_with_one_signature():
    async def main():
        hosts, drivers, runners, urls = await _pair("none")
        posts: list[bytes] = []
        post = drivers["a"]._post

        async def spy(to, payload):
            posts.append(payload)
            return await post(to, payload)

        drivers["a"]._post = spy
        signed = []
        sign = KEYS["a"].sign
        KEYS["a"].sign = lambda m: signed.append(m) or sign(m)
        try:
            drivers["a"].apply([Send("b", _message(f"n{i}")) for i in range(50)])
            assert await _wait(lambda: len(hosts["b"].got) == 50)
            assert [m.peers[0].node_id for _, m in hosts["b"].got] == [f"n{i}" for i in range(50)]  # in order
            assert len(signed) == len(posts) < 50  # one signature per POST, not per message
        finally:
            del KEYS["a"].sign
            await _close(drivers, runners)

    asyncio.run(main())


class VerifyingHost(Host):
    """A host that, like the node, lets the driver check relayed transactions off its loop."""

    def __init__(self, node_id):
        super().__init__(node_id)
        self.checked_on: list[str] = []
        self.verified: set[bytes] = set()

    def pending_signatures(self, messages):
        return [m for m in messages if isinstance(m, PeerList)]

    def check_signatures(self, items):
        import threading

        self.checked_on.append(threading.current_thread().name)
        return [m.peers[0].node_id.encode() for m in items if m.peers[0].role == "edge"]

    def record_verified(self, ids):
        self.verified.update(ids)

    def on_message(self, sender, message, now):
        assert message.peers[0].node_id.encode() in self.verified or message.peers[0].role != "edge"
        return super().on_message(sender, message, now)


def test_signatures_a_batch_carries_are_checked_on_worker_threads_before_the_node_sees_it():
    from edgeledger.codec import decode
    from edgeledger.net.envelope import EnvelopeBatch, seal_batch

    async def main():
        hosts, drivers, runners, urls = await _pair("none")
        try:
            b = drivers["b"]
            b.host = VerifyingHost("b")
            bodies = [encode(_message(f"t{i}")) for i in range(40)]
            assert await b._accept_batch(decode(seal_batch(KEYS["a"], "a", "b", 21, bodies), EnvelopeBatch)) == 40
            assert len(b.host.got) == 40 and len(b.host.verified) == 40
            assert b.host.checked_on and all(name.startswith("verify") for name in b.host.checked_on)
        finally:
            await _close(drivers, runners)

    asyncio.run(main())
