"""PBFT (Castro & Liskov 1999/2002) as a sans-IO core: events, state table, replica core, recovery."""

from edgeledger.consensus.pbft.core import PbftConfig, PbftReplica
from edgeledger.consensus.pbft.events import (PBFT_MESSAGES, BlockBatch, Checkpoint, Commit, FetchBlocks,
                                              ForwardRequest, NewView, Prepare, PreparedCertificate, PrePrepare,
                                              ViewChange)
from edgeledger.consensus.pbft.state import Phase, Slot, Status

__all__ = ["PbftConfig", "PbftReplica", "PrePrepare", "Prepare", "Commit", "ForwardRequest", "Checkpoint",
           "PreparedCertificate", "ViewChange", "NewView", "FetchBlocks", "BlockBatch", "PBFT_MESSAGES",
           "Phase", "Slot", "Status"]
