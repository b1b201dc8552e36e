"""A machine's edge gateway: the network layer into the chain, and the outbound oracle back to the plant.

Inbound: a machine's signed :class:`SensorBatch` goes to the storage layer (the gateway gets its
digest) and the gateway files a data-oracle request of kind ``twin`` for it (:class:`ReadingClaim`:
twin, sequence number, digest, and the maintenance model on chain now, under which the group
computes the risk). A lying gateway (:class:`BatchTamper`) rewrites some batches first; it cannot
re-sign them, which is how the oracle group catches it.

Outbound (commands): for every ``command`` event of the registry that names this gateway, the
core sends an :class:`ActuatorCommand` to the twin's actuator and waits ``ack_timeout_s``. A
signed acknowledgement in time is recorded on chain with the round trip it took
(``ack``); none in time is recorded lost (``ack_missing``) and the command is sent again, up to
``max_attempts`` (the contract enforces the same bound); an acknowledgement of an attempt already
given up arrives *late* and is still recorded. Everything the core wants done comes back as
effects (sans-IO); :class:`TwinGatewayService` adapts it to a node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeledger.codec import encode
from edgeledger.crypto.keys import PrivateKey, verify_signature
from edgeledger.effects import (
    CancelTimer,
    Effect,
    Metric,
    Rejected,
    Send,
    SetTimer,
    SubmitTransaction,
)
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import ContractCall, contract_state, logs_at
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.node.service import Service
from edgeledger.oracle.proxy import request_body
from edgeledger.twins.records import (
    READING_KIND,
    REGISTRY,
    ActuatorAck,
    ActuatorCommand,
    ReadingClaim,
    SensorBatch,
    ack_statement,
)

__all__ = ["TIMER_PREFIX", "BatchTamper", "GatewayCore", "TwinGatewayService"]

TIMER_PREFIX = "twin.gw."


@dataclass
class BatchTamper:
    """A lying gateway: with probability ``rate`` it scales the vibration samples of a batch by
    ``factor`` (hiding wear from the maintenance model) and keeps the sensor's signature."""

    rate: float
    rng: np.random.Generator
    factor: float = 0.5
    tampered: list[tuple[str, int]] = field(default_factory=list)  # (twin, seq): the ground truth

    def apply(self, batch: SensorBatch) -> SensorBatch:
        if self.rng.random() >= self.rate:
            return batch
        self.tampered.append((batch.twin_id, batch.seq))
        samples = [[int(row[0] * self.factor)] + list(row[1:]) for row in batch.samples]
        return SensorBatch(twin_id=batch.twin_id, seq=batch.seq, time_ms=batch.time_ms, hours=batch.hours,
                           status=batch.status, fields=batch.fields, samples=samples, signature=batch.signature)


@dataclass
class _Delivery:
    command: ActuatorCommand
    device: str
    sent_at: dict[int, float] = field(default_factory=dict)  # attempt -> time sent
    given_up: set[int] = field(default_factory=set)  # attempts recorded lost
    acked: set[int] = field(default_factory=set)
    done: bool = False


