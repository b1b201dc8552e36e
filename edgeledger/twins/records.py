"""The nouns of SewingChain's control layer (Section III: device, network, storage, Pedal, control).

On the wire between a machine and its edge gateway: a :class:`SensorBatch` (hourly samples of
every sensor field, signed by the machine's sensor key: attested data), an
:class:`ActuatorCommand` (a command the chain accepted, delivered by the gateway, the outbound
oracle) and the actuator's signed :class:`ActuatorAck`. In an oracle request: a
:class:`ReadingClaim` (the gateway's claim that batch ``seq`` of a twin is stored under
``digest``) and the group's :class:`TwinObservation` (what a member found: attested or not, the
summary that goes on chain and the risk under the maintenance model named in the claim).
"""

from __future__ import annotations

from edgeledger.codec import Record, encode

__all__ = [
    "MAINTENANCE_KIND",
    "READING_KIND",
    "REGISTRY",
    "REGISTRY_CODE",
    "VERDICTS",
    "ActuatorAck",
    "ActuatorCommand",
    "ReadingClaim",
    "SensorBatch",
    "TwinObservation",
    "ack_statement",
    "batch_statement",
]

#: the twin registry contract's code name and its instance name on a plant's local chain
REGISTRY_CODE = "twin.registry"
REGISTRY = "twins"
#: oracle request kinds: a reading to attest (data oracle) and a round of the maintenance model (computing oracle)
READING_KIND = "twin"
MAINTENANCE_KIND = "maintenance"
#: what an oracle member can find about a claimed reading
VERDICTS = ("attested", "forged", "mismatch", "unavailable")


def batch_statement(twin_id: str, seq: int, time_ms: int, hours: int, status: str, fields: list[str],
                    samples: list[list[int]]) -> bytes:
    """What a machine's sensor key signs: the batch, bound to its twin and sequence number."""
    return encode(("twin-batch", twin_id, seq, time_ms, hours, status, fields, samples))


def ack_statement(chain_id: str, registry: str, command_id: int, twin_id: str, name: str, args: list[int],
                  attempt: int, status: str, state: list[int]) -> bytes:
    """What an actuator signs: the command it applied (bound to chain and registry) and its state after."""
    return encode(("twin-ack", chain_id, registry, command_id, twin_id, name, args, attempt, status, state))


class SensorBatch(Record, tag="twin.batch"):
    """``samples[k][j]`` is field ``fields[j]`` in hour ``k`` of the batch (milli-units)."""

    twin_id: str
    seq: int
    time_ms: int  # device clock when the batch closed
    hours: int  # the machine's operating hours at the end of the batch
    status: str  # "running" | "failed"
    fields: list[str]
    samples: list[list[int]]
    signature: bytes = b""

    def statement(self) -> bytes:
        return batch_statement(self.twin_id, self.seq, self.time_ms, self.hours, self.status, self.fields,
                               self.samples)


class ActuatorCommand(Record, tag="twin.cmd"):
    chain_id: str
    registry: str
    command_id: int
    twin_id: str
    name: str
    args: list[int]
    attempt: int


class ActuatorAck(Record, tag="twin.ack"):
    command_id: int
    twin_id: str
    attempt: int
    status: str  # "applied" | "refused"
    state: list[int]  # the actuator's set points after the command (e.g. [speed rpm, coolant])
    signature: bytes


class ReadingClaim(Record):
    """A reading request's parameters: batch ``seq`` of ``twin_id`` is the blob ``digest`` in the
    storage layer; risk is to be computed under ``model_digest`` (empty: no model yet)."""

    twin_id: str
    seq: int
    digest: bytes
    size: int
    model_digest: bytes = b""


class TwinObservation(Record):
    """An oracle member's finding on a claim; members that agree sign the same bytes."""

    twin_id: str
    seq: int
    digest: bytes
    verdict: str  # one of VERDICTS
    time_ms: int = 0
    hours: int = 0
    status: str = ""
    values: list[int] = []  # per sensor field: the batch mean (milli-units)
    model_digest: bytes = b""
    risk_milli: int = -1  # P(failure within the horizon) x 1000 under model_digest; -1 without a model
