"""Consensus protocol cores behind one interface (sans-IO)."""

from edgeledger.consensus.base import CommitBlock, Consensus, consensus_protocols
from edgeledger.consensus import pbft  # noqa: F401  (registers "pbft")
from edgeledger.consensus import pow  # noqa: F401  (registers "pow")

__all__ = ["Consensus", "CommitBlock", "consensus_protocols"]
