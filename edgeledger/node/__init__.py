"""Nodes: ledger + consensus + role services; the communication center."""

from edgeledger.node.center import AddressBook, PeerList, Register
from edgeledger.node.node import Node, wire_decoder
from edgeledger.node.service import Service

__all__ = ["AddressBook", "PeerList", "Register", "Node", "Service", "wire_decoder"]
