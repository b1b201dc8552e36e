"""Nodes: ledger + consensus + role services (cloud, edge, device, center)."""

from edgeledger.node.center import AddressBook, PeerList, Register
from edgeledger.node.node import Node, WireMessage, decode_wire

__all__ = ["AddressBook", "PeerList", "Register", "Node", "WireMessage", "decode_wire"]
