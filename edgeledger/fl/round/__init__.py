"""The on-chain FL round protocol (sans-IO): events, chain rules, verification, cores."""

from edgeledger.fl.round import chain  # noqa: F401  (registers the fl.* transaction kinds)
from edgeledger.fl.round.core import (
    AggregatorCore,
    DeviceCore,
    EdgeRelay,
    RoundSettings,
    TrainJob,
    derive_seed,
)
from edgeledger.fl.round.events import (
    FL_MESSAGES,
    ModelAnnouncement,
    RoundClose,
    RoundOpen,
    UpdateRecord,
    UpdateUpload,
)
from edgeledger.fl.round.verify import verify_announcement

__all__ = [
    "AggregatorCore",
    "DeviceCore",
    "EdgeRelay",
    "RoundSettings",
    "TrainJob",
    "derive_seed",
    "FL_MESSAGES",
    "ModelAnnouncement",
    "RoundClose",
    "RoundOpen",
    "UpdateRecord",
    "UpdateUpload",
    "verify_announcement",
]
