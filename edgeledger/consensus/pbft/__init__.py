"""PBFT (Castro & Liskov 1999) as a sans-IO core: events, state table, replica core."""

from edgeledger.consensus.pbft.core import PbftConfig, PbftReplica
from edgeledger.consensus.pbft.events import Commit, ForwardRequest, PBFT_MESSAGES, Prepare, PrePrepare
from edgeledger.consensus.pbft.state import Phase, Slot

__all__ = ["PbftConfig", "PbftReplica", "PrePrepare", "Prepare", "Commit", "ForwardRequest", "PBFT_MESSAGES",
           "Phase", "Slot"]
