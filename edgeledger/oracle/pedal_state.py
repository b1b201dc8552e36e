"""The state one oracle node keeps for Pedal (:mod:`edgeledger.oracle.pedal`): its settings, the
local work it asks for, and what it knows of each request it serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeledger.oracle.records import ElectionProof, Observation, OracleGroup, OracleRequest, ResultProposal

__all__ = ["PedalConfig", "FetchJob", "RequestState", "hold"]


@dataclass(frozen=True)
class PedalConfig:
    """``seed``: the proxy's initial seed (requests carry their term's chained seed); ``work_nodes``:
    how many nodes a master draws per request (0: the size of its group, as the proxy's default)."""

    proxy: str
    seed: bytes
    alpha_milli: int = 1000
    election_timeout_s: float = 0.2
    work_nodes: int = 0


@dataclass(frozen=True)
class FetchJob:
    """Local work for a request: the service executes it (source read, training, ...). A sealed
    request arrives here with its parameters opened for this node."""

    node_id: str
    request: OracleRequest


@dataclass
class RequestState:
    request: OracleRequest  # as filed (a sealed request's params stay sealed here)
    work_request: OracleRequest | None = None  # what the work runs on: params opened (None: not for us)
    value: bytes | None = None
    master: str | None = None  # this node's own view of the election
    certificate: list[ElectionProof] = field(default_factory=list)  # empty for a fallback master
    group: OracleGroup | None = None
    workers: list[str] = field(default_factory=list)  # as master: the nodes its draw named
    work_proof: bytes = b""  # as master: its VRF proof of that draw
    followed: list[str] = field(default_factory=list)  # masters with a valid certificate whose draw named us
    working: bool = False
    sent_to: set[str] = field(default_factory=set)  # masters this node sent its observation to
    observations: dict[str, Observation] = field(default_factory=dict)
    proposal: ResultProposal | None = None
    shares: dict[int, bytes] = field(default_factory=dict)
    submitted: bool = False
    started_at: float = 0.0


def hold(buffer: dict[str, dict[str, Any]], request_id: str, sender: str, message: Any, cap: int) -> None:
    """Keep one message per sender for a request not ready here yet; at most ``cap`` requests, the
    oldest request's dropped first (late messages of settled requests age out)."""
    if request_id not in buffer and len(buffer) >= cap:
        del buffer[next(iter(buffer))]
    buffer.setdefault(request_id, {}).setdefault(sender, message)
