"""The communication center: an address book only (ChainFL's "communication center").

Nodes register ``(identity, role, address)`` signed with their key; the center answers with
the peer list of the infrastructure (every registered node that is not a device) and the
registrant's own entry. Devices are left out of the answer: with D devices the k-th to register
would otherwise receive k entries, D^2 / 2 in all (a deployment reads the whole book with
``GET /v1/peers``). It never relays payloads. A node that re-registers with a different key is
refused, so an impostor cannot take over a registered name.
"""

from __future__ import annotations

import msgspec

from edgeledger.codec import Record, encode
from edgeledger.crypto.keys import PrivateKey, verify_signature
from edgeledger.effects import Effect, Rejected, Send

__all__ = ["Register", "PeerList", "PeerEntry", "AddressBook", "make_registration", "CENTER_MESSAGES"]


class PeerEntry(Record):
    node_id: str
    role: str
    address: str
    scheme: str
    public_key: bytes


class Register(Record, tag="center.register"):
    entry: PeerEntry
    signature: bytes = b""

    def signing_bytes(self) -> bytes:
        return encode(("edgeledger-register", self.entry))


class PeerList(Record, tag="center.peers"):
    peers: list[PeerEntry]


CENTER_MESSAGES = (Register, PeerList)

#: roles the center leaves out of its answers (they are many and talk only to their edge)
UNLISTED_ROLES = frozenset({"device"})
#: one shared copy of the usual role and scheme names (100,000 entries need not hold 200,000 copies)
_SHARED_NAMES = {n: n for n in ("center", "cloud", "edge", "device", "company", "ed25519", "ecdsa-p256",
                                "ecdsa-secp256k1")}


def make_registration(key: PrivateKey, node_id: str, role: str, address: str) -> Register:
    entry = PeerEntry(node_id=node_id, role=role, address=address, scheme=key.scheme, public_key=key.public_key)
    unsigned = Register(entry=entry)
    return Register(entry=entry, signature=key.sign(unsigned.signing_bytes()))


class AddressBook:
    """The center's state: registered peers by id (sans-IO)."""

    def __init__(self) -> None:
        self.peers: dict[str, PeerEntry] = {}
        self._listed: dict[str, PeerEntry] = {}  # the infrastructure: what every answer lists

    def on_register(self, sender: str, msg: Register, now: float) -> list[Effect]:
        entry = msg.entry
        if entry.node_id != sender:
            return [Rejected(sender, "center.register", f"registration names {entry.node_id!r}, sent by {sender!r}")]
        if not verify_signature(entry.scheme, entry.public_key, msg.signing_bytes(), msg.signature):
            return [Rejected(sender, "center.register", "bad signature on registration")]
        known = self.peers.get(entry.node_id)
        if known is not None and known.public_key != entry.public_key:
            return [Rejected(sender, "center.register", f"{entry.node_id!r} is registered with another key")]
        entry = msgspec.structs.replace(entry, role=_SHARED_NAMES.get(entry.role, entry.role),
                                        scheme=_SHARED_NAMES.get(entry.scheme, entry.scheme))
        self.peers[entry.node_id] = entry
        if entry.role not in UNLISTED_ROLES:
            self._listed[entry.node_id] = entry
        answer = {**self._listed, entry.node_id: entry}
        return [Send(sender, PeerList(peers=[answer[k] for k in sorted(answer)]))]