class GatewayCore:
    """One gateway identity's protocol state (sans-IO)."""

    MAX_DELIVERIES = 4096

    def __init__(self, gateway_id: str, key: PrivateKey, chain_id: str, devices: dict[str, str], *,
                 proxy: str = "oracle", registry: str = REGISTRY, ack_timeout_s: float = 0.5, max_attempts: int = 3,
                 ttl_blocks: int = 200, nonce: int = 0, tamper: BatchTamper | None = None) -> None:
        self.gateway_id, self.key, self.chain_id = gateway_id, key, chain_id
        self.devices = dict(devices)  # twin id -> the node id of its machine (device host or process)
        self.proxy, self.registry = proxy, registry
        self.ack_timeout_s, self.max_attempts, self.ttl_blocks = ack_timeout_s, max_attempts, ttl_blocks
        self.nonce = nonce
        self.tamper = tamper
        self.deliveries: dict[int, _Delivery] = {}
        self.rtts: list[float] = []  # seconds, acks in time
        self.filed: dict[tuple[str, int], float] = {}  # (twin, seq) -> when the request was filed

    def transaction(self, kind: str, payload: Any) -> Transaction:
        self.nonce += 1
        return make_transaction(self.key, self.gateway_id, self.nonce, kind, payload)

    # -- readings ----------------------------------------------------------------------------
    def ingest(self, batch: SensorBatch) -> bytes:
        """The bytes this gateway puts in the storage layer for ``batch`` (rewritten if it lies)."""
        return encode(self.tamper.apply(batch) if self.tamper is not None else batch)

    def file_reading(self, twin_id: str, seq: int, digest: bytes, size: int, model_digest: bytes,
                     now: float) -> list[Effect]:
        """File the data-oracle request that attests a stored batch; the registry is called back."""
        params = encode(ReadingClaim(twin_id=twin_id, seq=seq, digest=digest, size=size, model_digest=model_digest))
        timestamp_ms = int(now * 1000)
        body = request_body(self.chain_id, self.proxy, READING_KIND, twin_id, params, self.registry, "deliver",
                            timestamp_ms)
        call = ContractCall(contract=self.proxy, method="request", args=[
            READING_KIND, twin_id, params, self.registry, "deliver", timestamp_ms, self.ttl_blocks,
            self.key.sign(body)])
        self.filed[(twin_id, seq)] = now
        return [SubmitTransaction(self.transaction("contract.call", call))]

    # -- commands ----------------------------------------------------------------------------
    def on_command(self, command_id: int, twin_id: str, name: str, args: list[int], now: float) -> list[Effect]:
        """A committed ``command`` event for one of this gateway's twins: deliver attempt 1."""
        device = self.devices.get(twin_id)
        if device is None or command_id in self.deliveries:
            return []
        if len(self.deliveries) >= self.MAX_DELIVERIES:  # forget the oldest settled deliveries
            for cid in [c for c, d in self.deliveries.items() if d.done][: self.MAX_DELIVERIES // 4]:
                del self.deliveries[cid]
        cmd = ActuatorCommand(chain_id=self.chain_id, registry=self.registry, command_id=command_id, twin_id=twin_id,
                              name=name, args=list(args), attempt=1)
        self.deliveries[command_id] = _Delivery(cmd, device)
        return self._send(command_id, 1, now)

    def _send(self, command_id: int, attempt: int, now: float) -> list[Effect]:
        d = self.deliveries[command_id]
        cmd = ActuatorCommand(chain_id=d.command.chain_id, registry=d.command.registry, command_id=command_id,
                              twin_id=d.command.twin_id, name=d.command.name, args=d.command.args, attempt=attempt)
        d.sent_at[attempt] = now
        return [Send(d.device, cmd), SetTimer(f"{TIMER_PREFIX}ack:{command_id}:{attempt}", self.ack_timeout_s)]

    def on_ack(self, sender: str, ack: ActuatorAck, actuator_key: bytes | None, now: float) -> list[Effect]:
        """An actuator's acknowledgement: record it on chain (in time, or late) if its signature holds."""
        d = self.deliveries.get(ack.command_id)
        if d is None or sender != d.device or ack.attempt not in d.sent_at or ack.attempt in d.acked:
            return []
        cmd = d.command
        statement = ack_statement(self.chain_id, self.registry, cmd.command_id, cmd.twin_id, cmd.name, cmd.args,
                                  ack.attempt, ack.status, ack.state)
        if actuator_key is None or not verify_signature("ed25519", actuator_key, statement, ack.signature):
            return [Rejected(sender, "twin.ack", f"acknowledgement of command {cmd.command_id} is not signed by "
                                                 f"the actuator of twin {cmd.twin_id!r}")]
        d.acked.add(ack.attempt)
        rtt = now - d.sent_at[ack.attempt]
        late = ack.attempt in d.given_up
        effects: list[Effect] = [] if late else [CancelTimer(f"{TIMER_PREFIX}ack:{cmd.command_id}:{ack.attempt}")]
        if not late:
            d.done = True
            self.rtts.append(rtt)
        call = ContractCall(contract=self.registry, method="ack", args=[
            cmd.command_id, ack.attempt, ack.status, list(ack.state), int(rtt * 1e6), ack.signature])
        return effects + [SubmitTransaction(self.transaction("contract.call", call)),
                          Metric("twin.ack_late" if late else "twin.ack_rtt_s", rtt)]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        """An attempt's acknowledgement did not come in time: record it lost, retry within the bound."""
        if not name.startswith(f"{TIMER_PREFIX}ack:"):
            return []
        _, command_id, attempt = name.rsplit(":", 2)
        d = self.deliveries.get(int(command_id))
        if d is None or d.done:
            return []
        a = int(attempt)
        d.given_up.add(a)
        call = ContractCall(contract=self.registry, method="ack_missing", args=[int(command_id), a])
        effects: list[Effect] = [SubmitTransaction(self.transaction("contract.call", call)), Metric("twin.ack_lost", 1.0)]
        if a < self.max_attempts:
            return effects + self._send(int(command_id), a + 1, now)
        d.done = True
        return effects


class TwinGatewayService(Service):
    """The gateway core on a node: batches and acks from machines, command events from blocks.

    ``put(data) -> digest`` stores a batch in the storage layer. ``transport``, when given, turns
    a command send into the effect that carries it (a deployed gateway: an HTTP call to the device
    process, whose answer comes back through the node); without it commands travel as messages.
    """

    message_types = (SensorBatch, ActuatorAck)
    timer_prefix = TIMER_PREFIX

    def __init__(self, core: GatewayCore, state_view: Callable[[], Any], put: Callable[[bytes], bytes],
                 transport: Callable[[str, ActuatorCommand], Effect] | None = None) -> None:
        self.core, self.state_view, self.put, self.transport = core, state_view, put, transport

    def model_digest(self) -> bytes:
        model = contract_state(self.state_view(), self.core.registry, "model")
        return model[0] if model else b""

    def store_and_file(self, batch: SensorBatch, now: float) -> list[Effect]:
        data = self.core.ingest(batch)
        digest = self.put(data)
        return self.core.file_reading(batch.twin_id, batch.seq, digest, len(data), self.model_digest(), now)

    def _carry(self, effects: list[Effect]) -> list[Effect]:
        if self.transport is None:
            return effects
        return [self.transport(e.to, e.message) if isinstance(e, Send) and isinstance(e.message, ActuatorCommand)
                else e for e in effects]

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, SensorBatch):
            if self.core.devices.get(message.twin_id) != sender:
                return [Rejected(sender, "twin.batch", f"{sender!r} is not the machine of twin {message.twin_id!r}")]
            return self.store_and_file(message, now)
        if isinstance(message, ActuatorAck):
            twin = contract_state(self.state_view(), self.core.registry, f"twin/{message.twin_id}")
            return self._carry(self.core.on_ack(sender, message, twin["actuator_key"] if twin else None, now))
        return []

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self._carry(self.core.on_timer(name, now))

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for log in logs_at(self.state_view(), block.height):
            for ev in log.events:
                a = ev.attributes
                if ev.contract == self.core.registry and ev.name == "command" and a["gateway"] == self.core.gateway_id:
                    effects += self.core.on_command(a["id"], a["twin"], a["command"], a["args"], now)
        return self._carry(effects)
