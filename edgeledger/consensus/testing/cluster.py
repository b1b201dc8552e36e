"""Deterministic identities for test clusters: validators ``v0..v{n-1}`` and a few clients.

Keys derive from the names, so every run (and every replay) signs the same bytes. The
membership memoises signature checks: a broadcast is verified once, not n-1 times; this only
saves time, a bad signature still fails.
"""

from __future__ import annotations

from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.ledger.identity import Genesis, Identity, Membership
from edgeledger.ledger.transaction import Transaction, make_transaction

__all__ = ["CLIENTS", "CachedMembership", "cluster", "client_transactions"]

CLIENTS = ("dev0", "dev1", "dev2")


class CachedMembership(Membership):
    """Memoises ``verify`` by (signer, message, signature)."""

    def __init__(self, genesis: Genesis) -> None:
        super().__init__(genesis)
        self._cache: dict[tuple[str, bytes, bytes], bool] = {}

    def verify(self, node_id: str, message: bytes, signature: bytes) -> bool:
        key = (node_id, message, signature)
        ok = self._cache.get(key)
        if ok is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            ok = self._cache[key] = super().verify(node_id, message, signature)
        return ok


_CLUSTERS: dict[int, tuple[dict[str, PrivateKey], CachedMembership]] = {}


def cluster(n: int) -> tuple[dict[str, PrivateKey], CachedMembership]:
    """Keys and membership of validators ``v0..v{n-1}`` plus :data:`CLIENTS` (memoised per n)."""
    if n not in _CLUSTERS:
        names = [f"v{i}" for i in range(n)]
        keys = {m: derive_key("ed25519", m.encode()) for m in names + list(CLIENTS)}
        ids = [Identity(node_id=m, role="edge" if m in names else "device", scheme="ed25519",
                        public_key=keys[m].public_key) for m in names + list(CLIENTS)]
        _CLUSTERS[n] = keys, CachedMembership(Genesis(chain_id="sim", identities=ids, validators=names))
    return _CLUSTERS[n]


def client_transactions(keys: dict[str, PrivateKey], count: int) -> list[Transaction]:
    """``count`` signed no-op transactions spread over the clients (nonces increase per client)."""
    return [make_transaction(keys[CLIENTS[i % len(CLIENTS)]], CLIENTS[i % len(CLIENTS)], i + 1, "sim.noop",
                             b"tx%d" % i) for i in range(count)]
